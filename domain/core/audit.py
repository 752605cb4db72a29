"""The audit trail: one call records who changed what."""
from __future__ import annotations

from typing import Any

from .db import db
from .models import AuditEvent, Ticket, User


def record_event(
    action: str,
    *,
    actor: User | None,
    ticket: Ticket | None = None,
    entity: Any = None,
    from_state: str | None = None,
    to_state: str | None = None,
    via: str = "web",
    remote_addr: str | None = None,
    **data: Any,
) -> AuditEvent:
    event = AuditEvent(
        action=action,
        actor=actor,
        ticket_id=ticket.id if ticket is not None else None,
        entity_type=type(entity).__name__ if entity is not None else None,
        entity_id=str(getattr(entity, "id", "")) if entity is not None else None,
        from_state=from_state,
        to_state=to_state,
        via=via,
        remote_addr=remote_addr,
        data=data,
    )
    db.session.add(event)
    return event
