"""The customer's signature: checked, cleaned, stored as evidence; signing locks the order and freezes its content."""
from __future__ import annotations

import base64
import binascii
import io
import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm.attributes import set_committed_value

from ..alerts.customer import queue_customer_copy
from ..alerts.mail import EMAIL_MAX, EMAIL_RE, valid_email
from ..core.audit import record_event
from ..core.blobs import store_blob_sha256
from ..core.context import AFTER_ARRIVAL, Context, checked_time, require_assignee
from ..core.db import db
from ..core.enums import ClockName, TicketStatus
from ..core.errors import DomainError, ValidationError
from ..core.types import utcnow
from ..documents.orders import freeze_order, order_rows
from ..fieldwork.models import Signature
from ..requests import workflow
from ..requests.models import Ticket
from ..sla.clocks import start_clock
from . import smscode
from .evidence import Location, record_evidence
from .flow import NO_WORK, FlowRefused
from .onsite import current_visit, ensure_not_locked

PNG_PREFIX = "data:image/png;base64,"
MAX_SIGNATURE_BYTES = 2 * 1024 * 1024
MIN_SIZE, MAX_SIZE = (60, 30), (4000, 2000)
INK_THRESHOLD = 160   # darker than this (0-255) counts as ink
MIN_INK_PIXELS = 40   # fewer inked pixels than this: a blank pad or a stray dot
MAX_STROKE_POINTS = 20000
INK_LUT = [255 if value < INK_THRESHOLD else 0 for value in range(256)]
TOO_MANY_POINTS = _l("The signature has too many points.")


def pad_rules() -> dict:
    """What the phone checks before it queues a signature, from the limits below and the e-mail rule: the same
    checks on the same pixels (flattened onto white, ink darker than the threshold), so the phone never queues a
    signature or an address the server would refuse."""
    return {"ink_threshold": INK_THRESHOLD, "min_ink_pixels": MIN_INK_PIXELS, "min_size": MIN_SIZE,
            "max_size": MAX_SIZE, "max_stroke_points": MAX_STROKE_POINTS, "email_pattern": EMAIL_RE.pattern,
            "email_max": EMAIL_MAX}


class SignatureError(ValidationError):
    def __init__(self, code: str, message):
        super().__init__({"signature_png": message})
        self.code = code


def clean_signature_png(data_url: str) -> bytes:
    """A real PNG of sane size with ink on it, flattened onto white and trimmed to the ink (plus a margin)."""
    if not isinstance(data_url, str) or not data_url.startswith(PNG_PREFIX):
        raise SignatureError("signature_not_png", _l("The signature must be a PNG image."))
    try:
        raw = base64.b64decode(data_url[len(PNG_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature_not_png", _l("The signature must be a PNG image.")) from None
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise SignatureError("signature_too_large", _l("The signature image is too large."))
    try:
        image = Image.open(io.BytesIO(raw))
        if image.format != "PNG":
            raise SignatureError("signature_not_png", _l("The signature must be a PNG image."))
        width, height = image.size
        if not (MIN_SIZE[0] <= width <= MAX_SIZE[0] and MIN_SIZE[1] <= height <= MAX_SIZE[1]):
            raise SignatureError("signature_bad_size", _l("The signature image has an unusual size."))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError):
        raise SignatureError("signature_not_png", _l("The signature must be a PNG image.")) from None
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # a pad's PNG: already RGBA, no copy
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, rgba).convert("L")
    ink = flat.point(INK_LUT)
    bbox = ink.getbbox()
    # Inked pixels counted in the raw bytes (255 each): a fifth of the time of a histogram.
    if bbox is None or ink.tobytes().count(255) < MIN_INK_PIXELS:
        raise SignatureError("signature_blank", _l("The signature is empty: ask the customer to sign."))
    left, top, right, bottom = bbox
    margin = 12
    box = (max(0, left - margin), max(0, top - margin), min(flat.width, right + margin),
           min(flat.height, bottom + margin))
    trimmed = flat.crop(box)
    out = io.BytesIO()
    # zlib's default level: within ~15% of optimize=True's size for a signature, at a seventh of its time on
    # the signing request (the PDF embeds it once; the phone already sent a compressed PNG).
    trimmed.save(out, "PNG")
    return out.getvalue()


def check_strokes(strokes) -> list:
    """The pad's stroke points ([[x, y, t], ...] per stroke), kept as evidence of a hand-drawn signature."""
    if not isinstance(strokes, list) or not strokes:
        raise ValidationError({"strokes": _l("The signature's strokes are missing.")})
    points = 0
    for stroke in strokes:
        if not isinstance(stroke, list):
            raise ValidationError({"strokes": _l("The signature's strokes are malformed.")})
        for point in stroke:
            if not (isinstance(point, list | dict)):
                raise ValidationError({"strokes": _l("The signature's strokes are malformed.")})
            points += 1
    if points > MAX_STROKE_POINTS:
        raise ValidationError({"strokes": TOO_MANY_POINTS})
    return strokes


def _code_state(ticket: Ticket, ctx: Context, sms_code: str | None) -> str:
    """Where the customer confirms with an SMS code (the policy page, else SIGNING_SMS_CODE): the code sent with the
    signature is checked before it is accepted (a wrong, expired or used code refuses it); none sent (the phone was
    offline) leaves the signature to be confirmed later from the tracking page."""
    if not smscode.required(ctx.settings()):
        return smscode.NOT_ASKED
    if not sms_code:
        return smscode.PENDING
    smscode.check_code(ticket, smscode.SIGNING, sms_code, site=ctx.settings(), now=utcnow())
    return smscode.CONFIRMED


def sign_order(ticket: Ticket, ctx: Context, *, signer_name: str, rating, comment: str | None,
               signature_png: str, strokes, device_id: str, signed_at_client: datetime | None,
               op_id: uuid.UUID | None = None, customer_email: str | None = None, user_agent: str | None = None,
               location: Location | None = None, sms_code: str | None = None) -> Signature:
    """The customer signs on the technician's phone: the order is locked, its content frozen and hashed,
    and the 2-hour submission clock starts. The PDF is rendered afterwards by the worker; a customer e-mail
    (given now or at intake) gets the link to the signed order."""
    require_assignee(ctx, ticket)
    ensure_not_locked(ticket)
    if ticket.status != TicketStatus.ON_SITE:
        raise DomainError("not_on_site", _l("Record your arrival at the customer's site first."))
    visit = current_visit(ticket)
    if visit.customer_confirmed_at is None:
        raise DomainError("not_confirmed",
                          _l("The customer has not confirmed that the device works normally yet."))
    if not (ticket.cause and ticket.work_done):  # the order the customer signs prints them (flow.py's order.signed)
        raise FlowRefused(NO_WORK.code, NO_WORK.message)
    errors = {}
    signer_name = (signer_name or "").strip()
    if not signer_name:
        errors["signer_name"] = _l("Enter the name of the person signing.")
    # The customer may skip the rating (it is their choice, and never a reason to leave a site unsigned).
    if rating is not None and (not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5):
        errors["rating"] = _l("The satisfaction rating is 1 to 5.")
    if errors:
        raise ValidationError(errors)
    png = clean_signature_png(signature_png)
    strokes = check_strokes(strokes)
    code_state = _code_state(ticket, ctx, sms_code)
    signed_at = utcnow()  # the server's clock: when the signature reached us (the phone's time is kept too)
    client_time = checked_time(signed_at_client, ctx, "signed_at", not_before=visit.arrived_at,
                               after=AFTER_ARRIVAL)
    # What signing reads, read before it writes: the signature, the request, its clock and the frozen order are
    # then written by one flush (reading after a write flushes it first, one round of the unit of work each).
    policy, site = ctx.rules(), ctx.settings()
    rows = order_rows(ticket)
    png_sha256 = store_blob_sha256(png, "image/png")
    # Not yet signed, so not yet frozen: only signing and a remote fix freeze an order, and a request fixed
    # remotely never reaches the site (flow.py); the order's unique ticket_id would refuse a second one anyway.
    set_committed_value(ticket, "service_order", None)
    with db.session.no_autoflush:  # what is still loaded below (clocks, customer...) is nothing this op writes
        signature = Signature(ticket=ticket, signer_name=signer_name[:100], rating=rating,
                              comment=(comment or "").strip()[:1000] or None, png_sha256=png_sha256,
                              strokes=strokes, signed_at_client=client_time, signed_at=signed_at,
                              device_id=(device_id or "")[:64], technician_id=ctx.actor.id, op_id=op_id)
        db.session.add(signature)
        evidence = record_evidence(ticket, signature, visit, user_agent=user_agent, location=location,
                                   code_state=code_state)
        workflow.move(ticket, TicketStatus.SIGNED, actor=ctx.actor, action="order.signed", via=ctx.via,
                      remote_addr=ctx.remote_addr, signer=signer_name[:100], device_id=(device_id or "")[:64])
        # The service ended when the customer signed (the phone's time: it may have synced much later).
        ticket.service_ended_at = client_time
        start_clock(ticket, ClockName.SUBMISSION, client_time, client_time + policy.minutes("submission_minutes"),
                    threshold=policy.submission_minutes)
        customer_email = (customer_email or "").strip()
        if customer_email:
            if valid_email(customer_email):
                ticket.customer_email = customer_email
            else:  # the signature stands; only the copy by e-mail is not sent
                record_event("customer_email.refused", actor=ctx.actor, ticket=ticket, via=ctx.via,
                             value=customer_email[:254])
        order = freeze_order(ticket, site=site, now=client_time, rows=rows, evidence=evidence)
    queue_customer_copy(ticket, order, site)
    return signature
