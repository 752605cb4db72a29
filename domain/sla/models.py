"""The clocks of a request and the policy's settings: thresholds and the working-day calendar's overrides."""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.db import Base
from ..core.enums import (
    ClockName,
)
from ..core.models import enum_type
from ..core.types import utcnow

if TYPE_CHECKING:  # relationships name these classes; domain/__init__.py imports every models module
    from ..requests.models import Ticket


class TicketClock(Base):
    """One deadline of the policy for one request: started, due, and done (or not applicable)."""

    __tablename__ = "ticket_clocks"
    __table_args__ = (
        # One current clock per rule; superseded ones (a missed preparation before the visit moved) stay on record.
        Index("uq_ticket_clocks_current", "ticket_id", "name", unique=True,
              postgresql_where=text("superseded_at IS NULL"), sqlite_where=text("superseded_at IS NULL")),
        Index("ix_ticket_clocks_name_started", "name", "started_at"),
        # The weekly report counts each clock in the week its deadline falls in.
        Index("ix_ticket_clocks_due_at", "due_at"),
        # A page of requests loads their clocks (all of them, superseded ones too: the partial index above
        # cannot serve that).
        Index("ix_ticket_clocks_ticket_id", "ticket_id"),
        # The deadline scan also reads the clocks written since its last run (a deadline already near or past).
        Index("ix_ticket_clocks_written_at", "written_at"),
        Index("ix_ticket_clocks_name_due", "name", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    name: Mapped[ClockName] = mapped_column(enum_type(ClockName))
    started_at: Mapped[datetime]
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    not_applicable: Mapped[bool] = mapped_column(default=False)
    # The policy's threshold when the clock started (minutes, or working days for a case analysis): a later change
    # of the policy moves neither its deadline nor the threshold it is shown with.
    threshold: Mapped[int | None]
    # Counted Monday to Friday over a year the holiday calendar does not know (and no admin entries): said so.
    calendar_fallback: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Replaced by a new clock for the same rule (the visit moved after this one's deadline had passed).
    superseded_at: Mapped[datetime | None]
    # When the row was last written (server time): the minute scan reads the clocks written since its last run,
    # whose deadline (or warning) may already lie behind its watermark (a request entered late, a restart).
    written_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="clocks")


class PolicySetting(Base):
    """An override of one policy threshold; the defaults live in policy.py."""

    __tablename__ = "policy_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CalendarOverride(Base):
    """A date the holiday calendar does not know, marked as working day or holiday by an admin."""

    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(primary_key=True)
    is_workday: Mapped[bool]
    note: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
