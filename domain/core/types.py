"""Column types shared by the models."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every database.

    SQLite has no time zone type and silently drops offsets, so values are
    normalised to UTC before they are stored and marked UTC when read back.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC (a callable default: never evaluated at import)."""
    return datetime.now(UTC)


def in_zone(value: datetime, tz) -> datetime:
    """A stored time in a zone for display. A stored time at the calendar's edge (a phone once sent 9999-12-31)
    cannot be shifted by the zone's offset: it is shown in UTC rather than failing the page or the PDF."""
    try:
        return value.astimezone(tz)
    except OverflowError:
        return value
