"""A rented device of the company's (资产): asset number, serial number, catalog model, state, the customer it is
rented to, and the code its QR label carries."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.db import Base
from ..core.enums import DeviceState
from ..core.models import enum_type
from ..core.types import utcnow
from ..requests.models import Customer, DeviceModel, Ticket

# 16 characters of base32 (80 bits): unguessable, yet a QR code small enough for a 25 mm sticker. Lower case and
# digits only, so that a code read aloud or typed from the label is not mistaken (no 0/O, 1/l).
LABEL_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
LABEL_CODE_LENGTH = 16


def new_label_code() -> str:
    return "".join(secrets.choice(LABEL_ALPHABET) for _ in range(LABEL_CODE_LENGTH))


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_number: Mapped[str] = mapped_column(String(40), unique=True)
    serial_number: Mapped[str | None] = mapped_column(String(100), unique=True)
    device_model_id: Mapped[int] = mapped_column(ForeignKey("device_models.id"), index=True)
    state: Mapped[DeviceState] = mapped_column(enum_type(DeviceState), default=DeviceState.IN_STOCK)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    rented_since: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)
    # What the QR label carries (/d/<label_code>). Re-issuing a label replaces it: the old sticker stops working.
    label_code: Mapped[str] = mapped_column(String(24), unique=True, default=new_label_code)
    label_issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    device_model: Mapped[DeviceModel] = relationship()
    customer: Mapped[Customer | None] = relationship()


# A request about a registered device (tickets.device_id) and the device page's history, newest first, with its
# fault counts over 30/90/365 days: one range scan of this index per device.
Index("ix_tickets_device_reported", Ticket.device_id, Ticket.reported_at)


class DeviceCheck(Base):
    """On a visit, the device in front of the technician checked against the request's: the code scanned or
    typed (a label URL, an asset or serial number), the device it names, and the reason given for a mismatch."""
    __tablename__ = "device_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    code: Mapped[str] = mapped_column(String(200))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    matched: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime]
    checked_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    device: Mapped[Device | None] = relationship()
    ticket: Mapped[Ticket] = relationship()


class DeviceSwap(Base):
    """A faulty unit taken from the customer and a spare from stock left in its place (one per request)."""
    __tablename__ = "device_swaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    out_device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    in_device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    swapped_at: Mapped[datetime]
    swapped_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    out_device: Mapped[Device] = relationship(foreign_keys=[out_device_id])
    in_device: Mapped[Device] = relationship(foreign_keys=[in_device_id])
    ticket: Mapped[Ticket] = relationship()


class PartUsed(Base):
    """A spare part (parts.PARTS) used on a request, with its count: the phone's last list replaces the earlier."""
    __tablename__ = "parts_used"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    part: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int]
    recorded_at: Mapped[datetime]

    ticket: Mapped[Ticket] = relationship()


# The request's device acts, read with the jobs feed (selectinload), in the order they happened.
Ticket.device_checks = relationship(DeviceCheck, order_by=(DeviceCheck.checked_at, DeviceCheck.id), viewonly=True)
Ticket.device_swaps = relationship(DeviceSwap, viewonly=True)
Ticket.used_parts = relationship(PartUsed, viewonly=True)
