"""Intake, assignment, escalation, remote handling and on-site scheduling: the rules behind the dispatch pages,
the intake API and (later) the phone's sync ops. Every function checks who may act and writes the audit trail.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..alerts import notifications as alerts
from ..alerts.mail import EMAIL_MAX, INVALID_EMAIL, valid_email
from ..core.audit import record_event
from ..core.context import (
    AFTER_CONTACT,
    AFTER_SCHEDULING,
    CLOCK_SKEW,
    MAX_TEXT,
    Context,
    checked_time,
    is_assignee,
    parse_client_time,
    require_assignee,
)
from ..core.db import can_write_at_once, db, join_as_stored, write_row
from ..core.enums import (
    Channel,
    ClockName,
    ContactMethod,
    PrepKind,
    RemoteOutcome,
    Resolution,
    Role,
    TicketStatus,
    Urgency,
)
from ..core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationError
from ..core.models import (
    ContactAttempt,
    Customer,
    DeviceCategory,
    DeviceModel,
    PrepItem,
    ProgressNote,
    RemoteSession,
    Ticket,
    User,
    Visit,
)
from ..core.types import utcnow
from ..core.validation import parse_int, text_problem
from ..fieldwork import flow
from ..fieldwork.onsite import cause_and_work
from ..sla.clocks import drop_clock, start_clock, stop_clock
from ..sla.policy import Policy
from . import workflow
from .tickets import Intake, open_ticket

# --- who may see and touch a request -----------------------------------------------------------


def can_view(user: User, ticket: Ticket) -> bool:
    if user.has_role(Role.SUPERVISOR, Role.DISPATCHER):
        return True
    if user.role == Role.EXPERT:
        return ticket.expert is not None and ticket.expert.id == user.id
    if user.role == Role.TECHNICIAN:
        return is_assignee(user, ticket)
    return False


def can_download_order(user: User, ticket: Ticket) -> bool:
    """Supervisors and experts any service order; a technician the orders of requests assigned to them."""
    if user.has_role(Role.SUPERVISOR, Role.EXPERT):
        return True
    return user.role == Role.TECHNICIAN and is_assignee(user, ticket)


def get_ticket(number: str, user: User | None = None) -> Ticket:
    ticket = db.session.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()
    if ticket is None:
        raise NotFound("no_request", _l("There is no request %(number)s.", number=number))
    if user is not None and not can_view(user, ticket):
        raise Forbidden("not_allowed", _l("You may not see request %(number)s.", number=number))
    return ticket


# --- intake ------------------------------------------------------------------------------------------


def _text(data: dict, key: str, limit: int = 200) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    if (problem := text_problem(value)) is not None:
        raise ValidationError({key: problem[1]})
    return value.strip()[:limit]


def find_device_model(text: str) -> DeviceModel | None:
    """A catalog model whose "brand model" or model name matches the text, ignoring case and spaces."""
    wanted = "".join(text.lower().split())
    if not wanted:
        return None
    for model in db.session.execute(select(DeviceModel).where(DeviceModel.active.is_(True))).scalars():
        if wanted in ("".join(model.label.lower().split()), "".join(model.model.lower().split())):
            return model
    return None


def validate_intake(data: dict, ctx: Context) -> tuple[Intake, DeviceCategory | None]:
    """Check an intake (from the form or the API) and resolve its customer and device. Raises ValidationError."""
    errors: dict[str, Any] = {}
    customer = None
    customer_id = data.get("customer_id")
    if customer_id not in (None, "", 0, "0"):
        number = parse_int(customer_id, minimum=1)
        customer = db.session.get(Customer, number) if number is not None else None
        if customer is None:
            errors["customer_id"] = _l("Unknown customer.")
    customer_name = _text(data, "customer_name")
    if customer is None and "customer_id" not in errors and not customer_name:
        errors["customer_name"] = _l("Enter the customer's name.")
    phone = _text(data, "contact_phone", 40) or (customer.phone if customer else "") or ""
    if not phone:
        errors["contact_phone"] = _l("Enter a phone number to reach the customer.")
    problem = _text(data, "problem", MAX_TEXT)
    if not problem:
        errors["problem"] = _l("Describe the problem.")

    device = None
    device_id = data.get("device_model_id")
    device_text = _text(data, "device_model")
    if device_id not in (None, "", 0, "0"):
        number = parse_int(device_id, minimum=1)
        device = db.session.get(DeviceModel, number) if number is not None else None
        if device is None or not device.active:
            errors["device_model_id"] = _l("Unknown device model: choose one from the list or type it in.")
    elif device_text:
        device = find_device_model(device_text)
    else:
        errors["device_model"] = _l("Choose the device model or type it in.")
    category = device.category if device else None
    category_code = _text(data, "device_category", 32)
    if category is None and category_code:
        category = db.session.execute(
            select(DeviceCategory).where(DeviceCategory.code == category_code)).scalar_one_or_none()
        if category is None:
            errors["device_category"] = _l("Unknown device category.")

    try:
        urgency = Urgency(data.get("urgency"))
    except ValueError:
        errors["urgency"] = _l("Choose the urgency: urgent or normal.")
        urgency = Urgency.NORMAL
    try:
        channel = Channel(data.get("channel") or Channel.PHONE)
    except ValueError:
        errors["channel"] = _l("Unknown channel: phone, web or other.")
        channel = Channel.OTHER

    reported_at = ctx.now
    if data.get("reported_at") not in (None, ""):
        parsed = parse_client_time(data.get("reported_at"), ctx.tz)
        if parsed is None:
            errors["reported_at"] = _l("The contact time is not a valid date and time.")
        elif parsed > ctx.now + CLOCK_SKEW:
            errors["reported_at"] = _l("The contact time is in the future.")
        elif parsed < ctx.now - timedelta(days=30):
            errors["reported_at"] = _l("The contact time is more than 30 days ago.")
        else:
            reported_at = min(parsed, ctx.now)
    customer_email = _text(data, "customer_email", EMAIL_MAX)
    if customer_email and not valid_email(customer_email):
        errors["customer_email"] = INVALID_EMAIL
    if errors:
        raise ValidationError(errors)

    if customer is None:
        customer = Customer(name=customer_name, contact_person=_text(data, "contact_person", 100) or None,
                            phone=phone, address=_text(data, "address", 500) or None)
        db.session.add(customer)
    return Intake(
        customer=customer,
        contact_phone=phone,
        contact_name=_text(data, "contact_person", 100) or customer.contact_person,
        address=_text(data, "address", 500) or customer.address,
        device_model=device,
        device_model_text=device.label if device else device_text,
        serial_number=_text(data, "serial_number", 100) or None,
        problem=problem,
        urgency=urgency,
        channel=channel,
        reported_at=reported_at,
        customer_email=customer_email or None,
    ), category


def create_request(data: dict, ctx: Context) -> Ticket:
    """Enter a customer's request: the intake clock is met or missed at this moment; first contact starts."""
    if not ctx.actor.has_role(Role.DISPATCHER, Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only customer service and supervisors enter requests."))
    intake, category = validate_intake(data, ctx)
    ticket = open_ticket(intake, actor=ctx.actor, tz=ctx.tz, created_at=ctx.now, via=ctx.via)
    if ticket.device_category is None:
        ticket.device_category = category
    policy = ctx.rules()
    start_clock(ticket, ClockName.INTAKE, intake.reported_at,
                intake.reported_at + policy.minutes("intake_minutes"), threshold=policy.intake_minutes)
    stop_clock(ticket, ClockName.INTAKE, ticket.created_at)
    window = policy.first_contact_window(ticket.urgency)
    start_clock(ticket, ClockName.FIRST_CONTACT, ticket.created_at, ticket.created_at + window,
                threshold=int(window.total_seconds() // 60))
    alerts.request_entered(ticket)
    return ticket


# --- assignment and escalation ----------------------------------------------------------------------


def active_user(username_or_id: str | int, role: Role, field_name: str) -> User:
    user_id = parse_int(username_or_id, minimum=1)
    if user_id is not None:
        user = db.session.get(User, user_id)
    elif not isinstance(username_or_id, str | int) or text_problem(str(username_or_id)):
        user = None
    else:
        user = db.session.execute(
            select(User).where(func.lower(User.username) == str(username_or_id).strip().lower())
        ).scalar_one_or_none()
    if user is None or user.role != role:
        message = _l("Unknown technician.") if role == Role.TECHNICIAN else _l("Unknown expert.")
        raise ValidationError({field_name: message})
    if not user.active:
        raise ValidationError({field_name: _l("%(name)s is deactivated and cannot take work.",
                                              name=user.display_name)})
    return user


def _check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and ticket.version != expected_version:
        who = ticket.assignee.display_name if ticket.assignee else "-"
        raise Conflict(
            "changed_meanwhile",
            _l("Request %(number)s was changed by someone else meanwhile (now assigned to %(who)s). "
               "Nothing was changed; check it and try again.", number=ticket.number, who=who),
            assignee=ticket.assignee.username if ticket.assignee else None,
        )


def assign(ticket: Ticket, technician: User, ctx: Context, expected_version: int | None = None) -> None:
    """Assign or reassign. `expected_version` is the version the supervisor saw: a stale one is refused."""
    if not ctx.actor.has_role(Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only a supervisor assigns requests."))
    _check_version(ticket, expected_version)
    if ticket.status not in workflow.ASSIGNABLE:
        raise DomainError("not_assignable", _l("Request %(number)s can no longer be assigned.",
                                                number=ticket.number))
    if is_assignee(technician, ticket):
        raise DomainError("same_technician", _l("Request %(number)s is already assigned to %(name)s.",
                                                 number=ticket.number, name=technician.display_name))
    previous = ticket.assignee
    ticket.assignee, ticket.assigned_by, ticket.assigned_at = technician, ctx.actor, ctx.now
    if ticket.status == TicketStatus.NEW:
        workflow.move(ticket, TicketStatus.ASSIGNED, actor=ctx.actor, action="ticket.assigned", via=ctx.via,
                      remote_addr=ctx.remote_addr, technician=technician.username)
    else:
        record_event("ticket.reassigned", actor=ctx.actor, ticket=ticket, entity=ticket, via=ctx.via,
                     remote_addr=ctx.remote_addr, from_state=ticket.status.value, to_state=ticket.status.value,
                     technician=technician.username, previous=previous.username if previous else None)
    alerts.request_assigned(ticket)


def escalate(ticket: Ticket, expert: User, reason: str, ctx: Context) -> None:
    if not ctx.actor.has_role(Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only a supervisor escalates requests."))
    if ticket.status in workflow.CLOSED:
        raise DomainError("closed", _l("Request %(number)s is closed.", number=ticket.number))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _l("Say what the expert should help with.")})
    ticket.expert, ticket.escalated_at, ticket.escalation_reason = expert, ctx.now, reason[:MAX_TEXT]
    record_event("ticket.escalated", actor=ctx.actor, ticket=ticket, entity=ticket, via=ctx.via,
                 remote_addr=ctx.remote_addr, expert=expert.username, reason=reason[:500])
    alerts.request_escalated(ticket)


def cancel(ticket: Ticket, reason: str, ctx: Context) -> None:
    if not ctx.actor.has_role(Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only a supervisor cancels requests."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _l("Give the reason for cancelling.")})
    workflow.move(ticket, TicketStatus.CANCELLED, actor=ctx.actor, action="ticket.cancelled", via=ctx.via,
                  remote_addr=ctx.remote_addr, reason=reason[:500])
    ticket.cancelled_at, ticket.cancel_reason = ctx.now, reason[:MAX_TEXT]
    visit = ticket.current_visit
    if visit is not None and visit.departed_at is None:  # called off with the request
        visit.cancelled_at = ctx.now
    for clock in list(ticket.clocks):
        drop_clock(ticket, clock.name, at=ctx.now)  # a deadline already passed stays missed


def add_note(ticket: Ticket, text: str, ctx: Context, *, shown_to_customer: bool = False,
             note_id=None, written_at: datetime | None = None) -> ProgressNote:
    """A progress note (technician) or advice (expert, supervisor). Refused once the customer has signed."""
    if not (can_view(ctx.actor, ticket) and ctx.actor.has_role(Role.TECHNICIAN, Role.EXPERT, Role.SUPERVISOR)):
        raise Forbidden("not_allowed", _l("You may not add notes to request %(number)s.", number=ticket.number))
    if ticket.is_locked:
        raise Conflict("order_locked", _l("The customer has signed request %(number)s: it can no longer change.",
                                          number=ticket.number))
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _l("The note is empty.")})
    # A phone's time is checked like every other op's: never in the future, never before the request existed.
    written_at = checked_time(written_at, ctx, "written_at", not_before=ticket.created_at)
    visit = ticket.current_visit
    if ticket.id is None or ctx.actor.id is None:
        db.session.flush()
    values = dict(id=note_id or uuid.uuid4(), ticket_id=ticket.id, author_id=ctx.actor.id, text=text[:MAX_TEXT],
                  shown_to_customer=shown_to_customer, written_at=written_at, visit_id=visit.id if visit else None,
                  received_at=utcnow())
    note = ProgressNote(**values)
    if can_write_at_once():
        # One Core INSERT (held for one per table in the sync applier's runs), not a unit-of-work flush: a
        # phone's outbox adds notes by the hundred. The note then joins the session as stored, with no more SQL.
        write_row(_NOTE_INSERT, values)
        join_as_stored(note)
    else:
        db.session.add(note)
    if "notes" in ticket.__dict__:  # a list already loaded does not know the new note
        db.session.expire(ticket, ["notes"])
    record_event("note.added", actor=ctx.actor, ticket=ticket, entity=None, via=ctx.via, remote_addr=ctx.remote_addr)
    return note


_NOTE_INSERT = ProgressNote.__table__.insert()


# --- the technician's remote work ----------------------------------------------------------------------


def record_contact(ticket: Ticket, ctx: Context, *, method: ContactMethod, reached: bool = True,
                   note: str = "", at: datetime | None = None) -> ContactAttempt:
    """Log a call or message to the customer. The first successful one stops the first-contact clock."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "contact.made")
    at = checked_time(at, ctx, "at", not_before=ticket.created_at)
    attempt = ContactAttempt(ticket=ticket, user=ctx.actor, method=method, reached=reached,
                             note=(note or "").strip()[:MAX_TEXT] or None, at=at)
    db.session.add(attempt)
    if reached and ticket.status == TicketStatus.ASSIGNED:
        workflow.move(ticket, TicketStatus.CONTACTED, actor=ctx.actor, action="ticket.contacted", via=ctx.via,
                      remote_addr=ctx.remote_addr, method=method.value)
        ticket.first_contact_at = at
        stop_clock(ticket, ClockName.FIRST_CONTACT, at)
        start_clock(ticket, ClockName.REMOTE_FIX, at, at + ctx.rules().minutes("remote_fix_minutes"),
                    threshold=ctx.rules().remote_fix_minutes)
    elif ticket.status not in workflow.CONTACTABLE:
        raise workflow.refusal(ticket, TicketStatus.CONTACTED)
    else:
        record_event("ticket.contact_logged", actor=ctx.actor, ticket=ticket, via=ctx.via, reached=reached,
                     method=method.value)
    return attempt


def record_remote_session(ticket: Ticket, ctx: Context, *, method: ContactMethod, steps: str,
                          outcome: RemoteOutcome, started_at: datetime | None = None,
                          ended_at: datetime | None = None) -> RemoteSession:
    """Remote guidance (phone, screen sharing) and what came of it."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "remote.guided")
    if ticket.status != TicketStatus.CONTACTED:
        raise DomainError("not_contacted", _l("Log the first contact with the customer before remote guidance."))
    steps = (steps or "").strip()
    if not steps:
        raise ValidationError({"steps": _l("Describe the steps you guided the customer through.")})
    started = checked_time(started_at, ctx, "started_at", not_before=ticket.first_contact_at,
                           after=AFTER_CONTACT)
    ended = None
    if ended_at is not None or outcome != RemoteOutcome.IN_PROGRESS:
        ended = checked_time(ended_at, ctx, "ended_at", not_before=started,
                             after=_l("the guidance began"))
    session = RemoteSession(ticket=ticket, technician=ctx.actor, method=method, steps=steps[:MAX_TEXT],
                            outcome=outcome, started_at=started, ended_at=ended)
    db.session.add(session)
    record_event("remote.session", actor=ctx.actor, ticket=ticket, entity=None, via=ctx.via, method=method.value,
                 outcome=outcome.value)
    return session


def resolve_remotely(ticket: Ticket, ctx: Context, *, cause: str, work_done: str,
                     resolved_at: datetime | None = None) -> None:
    """Solved remotely: stops the remote-fix clock at the fix, and the order-filled clock now (the fields are
    filled with this call); the 2-hour submission clock starts from the fix."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "remote.resolved")
    written = cause_and_work(cause, work_done)
    fixed = checked_time(resolved_at, ctx, "resolved_at", not_before=ticket.first_contact_at or ticket.created_at,
                         after=AFTER_CONTACT)
    workflow.move(ticket, TicketStatus.REMOTE_RESOLVED, actor=ctx.actor, action="ticket.remote_resolved",
                  via=ctx.via, remote_addr=ctx.remote_addr)
    policy = ctx.rules()
    ticket.resolution = Resolution.REMOTE
    ticket.remote_resolved_at = ticket.service_ended_at = fixed
    ticket.cause, ticket.work_done = written
    ticket.order_filled_at = ctx.now
    stop_clock(ticket, ClockName.REMOTE_FIX, fixed)
    start_clock(ticket, ClockName.ORDER_FILED, fixed, fixed + policy.minutes("order_filled_minutes"),
                threshold=policy.order_filled_minutes)
    stop_clock(ticket, ClockName.ORDER_FILED, ctx.now)
    start_clock(ticket, ClockName.SUBMISSION, fixed, fixed + policy.minutes("submission_minutes"),
                threshold=policy.submission_minutes)
    # A remotely solved order is a document too (marked remote, no signature): frozen now, rendered after commit.
    from ..documents.orders import freeze_order

    db.session.flush()
    freeze_order(ticket, site=ctx.settings(), now=ctx.now)


# --- on-site visits ------------------------------------------------------------------------------------------


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
        errors["scheduled_at"] = _l("The visit time is in the past.")
    elif scheduled_at > ctx.now + timedelta(days=60):
        errors["scheduled_at"] = _l("The visit time is more than 60 days away.")
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
        visit = Visit(ticket=ticket, technician=ctx.actor, scheduled_at=scheduled_at, address=address[:500],
                      agreed_with=agreed_with.strip()[:100] or ticket.contact_name, created_at=ctx.now)
        db.session.add(visit)
        for position, (kind, label) in enumerate(items or suggested_prep_items(ticket, address)):
            label = (label or "").strip()
            if label:
                visit.prep_items.append(PrepItem(kind=kind, label=label[:200], position=position))
    visit.prep_confirmed_at = None
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
