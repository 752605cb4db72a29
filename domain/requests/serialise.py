"""A request as plain data, written once: the intake API (`GET /api/v1/requests/<number>`), the phone's jobs feed
(`GET /api/v1/me/jobs`) and the service order's canonical content all start from `request_summary`."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ..requests.models import Ticket
from ..sla.clocks import ClockView, ticket_clocks


def iso(value: datetime | None) -> str | None:
    """A stored (UTC) time as ISO 8601 with its offset; None stays None."""
    return value.isoformat() if value else None


def request_summary(ticket: Ticket, now: datetime, clocks: list[ClockView] | None = None) -> dict[str, Any]:
    """Who asked, about what device and problem, how urgent, and the clocks as of `now` (`clocks`: the caller's
    `ticket_clocks(ticket, now)`, when it needs them too)."""
    category = ticket.device_category
    return {
        "number": ticket.number,
        "status": ticket.status.value,
        "urgency": ticket.urgency.value,
        "channel": ticket.channel.value,
        "customer": {"name": ticket.customer.name, "contact": ticket.contact_name, "phone": ticket.contact_phone,
                     "address": ticket.address, "email": ticket.customer_email},
        "device": {"model": ticket.device_model_text, "serial": ticket.serial_number,
                   "category": category.code if category else None,
                   "asset_number": ticket.device.asset_number if ticket.device else None},
        "problem": ticket.problem,
        "reported_at": iso(ticket.reported_at),
        "created_at": iso(ticket.created_at),
        "clocks": [clock.as_dict() for clock in (ticket_clocks(ticket, now) if clocks is None else clocks)],
    }
