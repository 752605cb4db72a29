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


class PushRetry(Base):
    """A push the push service did not take (a 5xx, 429, or no answer): sent again with a growing pause by the minute
    tick, while the alert is fresh (push.PUSH_TTL) and at most push.PUSH_RETRIES times; one per alert and phone."""

    __tablename__ = "push_retries"
    __table_args__ = (UniqueConstraint("notification_id", "subscription_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("push_subscriptions.id", ondelete="CASCADE"),
                                                 index=True)
    attempts: Mapped[int] = mapped_column(default=1)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    last_status: Mapped[int | None]  # the push service's answer, None: not reached
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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


class AlertChannel(Base):
    """A group robot an alert can go to: a DingTalk custom robot, a WeCom group robot or a Feishu custom bot.
    Its webhook is checked at save (only the platform's host, domain/alerts/robots.py); `recent_posts` holds the
    times of its last posts (at most the platform's per-minute limit), so the sender never exceeds the limit;
    `blocked_until` is set when the platform answered a rate-limit errcode."""

    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))  # dingtalk | wecom | feishu
    name: Mapped[str] = mapped_column(String(100))
    webhook_url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str | None] = mapped_column(String(200))
    # The alert kinds announced in this group (notifications.Kind values).
    kinds: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    # ok | failing (the platform refused the signature or the webhook: an admin must fix it; nothing is sent)
    state: Mapped[str] = mapped_column(String(16), default="ok")
    last_answer: Mapped[str | None] = mapped_column(Text)
    recent_posts: Mapped[list[Any]] = mapped_column(default=list)
    blocked_until: Mapped[datetime | None]
    # A sender holds the channel while it posts (two workers never interleave one robot's posts).
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelMessage(Base):
    """A message to a group robot or an SMS, waiting, sent, folded into a digest, or refused: the outbox of every
    channel but mail. `key` is its idempotency key (the channel or number, and the alert's key): a message is
    queued once whatever the number of deliveries, workers or restarts."""

    __tablename__ = "channel_outbox"
    __table_args__ = (Index("ix_channel_outbox_state_next", "state", "next_attempt_at"),
                      Index("ix_channel_outbox_channel_state", "channel_id", "state"),
                      Index("ix_channel_outbox_recipient_sent", "recipient", "sent_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    transport: Mapped[str] = mapped_column(String(8))  # robot | sms
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("alert_channels.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # An SMS's mobile number; empty for a robot.
    recipient: Mapped[str | None] = mapped_column(String(40))
    # A robot: {"title", "body", "url", "mentions"}; an SMS: {"template", "vars"}.
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # queued | sent | digested (went out inside another message: digest_id) | held (channel off) | refused
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_answer: Mapped[str | None] = mapped_column(Text)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("channel_outbox.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    channel: Mapped[AlertChannel | None] = relationship()
    # For the unit of work's order (a request is written before a message that names it), never loaded.
    ticket: Mapped[Ticket | None] = relationship(lazy="raise")


class SmsTemplate(Base):
    """The provider's approved template code for one kind of SMS (set on the admin page; a default otherwise)."""

    __tablename__ = "sms_templates"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SmsReply(Base):
    """A customer's reply to one of our SMS, as the provider reported it (Aliyun's SmsUp push, Tencent's reply
    callback). `key` is the provider's identity of the reply (a push retried is stored once)."""

    __tablename__ = "sms_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    mobile: Mapped[str] = mapped_column(String(40), index=True)
    text: Mapped[str] = mapped_column(String(500))
    sign_name: Mapped[str | None] = mapped_column(String(100))
    replied_at: Mapped[datetime | None]  # the provider's time of the reply
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    opt_out: Mapped[bool] = mapped_column(default=False)  # the reply asked for no more messages


class SmsOptOut(Base):
    """A mobile number that asked for no more messages (STOP / 退订 / TD). It holds until an administrator lifts it
    (the customer asked again, by phone): a new request from the number does not lift it."""

    __tablename__ = "sms_opt_outs"

    mobile: Mapped[str] = mapped_column(String(40), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(default=utcnow)
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("sms_replies.id"))
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lifted_reason: Mapped[str | None] = mapped_column(String(500))

    lifted_by: Mapped[User | None] = relationship()
    # For the unit of work's order (the reply is written before the opt-out that names it).
    reply: Mapped[SmsReply | None] = relationship(lazy="raise")
