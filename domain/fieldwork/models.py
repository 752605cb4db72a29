"""What happens on site: visits and their checklist, photos, the acceptance test, precautions, the signature,
and every op a phone sent."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.db import Base
from ..core.enums import (
    OpStatus,
    PrepKind,
    SignatureMissing,
    UnsignedDecision,
)
from ..core.models import User, enum_type
from ..core.types import utcnow

if TYPE_CHECKING:  # relationships name these classes; domain/__init__.py imports every models module
    from ..requests.models import Ticket


class Visit(Base):
    """An on-site visit agreed with the customer, from preparation to departure."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scheduled_at: Mapped[datetime]
    address: Mapped[str] = mapped_column(String(500))
    agreed_with: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prep_confirmed_at: Mapped[datetime | None]
    # "On my way": when the technician set out (the tap's time) and the arrival they announced to the customer.
    on_the_way_at: Mapped[datetime | None]
    expected_arrival_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    problem_confirmed_at: Mapped[datetime | None]
    confirmed_problem: Mapped[str | None] = mapped_column(Text)
    customer_confirmed_at: Mapped[datetime | None]
    customer_confirmation: Mapped[str | None] = mapped_column(Text)
    # The customer confirmed knowing that an item failed ("设备部分功能未恢复，客户已知悉"), printed on the order.
    failures_acknowledged: Mapped[bool] = mapped_column(default=False, server_default=false())
    work_recorded_at: Mapped[datetime | None]  # when the cause and the work done were (last) written on site
    precautions_told_at: Mapped[datetime | None]
    departed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # Where the phone was when arrival was tapped (the browser's geolocation, WGS-84, when the technician allowed
    # it): approximate, never required.
    arrival_lat: Mapped[float | None]
    arrival_lng: Mapped[float | None]
    arrival_accuracy_m: Mapped[float | None]
    # The customer was absent or refused to sign (the technician's act, the op's time), with the reason and the
    # photo taken with it (a photo.added op's id: it may reach the server after this act).
    unsigned_at: Mapped[datetime | None]
    unsigned_kind: Mapped[SignatureMissing | None] = mapped_column(enum_type(SignatureMissing))
    unsigned_reason: Mapped[str | None] = mapped_column(Text)
    unsigned_photo_id: Mapped[uuid.UUID | None]
    # The supervisor's decision on it.
    decision: Mapped[UnsignedDecision | None] = mapped_column(enum_type(UnsignedDecision))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The visit ended without finishing the job: another visit follows (parts to order, the customer absent). It is
    # no longer the request's current visit; what it recorded stays on the request.
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship(back_populates="visits")
    technician: Mapped[User] = relationship(foreign_keys=[technician_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    prep_items: Mapped[list[PrepItem]] = relationship(
        back_populates="visit", order_by="PrepItem.position", cascade="all, delete-orphan"
    )


class PrepItem(Base):
    """One line of the preparation checklist: address, device state, a tool or a spare part."""

    __tablename__ = "prep_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    kind: Mapped[PrepKind] = mapped_column(enum_type(PrepKind))
    label: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    checked: Mapped[bool] = mapped_column(default=False)
    checked_at: Mapped[datetime | None]

    visit: Mapped[Visit] = relationship(back_populates="prep_items")


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    note_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("progress_notes.id"))
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    thumb_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    width: Mapped[int]
    height: Mapped[int]
    caption: Mapped[str | None] = mapped_column(String(500))
    taken_at: Mapped[datetime]
    # None: sent by the customer with their report (the report page, no account).
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="photos")


class AcceptanceTest(Base):
    """One item of the customer acceptance test: passed, failed, or not applicable (with the reason in `note`)."""

    __tablename__ = "acceptance_tests"
    __table_args__ = (UniqueConstraint("ticket_id", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    item: Mapped[str] = mapped_column(String(200))
    passed: Mapped[bool]
    not_applicable: Mapped[bool] = mapped_column(default=False, server_default=false())
    note: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    recorded_at: Mapped[datetime]
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    ticket: Mapped[Ticket] = relationship(back_populates="tests")


class Precaution(Base):
    """What the customer was told to watch out for from now on."""

    __tablename__ = "precautions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    told_at: Mapped[datetime]

    ticket: Mapped[Ticket] = relationship(back_populates="precautions")


class Signature(Base):
    """The customer's sign-off; its existence locks the order."""

    __tablename__ = "signatures"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        # The weekly report's satisfaction: ratings of the orders signed in a week.
        Index("ix_signatures_signed_at_client", "signed_at_client"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    signer_name: Mapped[str] = mapped_column(String(100))
    rating: Mapped[int | None]  # the customer may skip it (DESIGN: "1..5 or absent")
    comment: Mapped[str | None] = mapped_column(Text)
    png_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    strokes: Mapped[list[Any]] = mapped_column(default=list)
    signed_at_client: Mapped[datetime]
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    device_id: Mapped[str] = mapped_column(String(64))
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    op_id: Mapped[uuid.UUID | None]

    ticket: Mapped[Ticket] = relationship(back_populates="signature")


class SigningEvidence(Base):
    """What the phone knew when the customer signed, kept with the order: written once when the signature is
    accepted, never changed or deleted (the ORM refuses both, see `_append_only`; there is no code path that
    writes to it again). Its hash (`record_sha256`) is part of the order's frozen content, so the seal covers it."""

    __tablename__ = "signing_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    signature_id: Mapped[int | None] = mapped_column(ForeignKey("signatures.id"))
    signed_at_client: Mapped[datetime]  # the phone's time
    signed_at: Mapped[datetime]  # the server's time (when the signature reached it)
    device_id: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    signer_name: Mapped[str] = mapped_column(String(100))
    strokes: Mapped[list[Any]] = mapped_column(default=list)
    customer_mobile: Mapped[str | None] = mapped_column(String(40))
    arrival_lat: Mapped[float | None]
    arrival_lng: Mapped[float | None]
    arrival_accuracy_m: Mapped[float | None]
    signing_lat: Mapped[float | None]
    signing_lng: Mapped[float | None]
    signing_accuracy_m: Mapped[float | None]
    # The customer's SMS code: not_asked (the policy does not ask for one) / confirmed / pending (offline).
    code_state: Mapped[str] = mapped_column(String(20), default="not_asked")
    record_sha256: Mapped[str] = mapped_column(String(64))

    ticket: Mapped[Ticket] = relationship()
    signature: Mapped[Signature | None] = relationship()


class SigningCode(Base):
    """A one-time code sent by SMS to the customer's mobile number, to confirm their signature: on the phone as they
    sign ("signing"), or later from the tracking page ("tracking"). Only its keyed hash is kept."""

    __tablename__ = "signing_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    mobile: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    tries: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None]

    ticket: Mapped[Ticket] = relationship()


class AppendOnlyError(RuntimeError):
    """A write to a record that is append-only."""


@event.listens_for(SigningEvidence, "before_update")
@event.listens_for(SigningEvidence, "before_delete")
def _append_only(mapper, connection, target) -> None:
    raise AppendOnlyError("signing evidence is append-only: it is never changed or deleted")


# --- sync, audit, policy --------------------------------------------------------------------


class SyncOp(Base):
    """Every op a phone sent, applied or rejected, with its raw body: nothing sent is ever dropped."""

    __tablename__ = "sync_ops"

    id: Mapped[int] = mapped_column(primary_key=True)
    op_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    ticket_number: Mapped[str | None] = mapped_column(String(40))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    client_at: Mapped[datetime | None]
    client_at_raw: Mapped[str | None] = mapped_column(String(64))
    # The phone's raw clock at the act (`at` is corrected by the phone's estimated offset to the server).
    device_at: Mapped[datetime | None]
    # The time the act was recorded at, when the server moved `at` onto a bound (a clock a few minutes off).
    applied_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    body: Mapped[str] = mapped_column(Text)
    body_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[OpStatus] = mapped_column(enum_type(OpStatus))
    code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    replays: Mapped[int] = mapped_column(default=0)
    last_replayed_at: Mapped[datetime | None]
