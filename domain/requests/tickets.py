"""Opening a request (ticket): the intake step of the process."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ..core.audit import record_event
from ..core.db import db
from ..core.enums import Channel, TicketStatus, Urgency
from ..core.models import Customer, DeviceModel, Ticket, User
from ..core.types import utcnow
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
