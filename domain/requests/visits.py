"""On-site visits: agreeing the time, the preparation checklist and its confirmation one hour before."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l

from ..core.audit import record_event
from ..core.context import (
    AFTER_ARRIVAL,
    AFTER_SCHEDULING,
    CLOCK_SKEW,
    Context,
    checked_time,
    require_assignee,
)
from ..core.db import db
from ..core.enums import (
    ClockName,
    PrepKind,
    Resolution,
    Role,
    TicketStatus,
)
from ..core.errors import DomainError, ValidationError
from ..fieldwork import flow
from ..fieldwork.models import PrepItem, Visit
from ..requests.models import Ticket
from ..sla.clocks import drop_clock, start_clock, stop_clock, supersede_finished_clock
from ..sla.policy import Policy
from . import workflow


def suggested_prep_items(ticket: Ticket, address: str, locale: str = "zh") -> list[tuple[PrepKind, str]]:
    """The checklist a visit starts from: the address, the device's state, the category's tools and spares."""
    key = "en" if locale.startswith("en") else "zh"
    category = ticket.device_category
    items = [(PrepKind.ADDRESS, address),
             (PrepKind.DEVICE_STATE, ticket.device_model_text + (f" ({ticket.serial_number})"
                                                                  if ticket.serial_number else ""))]
    if category is not None:
        items += [(PrepKind.TOOL, t[key]) for t in category.suggested_tools]
        items += [(PrepKind.SPARE, s[key]) for s in category.suggested_spares]
    return items


def preparation_due(scheduled_at: datetime, scheduled_when: datetime, policy: Policy) -> datetime:
    """Preparation is due `preparation_lead_minutes` before the visit; a visit agreed at shorter notice
    must be prepared before it starts."""
    due = scheduled_at - policy.minutes("preparation_lead_minutes")
    return due if due >= scheduled_when else scheduled_at


# When a visit may be agreed for, judged at the act's time (on the phone too: `visit_time_rules`).
VISIT_AHEAD = timedelta(days=60)
VISIT_IN_PAST = _l("The visit time is in the past.")
VISIT_TOO_FAR = _l("The visit time is more than 60 days away.")


def visit_time_rules() -> dict:
    """The same window for the phone, which checks a time before it queues the visit (messages in the reader's
    language)."""
    return {"past_minutes": CLOCK_SKEW.total_seconds() / 60, "ahead_minutes": VISIT_AHEAD.total_seconds() / 60,
            "in_past": str(VISIT_IN_PAST), "too_far": str(VISIT_TOO_FAR)}


def schedule_visit(ticket: Ticket, ctx: Context, *, scheduled_at: datetime | None, address: str,
                   agreed_with: str = "", items: list[tuple[PrepKind, str]] | None = None) -> Visit:
    """Agree an on-site visit (or move the agreed time). Remote fixing no longer applies; preparation starts,
    again after a move: the checklist is confirmed anew for the new time."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "visit.scheduled")
    errors = {}
    if scheduled_at is None:
        errors["scheduled_at"] = _l("Enter the agreed visit time.")
    elif scheduled_at < ctx.now - CLOCK_SKEW:
        errors["scheduled_at"] = VISIT_IN_PAST
    elif scheduled_at > ctx.now + VISIT_AHEAD:
        errors["scheduled_at"] = VISIT_TOO_FAR
    address = (address or "").strip()
    if not address:
        errors["address"] = _l("Enter the address of the visit.")
    if errors:
        raise ValidationError(errors)
    rescheduling = ticket.status == TicketStatus.VISIT_SCHEDULED
    workflow.move(ticket, TicketStatus.VISIT_SCHEDULED, actor=ctx.actor,
                  action="visit.rescheduled" if rescheduling else "visit.scheduled", via=ctx.via,
                  remote_addr=ctx.remote_addr, scheduled_at=scheduled_at.isoformat())
    ticket.resolution = Resolution.ON_SITE
    drop_clock(ticket, ClockName.REMOTE_FIX)
    current = ticket.current_visit
    if current is not None and current.arrived_at is None:  # rescheduled: the same visit, a new time
        visit = current
        visit.scheduled_at, visit.address = scheduled_at, address[:500]
        visit.agreed_with = agreed_with.strip()[:100] or visit.agreed_with
    else:
        if ticket.earlier_visits:  # a further visit: its own preparation clock, the last one's kept as it ended
            supersede_finished_clock(ticket, ClockName.PREPARATION, ctx.now)
        visit = Visit(ticket=ticket, technician=ctx.actor, scheduled_at=scheduled_at, address=address[:500],
                      agreed_with=agreed_with.strip()[:100] or ticket.contact_name, created_at=ctx.now)
        db.session.add(visit)
        for position, (kind, label) in enumerate(items or suggested_prep_items(ticket, address)):
            label = (label or "").strip()
            if label:
                visit.prep_items.append(PrepItem(kind=kind, label=label[:200], position=position))
    visit.prep_confirmed_at = None
    visit.on_the_way_at = visit.expected_arrival_at = None  # a new time: the customer is told again when it comes
    for item in visit.prep_items:
        item.checked, item.checked_at = False, None
    start_clock(ticket, ClockName.PREPARATION, ctx.now, preparation_due(scheduled_at, ctx.now, ctx.rules()),
                threshold=ctx.rules().preparation_lead_minutes)
    return visit


def confirm_preparation(ticket: Ticket, ctx: Context, *, checked_item_ids: set[int],
                        at: datetime | None = None) -> Visit:
    """Every checklist item confirmed (address, device state, each tool and spare packed) stops the clock."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "prep.confirmed")
    visit = ticket.current_visit
    if ticket.status != TicketStatus.VISIT_SCHEDULED or visit is None:
        raise DomainError("no_visit", _l("There is no scheduled visit to prepare."))
    at = checked_time(at, ctx, "at", not_before=visit.created_at, after=AFTER_SCHEDULING)
    for item in visit.prep_items:
        if item.id in checked_item_ids and not item.checked:
            item.checked, item.checked_at = True, at
    unchecked = [item.label for item in visit.prep_items if not item.checked]
    if unchecked:
        raise ValidationError({"items": _l("Not confirmed yet: %(items)s", items="、".join(unchecked))})
    visit.prep_confirmed_at = at
    stop_clock(ticket, ClockName.PREPARATION, at)
    record_event("visit.prepared", actor=ctx.actor, ticket=ticket, via=ctx.via, remote_addr=ctx.remote_addr)
    return visit


def map_url(lat: float, lng: float) -> str:
    """Amap's marker page for a point the phone gave (WGS-84; Amap shifts it onto its own GCJ-02 map)."""
    return f"https://uri.amap.com/marker?position={lng:.6f},{lat:.6f}&coordinate=wgs84&callnative=0"


def end_for_another_visit(ticket: Ticket, ctx: Context, *, reason: str, at: datetime,
                          action: str = "visit.followup_needed") -> Visit:
    """The visit on site ends without finishing the job (parts to order, the customer absent): the request goes
    back to scheduling for another visit, with its own preparation clock; what the visit recorded (notes, photos,
    tests, the cause and work done) stays on the request. Asked by the technician (from the phone, at the op's time)
    or decided by a supervisor (the request page). Called through fieldwork.followup.another_visit, which alerts
    whoever plans the next visit."""
    if not ctx.actor.has_role(Role.SUPERVISOR):
        require_assignee(ctx, ticket)
        flow.enforce(ticket, "visit.followup_needed", data={"reason": reason})
    visit = ticket.current_visit
    if ticket.is_locked:
        raise DomainError("order_locked", _l("The customer has already signed this order: it can no longer change."))
    if ticket.status != TicketStatus.ON_SITE or visit is None or visit.arrived_at is None:
        raise DomainError("not_on_site", _l("Another visit follows a visit on site: the technician has not arrived."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _l("Say why another visit is needed.")})
    at = checked_time(at, ctx, "at", not_before=visit.arrived_at, after=AFTER_ARRIVAL)
    workflow.move(ticket, TicketStatus.CONTACTED, actor=ctx.actor, action=action, via=ctx.via,
                  remote_addr=ctx.remote_addr, reason=reason[:500])
    visit.ended_at, visit.end_reason = at, reason[:1000]
    return visit


def awaiting_next_visit(ticket: Ticket) -> Visit | None:
    """The visit that ended for another to follow, while the next one is not scheduled yet (None otherwise)."""
    if ticket.status != TicketStatus.CONTACTED or ticket.current_visit is not None or not ticket.earlier_visits:
        return None
    return ticket.earlier_visits[-1]
