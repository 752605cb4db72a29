"""Intake (需求接收): a customer's request checked and opened, from the desk's form, the intake API or the
website; the 15-minute clock runs from when the customer got in touch."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..alerts import customer
from ..alerts import notifications as alerts
from ..alerts.mail import EMAIL_MAX, INVALID_EMAIL, valid_email
from ..core.audit import record_event
from ..core.context import (
    CLOCK_SKEW,
    MAX_TEXT,
    Context,
    parse_client_time,
)
from ..core.db import db
from ..core.enums import (
    Channel,
    ClockName,
    Role,
    TicketStatus,
    Urgency,
)
from ..core.errors import Forbidden, ValidationError
from ..core.models import User
from ..core.types import utcnow
from ..core.validation import parse_int, text_problem
from ..requests.models import Customer, DeviceCategory, DeviceModel, Ticket

if TYPE_CHECKING:
    from ..devices.models import Device
from ..sla.clocks import start_clock, stop_clock
from .numbering import allocate_ticket_number


@dataclass
class Intake:
    customer: Customer
    contact_phone: str
    device_model_text: str
    problem: str
    urgency: Urgency
    channel: Channel
    reported_at: datetime
    contact_name: str | None = None
    address: str | None = None
    device_model: DeviceModel | None = None
    serial_number: str | None = None
    customer_email: str | None = None
    device: Device | None = None


def open_ticket(intake: Intake, *, actor: User | None, tz: ZoneInfo, created_at: datetime | None = None,
                via: str = "web") -> Ticket:
    created_at = created_at or utcnow()
    ticket = Ticket(
        number=allocate_ticket_number(created_at, tz),
        status=TicketStatus.NEW,
        urgency=intake.urgency,
        channel=intake.channel,
        customer=intake.customer,
        contact_name=intake.contact_name or intake.customer.contact_person,
        contact_phone=intake.contact_phone,
        address=intake.address or intake.customer.address,
        device_model=intake.device_model,
        device_category=intake.device_model.category if intake.device_model else None,
        device_model_text=intake.device_model_text,
        serial_number=intake.serial_number,
        device=intake.device,
        customer_email=intake.customer_email,
        problem=intake.problem,
        reported_at=intake.reported_at,
        created_at=created_at,
        created_by=actor,
    )
    db.session.add(ticket)
    db.session.flush()
    record_event("ticket.created", actor=actor, ticket=ticket, entity=ticket, to_state=TicketStatus.NEW.value,
                 via=via, number=ticket.number)
    return ticket


def _text(data: dict, key: str, limit: int = 200) -> str:
    """A text field as given (trimmed): a value of another type, or longer than the limit, is refused naming the
    field, never altered (an address cut to fit would send the signed order to another domain)."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({key: _l("Must be text.")})
    if (problem := text_problem(value)) is not None:
        raise ValidationError({key: problem[1]})
    value = value.strip()
    if len(value) > limit:
        raise ValidationError({key: _l("At most %(n)d characters.", n=limit)})
    return value


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
    registered = None
    device_ref = _text(data, "device_ref", 100) or _text(data, "asset_number", 100)
    if device_ref:
        from ..devices.register import resolve_device

        registered = resolve_device(device_ref)
        if registered is None:
            errors["device_ref"] = _l("No device with this asset or serial number in the register: leave it "
                                      "empty and give the model.")
    device_id = data.get("device_model_id")
    device_text = _text(data, "device_model")
    if registered is not None:
        device = registered.device_model
    elif device_id not in (None, "", 0, "0"):
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
        serial_number=(registered.serial_number if registered else None) or _text(data, "serial_number", 100)
        or None,
        device=registered,
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
    customer.queue_entered(ticket)
    return ticket


def start_first_contact(ticket: Ticket, at: datetime, policy) -> None:
    window = policy.first_contact_window(ticket.urgency)
    start_clock(ticket, ClockName.FIRST_CONTACT, at, at + window, threshold=int(window.total_seconds() // 60))


def awaiting_acceptance(ticket: Ticket) -> bool:
    """A customer's own report that customer service has not yet checked and forwarded: its intake clock runs."""
    return any(c.name == ClockName.INTAKE and c.done_at is None and not c.not_applicable and c.superseded_at is None
               for c in ticket.clocks) and ticket.status == TicketStatus.NEW


def accept_report(ticket: Ticket, ctx: Context, *, by_assignment: bool = False) -> None:
    """Customer service forwards a customer's own report to the technical team: the intake clock (running since
    the customer sent it) stops, the first-contact clock starts. A supervisor assigning it forwards it too."""
    if not ctx.actor.has_role(Role.DISPATCHER, Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only customer service and supervisors forward requests."))
    if not awaiting_acceptance(ticket):
        if by_assignment:
            return
        from ..core.errors import DomainError

        raise DomainError("already_forwarded", _l("Request %(number)s was already forwarded.", number=ticket.number))
    stop_clock(ticket, ClockName.INTAKE, ctx.now)
    start_first_contact(ticket, ctx.now, ctx.rules())
    record_event("ticket.forwarded", actor=ctx.actor, ticket=ticket, entity=ticket, via=ctx.via,
                 remote_addr=ctx.remote_addr)
