"""A customer's own fault report, from the device's QR label (/d/<code>, channel qr) or the website (/report,
channel web): checked, opened as a request whose 15-minute intake clock starts when the customer sent it, with up
to 3 photos through the photo pipeline, and customer service alerted at once. The same device (or, on the
website, the same browser) and mobile number within 30 minutes joins the open request instead of opening another."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..alerts import notifications as alerts
from ..core.audit import record_event
from ..core.blobs import store_blob_sha256
from ..core.db import db
from ..core.enums import Channel, ClockName, TicketStatus, Urgency
from ..core.errors import ValidationError
from ..core.types import in_zone
from ..core.validation import text_problem
from ..devices.models import Device
from ..fieldwork.images import ImageRejected, ProcessedImage, process_photo
from ..fieldwork.models import Photo
from ..requests.intake import Intake, find_device_model, open_ticket
from ..requests.models import TICKET_OPEN_STATES_SQL, Customer, Ticket
from ..sla.clocks import start_clock
from ..sla.policy import Policy

MAX_PHOTOS = 3
DUPLICATE_WINDOW = timedelta(minutes=30)
LIMITS = {"name": 100, "mobile": 40, "problem": 2000, "address": 500, "device": 200}
# A phone number as people write it: digits, spaces, dashes, an optional leading +; 7 to 15 digits.
PHONE_CHARS = re.compile(r"\+?[0-9][0-9 ()-]*")
PHOTO_CAPTION = "customer_report"


@dataclass
class CustomerReport:
    name: str
    mobile: str
    problem: str
    address: str | None
    urgent: bool
    device_text: str = ""
    photos: list[ProcessedImage] = field(default_factory=list)


def normalise_phone(text: str) -> str | None:
    text = text.strip()
    if not PHONE_CHARS.fullmatch(text):
        return None
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("+86"):
        digits = digits[2:]
    if not 7 <= len(digits) <= 15:
        return None
    return digits


def check_report(form, photos: list[bytes], *, photo_max_bytes: int, photo_max_pixels: int,
                 device_text_needed: bool) -> CustomerReport:
    """The report's fields checked (ValidationError naming each bad one); photos decoded and cleaned only when
    every field is good."""
    errors: dict[str, object] = {}
    values: dict[str, str] = {}
    for name, limit in LIMITS.items():
        value = form.get(name) or ""
        if not isinstance(value, str) or text_problem(value):
            errors[name] = _l("This text contains characters that cannot be stored.")
            continue
        value = value.strip()
        if len(value) > limit:
            errors[name] = _l("At most %(count)d characters.", count=limit)
        values[name] = value
    if not values.get("name") and "name" not in errors:
        errors["name"] = _l("Please tell us your name.")
    mobile = normalise_phone(values.get("mobile", "")) if "mobile" not in errors else None
    if mobile is None and "mobile" not in errors:
        errors["mobile"] = _l("Please give a phone number we can call you on, e.g. 138 0013 8000.")
    if not values.get("problem") and "problem" not in errors:
        errors["problem"] = _l("Please describe what is wrong.")
    if device_text_needed and not values.get("device") and "device" not in errors:
        errors["device"] = _l("Please tell us which device (model, or the asset number on its label).")
    if len(photos) > MAX_PHOTOS:
        errors["photos"] = _l("At most %(count)d photos.", count=MAX_PHOTOS)
    if errors:
        raise ValidationError(errors)
    processed = []
    for raw in photos:
        try:
            processed.append(process_photo(raw, max_bytes=photo_max_bytes, max_pixels=photo_max_pixels))
        except ImageRejected as error:
            raise ValidationError({"photos": error.message}) from None
    return CustomerReport(name=values["name"], mobile=mobile or "", problem=values["problem"],
                          address=values.get("address") or None, urgent=form.get("urgent") in ("y", "on", "1", "true"),
                          device_text=values.get("device", ""), photos=processed)


def _open_duplicate(report: CustomerReport, device: Device | None, now: datetime,
                    same_browser: list[str]) -> Ticket | None:
    query = select(Ticket).where(Ticket.contact_phone == report.mobile,
                                 Ticket.reported_at >= now - DUPLICATE_WINDOW,
                                 Ticket.status.in_(TICKET_OPEN_STATES_SQL))
    if device is not None:
        query = query.where(Ticket.device_id == device.id)
    elif same_browser:
        query = query.where(Ticket.number.in_(same_browser[-10:]))
    else:
        return None
    return db.session.execute(query.order_by(Ticket.reported_at.desc()).limit(1)).scalar_one_or_none()


def _add_photos(ticket: Ticket, photos: list[ProcessedImage], now: datetime) -> None:
    for image in photos:
        ticket.photos.append(Photo(blob_sha256=store_blob_sha256(image.data, image.media_type),
                                   thumb_sha256=store_blob_sha256(image.thumb, "image/jpeg"),
                                   width=image.width, height=image.height, caption=PHOTO_CAPTION, taken_at=now,
                                   received_at=now, uploaded_by_id=None))


def _typed_device(text: str) -> Device | None:
    """The registered device whose asset or serial number the website's customer typed, linked to the request for
    customer service and the device's history (never shown back on a public page)."""
    from ..core.enums import DeviceState
    from ..devices.register import resolve_device

    found = resolve_device(text)
    return found if found is not None and found.state != DeviceState.RETIRED else None


def _customer_for(report: CustomerReport, device: Device | None) -> Customer:
    if device is not None and device.customer is not None:
        return device.customer
    known = db.session.execute(select(Customer).where(Customer.phone == report.mobile).order_by(Customer.id)
                               .limit(1)).scalar_one_or_none()
    if known is not None:
        return known
    customer = Customer(name=report.name, contact_person=report.name, phone=report.mobile, address=report.address)
    db.session.add(customer)
    return customer


def file_report(report: CustomerReport, *, device: Device | None, channel: Channel, now: datetime, tz: ZoneInfo,
                policy: Policy, remote_addr: str | None, same_browser: list[str]) -> tuple[Ticket, bool]:
    """Open the request (or join the open one): (request, joined)."""
    existing = _open_duplicate(report, device, now, same_browser)
    if existing is not None:
        if report.problem and report.problem not in existing.problem:
            stamp = in_zone(now, tz).strftime("%H:%M")
            existing.problem = f"{existing.problem}\n\n[{stamp}] {report.problem}"[:20000]
        if report.urgent and existing.urgency != Urgency.URGENT and existing.status == TicketStatus.NEW:
            existing.urgency = Urgency.URGENT
        _add_photos(existing, report.photos, now)
        record_event("ticket.customer_report_joined", actor=None, ticket=existing, entity=existing,
                     via=channel.value, remote_addr=remote_addr, photos=len(report.photos))
        return existing, True
    typed = _typed_device(report.device_text) if device is None else None
    model = device.device_model if device is not None else find_device_model(report.device_text)
    if typed is not None and model is None:
        model = typed.device_model
    registered = device or typed
    intake = Intake(customer=_customer_for(report, registered), contact_phone=report.mobile,
                    contact_name=report.name, address=report.address, device_model=model,
                    # What the customer typed stays what they see: the register's model is never shown to someone
                    # who typed an asset number without holding its label.
                    device_model_text=model.label if model and typed is None else report.device_text,
                    serial_number=registered.serial_number if registered else None, device=registered,
                    problem=report.problem, urgency=Urgency.URGENT if report.urgent else Urgency.NORMAL,
                    channel=channel, reported_at=now)
    ticket = open_ticket(intake, actor=None, tz=tz, created_at=now, via=channel.value)
    # The intake clock runs from the moment the customer sent it until customer service forwards it
    # (intake.accept_report); the first-contact clock starts then.
    start_clock(ticket, ClockName.INTAKE, now, now + policy.minutes("intake_minutes"), threshold=policy.intake_minutes)
    _add_photos(ticket, report.photos, now)
    alerts.customer_reported(ticket)
    return ticket, False
