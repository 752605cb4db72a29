"""Human ticket numbers like FS-2026-000123, unique under concurrent creation."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite

from ..core.db import db
from ..requests.models import TicketSequence

PREFIX = "FS"


def format_number(year: int, seq: int) -> str:
    return f"{PREFIX}-{year}-{seq:06d}"


def allocate_ticket_number(created_at: datetime, tz: ZoneInfo) -> str:
    """Take the next number of the year (in the company's time zone).

    One upsert statement increments and returns the counter. On PostgreSQL the row lock
    it takes is held until the caller commits, so concurrent transactions queue instead
    of reading the same value; on SQLite the write lock does the same.
    """
    year = created_at.astimezone(tz).year
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(TicketSequence).values(year=year, last_value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[TicketSequence.year],
        set_={"last_value": TicketSequence.last_value + 1},
    ).returning(TicketSequence.last_value)
    seq = db.session.execute(stmt).scalar_one()
    return format_number(year, seq)
