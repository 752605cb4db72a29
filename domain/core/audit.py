"""The audit trail: one call records who changed what."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .db import can_write_at_once, db, write_row
from .models import AuditEvent, User

if TYPE_CHECKING:
    from ..requests.models import Ticket

_AUDIT_INSERT = AuditEvent.__table__.insert()


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
) -> None:
    """The event is written at once with one Core INSERT when what it refers to is already stored (the common
    case, and the sync applier's hot path: no unit-of-work flush per op). When the actor or the request is still
    pending, or an earlier event still waits for the session's flush, it goes through the session instead, so
    the trail keeps the order the events happened in; so it does while a SQLite transaction has not written yet
    (`can_write_at_once`)."""
    values = dict(
        action=action,
        actor_id=actor.id if actor is not None else None,
        ticket_id=ticket.id if ticket is not None else None,
        entity_type=type(entity).__name__ if entity is not None else None,
        entity_id=str(getattr(entity, "id", "")) if entity is not None else None,
        from_state=from_state,
        to_state=to_state,
        via=via,
        remote_addr=remote_addr,
        data=data,
    )
    stored = (actor is None or values["actor_id"] is not None) and (ticket is None or values["ticket_id"] is not None)
    session = db.session()
    if stored and not any(isinstance(obj, AuditEvent) for obj in session.new) and can_write_at_once():
        write_row(_AUDIT_INSERT, values)  # held for one INSERT per table in the sync applier's runs
        return
    values.pop("actor_id")
    session.add(AuditEvent(actor=actor, **values))
