"""Progress notes (处理进展) by the technician, advice by an expert or the supervisor."""
from __future__ import annotations

import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l

from ..core.audit import record_event
from ..core.context import (
    MAX_TEXT,
    Context,
    checked_time,
)
from ..core.db import can_write_at_once, db, join_as_stored, write_row
from ..core.enums import (
    Role,
)
from ..core.errors import Conflict, Forbidden, ValidationError
from ..core.types import utcnow
from ..requests.models import ProgressNote, Ticket
from .access import can_view


def add_note(ticket: Ticket, text: str, ctx: Context, *, shown_to_customer: bool = False,
             note_id=None, written_at: datetime | None = None, as_object: bool = True) -> ProgressNote | None:
    """A progress note (technician) or advice (expert, supervisor). Refused once the customer has signed.
    Returns the stored note; with `as_object=False` (the sync applier, notes by the hundred, nothing reading them
    back) only its row is written, and no ORM object is made for it (that took a third of a note op's time)."""
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
    note = None
    if can_write_at_once():
        # One Core INSERT (held for one per table in the sync applier's runs), not a unit-of-work flush: a
        # phone's outbox adds notes by the hundred. The note then joins the session as stored, with no more SQL.
        write_row(_NOTE_INSERT, values)
        if as_object:
            note = ProgressNote(**values)
            join_as_stored(note)
    else:
        note = ProgressNote(**values)
        db.session.add(note)
    if "notes" in ticket.__dict__:  # a list already loaded does not know the new note
        db.session.expire(ticket, ["notes"])
    record_event("note.added", actor=ctx.actor, ticket=ticket, entity=None, via=ctx.via, remote_addr=ctx.remote_addr)
    return note


_NOTE_INSERT = ProgressNote.__table__.insert()
