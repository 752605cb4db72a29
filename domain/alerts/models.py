"""Notifications, Web Push subscriptions, the mail outbox, stored weekly reports and the deadline scan's
marks."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.db import Base
from ..core.models import Blob, User
from ..core.types import utcnow

if TYPE_CHECKING:  # relationships name these classes; domain/__init__.py imports every models module
    from ..requests.models import Ticket

# --- alerts, mail, background work ----------------------------------------------------------


class Notification(Base):
    """One alert to one person: the in-app inbox row, and the record that it was pushed and mailed.
    `key` is the idempotency key (kind, request, clock, deadline): an alert is created at most once per user and
    key, whatever the number of scans, workers or restarts."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_notifications_user_read", "user_id", "read_at"),
        Index("ix_notifications_pending_delivery", "delivered_at"),
        # The deadline scan skips the deadlines already alerted with one index probe each.
        Index("ix_notifications_clock_alert", "ticket_id", "kind", "clock", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(160))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # A deadline alert's clock and deadline (the scan's anti-join reads them).
    clock: Mapped[str | None] = mapped_column(String(24))
    due_at: Mapped[datetime | None]
    # What the text is made from (clock name, deadline, week...): titles are written in the reader's language.
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    # Set once the push and e-mail channels were handled (sent, queued, or not wanted).
    delivered_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
    ticket: Mapped[Ticket | None] = relationship()


class PushSubscription(Base):
    """A browser's Web Push subscription (RFC 8030): where to post, and the keys to encrypt for (RFC 8291)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_at: Mapped[datetime | None]


class OutboxMail(Base):
    """An e-mail waiting to go out, sent, or failing: kept until sent, retried with backoff, never lost."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # [{"filename", "sha256", "media_type"}]: the files themselves are blobs.
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sent | logged
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class StoredReport(Base):
    """A week's report as delivered on Monday: the PDF and CSV kept, and when it was mailed."""

    __tablename__ = "stored_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(10), unique=True)  # ISO week, "2026-W47"
    pdf_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    csv_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Declared for the unit of work's order (the files are written before the row that names them), never loaded:
    # a flush orders unrelated tables by module and class name, and this package's name sorts before core's.
    pdf_blob: Mapped[Blob] = relationship(foreign_keys=[pdf_sha256], lazy="raise", viewonly=False)
    csv_blob: Mapped[Blob] = relationship(foreign_keys=[csv_sha256], lazy="raise", viewonly=False)


class ScanMark(Base):
    """The watermark of a periodic scan: the time its last run completed. The minute's deadline scan reads only
    what came due since then (and the clocks written since), so its work follows what is new, not what is open."""

    __tablename__ = "scan_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    scanned_until: Mapped[datetime]
