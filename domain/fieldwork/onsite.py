"""The on-site visit after arrival: problem confirmed, acceptance test, customer's confirmation, precautions,
departure. The offline app's sync ops call these; signing is in signing.py.

Every step checks that the actor is the assignee and refuses to change an order the customer has signed.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l

from ..core.audit import record_event
from ..core.context import (
    AFTER_ARRIVAL,
    AFTER_SCHEDULING,
    CLOCK_SKEW,
    MAX_TEXT,
    Context,
    checked_time,
    require_assignee,
)
from ..core.db import db
from ..core.enums import TicketStatus
from ..core.errors import Conflict, DomainError, ValidationError
from ..fieldwork.models import AcceptanceTest, Precaution, Visit
from ..requests import workflow
from ..requests.models import Ticket
from . import flow


def ensure_not_locked(ticket: Ticket) -> None:
    if ticket.is_locked:
        raise Conflict("order_locked", _l("The customer has signed request %(number)s: it can no longer change.",
                                          number=ticket.number))


def current_visit(ticket: Ticket) -> Visit:
    visit = ticket.current_visit
    if visit is None:
        raise DomainError("no_visit", _l("There is no scheduled visit to prepare."))
    return visit


def _on_site(ticket: Ticket, ctx: Context) -> Visit:
    require_assignee(ctx, ticket)
    ensure_not_locked(ticket)
    if ticket.status != TicketStatus.ON_SITE:
        raise DomainError("not_on_site", _l("Record your arrival at the customer's site first."))
    return current_visit(ticket)


# The arrival a technician announces when setting out: not before the tap, at most this far after it.
ARRIVAL_AHEAD = timedelta(hours=24)
ARRIVAL_BEFORE_TAP = _l("The arrival time is before you set out.")
ARRIVAL_TOO_FAR = _l("The arrival time is more than 24 hours away.")


def on_the_way_rules(default_minutes: int) -> dict:
    """The same window for the phone, which proposes an arrival (the agreed time, or now + `default_minutes`) and
    checks the one chosen before it queues the act (messages in the reader's language)."""
    return {"default_minutes": default_minutes, "before_minutes": CLOCK_SKEW.total_seconds() / 60,
            "ahead_minutes": ARRIVAL_AHEAD.total_seconds() / 60, "before_tap": str(ARRIVAL_BEFORE_TAP),
            "too_far": str(ARRIVAL_TOO_FAR)}


def set_out(ticket: Ticket, ctx: Context, *, arriving_at: datetime, at: datetime | None = None,
            event: str) -> Visit:
    """"On my way": the technician leaves for the agreed visit, announcing an arrival time. Recorded on the visit
    (the request's timeline, the customer's tracking page) and told to the customer by SMS (and e-mail when they
    gave an address), once per `event` (the phone's op id)."""
    require_assignee(ctx, ticket)
    ensure_not_locked(ticket)
    flow.enforce(ticket, "visit.on_the_way")
    visit = current_visit(ticket)
    at = checked_time(at, ctx, "at", not_before=visit.created_at, after=AFTER_SCHEDULING)
    if arriving_at < at - CLOCK_SKEW:
        raise ValidationError({"arriving_at": ARRIVAL_BEFORE_TAP})
    if arriving_at > at + ARRIVAL_AHEAD:
        raise ValidationError({"arriving_at": ARRIVAL_TOO_FAR})
    visit.on_the_way_at, visit.expected_arrival_at = at, arriving_at
    record_event("visit.on_the_way", actor=ctx.actor, ticket=ticket, entity=ticket, via=ctx.via,
                 remote_addr=ctx.remote_addr, arriving_at=arriving_at.isoformat(), at=at.isoformat())
    from ..alerts import customer

    customer.queue_on_the_way(ticket, arriving_at=arriving_at, set_out_at=at, event=event, tz=ctx.tz,
                              site=ctx.settings())
    return visit


def arrive(ticket: Ticket, ctx: Context, at: datetime | None = None,
           location: tuple[float, float, float | None] | None = None) -> Visit:
    """Arrival on site; `location`: where the phone was when it was tapped (latitude, longitude, accuracy in
    metres; WGS-84 from the browser, already checked), when the technician allowed it."""
    require_assignee(ctx, ticket)
    ensure_not_locked(ticket)
    visit = current_visit(ticket)
    at = checked_time(at, ctx, "at", not_before=visit.created_at, after=AFTER_SCHEDULING)
    workflow.move(ticket, TicketStatus.ON_SITE, actor=ctx.actor, action="visit.arrived", via=ctx.via,
                  remote_addr=ctx.remote_addr, located=location is not None)
    visit.arrived_at = at
    if location is not None:
        visit.arrival_lat, visit.arrival_lng, visit.arrival_accuracy_m = location
    return visit


def confirm_problem(ticket: Ticket, ctx: Context, text: str, at: datetime | None = None) -> Visit:
    visit = _on_site(ticket, ctx)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _l("Describe the problem as confirmed with the customer.")})
    visit.confirmed_problem = text[:MAX_TEXT]
    visit.problem_confirmed_at = checked_time(at, ctx, "at", not_before=visit.arrived_at, after=AFTER_ARRIVAL)
    record_event("problem.confirmed", actor=ctx.actor, ticket=ticket, via=ctx.via)
    return visit


def record_test(ticket: Ticket, ctx: Context, *, item: str, passed: bool, note: str = "",
                at: datetime | None = None, not_applicable: bool = False) -> AcceptanceTest:
    """One acceptance-test item: passed, failed, or not applicable (the reason in `note`, required); recording the
    same item again updates it."""
    visit = _on_site(ticket, ctx)
    item = (item or "").strip()
    if not item:
        raise ValidationError({"item": _l("Name the test item.")})
    if not isinstance(passed, bool) or not isinstance(not_applicable, bool):
        raise ValidationError({"passed": _l("Say whether the test passed.")})
    note = (note or "").strip()[:MAX_TEXT]
    if not_applicable and not note:
        raise DomainError("reason_required", _l("Say why this item does not apply."))
    passed = passed and not not_applicable
    at = checked_time(at, ctx, "at", not_before=visit.arrived_at, after=AFTER_ARRIVAL)
    test = next((t for t in ticket.tests if t.item == item[:200]), None)
    if test is None:
        test = AcceptanceTest(ticket=ticket, visit_id=visit.id, item=item[:200], position=len(ticket.tests),
                              recorded_by_id=ctx.actor.id, passed=passed, recorded_at=at)
        db.session.add(test)
    test.passed, test.not_applicable, test.note, test.recorded_at = passed, not_applicable, note or None, at
    if not passed and not not_applicable:
        visit.customer_confirmed_at = None  # the customer confirmed a device that has since failed a test
        visit.failures_acknowledged = False
    record_event("test.recorded", actor=ctx.actor, ticket=ticket, via=ctx.via, item=item[:200], passed=passed,
                 not_applicable=not_applicable)
    return test


def cause_and_work(cause: str | None, work_done: str | None) -> tuple[str, str]:
    """The cause of the fault and the work done, both required (on site and for a remote fix alike), trimmed."""
    errors = {}
    if not (cause or "").strip():
        errors["cause"] = _l("Record the cause of the problem.")
    if not (work_done or "").strip():
        errors["work_done"] = _l("Record what was done.")
    if errors:
        raise ValidationError(errors)
    return cause.strip()[:MAX_TEXT], work_done.strip()[:MAX_TEXT]


def record_work(ticket: Ticket, ctx: Context, *, cause: str, work_done: str, at: datetime | None = None) -> Visit:
    """The cause of the fault and what was done on site: printed on the order the customer signs."""
    visit = _on_site(ticket, ctx)
    written = cause_and_work(cause, work_done)
    visit.work_recorded_at = checked_time(at, ctx, "at", not_before=visit.arrived_at, after=AFTER_ARRIVAL)
    ticket.cause, ticket.work_done = written
    record_event("work.recorded", actor=ctx.actor, ticket=ticket, via=ctx.via)
    return visit


def confirm_customer(ticket: Ticket, ctx: Context, note: str = "", at: datetime | None = None, *,
                     failures_acknowledged: bool = False) -> Visit:
    """The customer confirms the device after the acceptance test: every item answered, and, when an item failed,
    knowing it (`failures_acknowledged`, printed on the order)."""
    visit = _on_site(ticket, ctx)
    # The declared flow's rule, here too for callers other than the sync applier (which checked it already).
    flow.enforce(ticket, "customer.confirmed", data={"failures_acknowledged": failures_acknowledged})
    failed = any(not (t.passed or t.not_applicable) for t in ticket.tests)
    visit.customer_confirmed_at = checked_time(at, ctx, "at", not_before=visit.arrived_at, after=AFTER_ARRIVAL)
    visit.customer_confirmation = (note or "").strip()[:MAX_TEXT] or None
    visit.failures_acknowledged = failed and failures_acknowledged is True
    record_event("customer.confirmed", actor=ctx.actor, ticket=ticket, via=ctx.via,
                 failures_acknowledged=visit.failures_acknowledged)
    return visit


def tell_precautions(ticket: Ticket, ctx: Context, texts: list[str], at: datetime | None = None) -> Visit:
    """What the customer should watch out for from now on (replaces an earlier list)."""
    visit = _on_site(ticket, ctx)
    if not isinstance(texts, list):
        raise ValidationError({"items": _l("List the precautions told to the customer.")})
    texts = [str(t).strip()[:MAX_TEXT] for t in texts if str(t).strip()]
    if not texts:
        raise ValidationError({"items": _l("List the precautions told to the customer.")})
    at = checked_time(at, ctx, "at", not_before=visit.arrived_at, after=AFTER_ARRIVAL)
    for old in list(ticket.precautions):
        db.session.delete(old)
    ticket.precautions.clear()
    for position, text in enumerate(texts[:50]):
        ticket.precautions.append(Precaution(text=text, position=position, told_at=at))
    visit.precautions_told_at = at
    record_event("precautions.told", actor=ctx.actor, ticket=ticket, via=ctx.via, count=len(texts))
    return visit


def depart(ticket: Ticket, ctx: Context, at: datetime | None = None) -> Visit:
    """Leaving the site: only after the customer has signed, as the policy says, or once it is recorded why they
    could not (unsigned.py: the supervisor decides what follows)."""
    require_assignee(ctx, ticket)
    visit = current_visit(ticket)
    if not ticket.is_locked and visit.unsigned_at is None:
        raise DomainError("not_signed", _l("The customer has not signed the service order yet: you may not leave."))
    if visit.departed_at is None:
        visit.departed_at = checked_time(at, ctx, "at", not_before=visit.arrived_at, after=AFTER_ARRIVAL)
        record_event("visit.departed", actor=ctx.actor, ticket=ticket, via=ctx.via)
    return visit
