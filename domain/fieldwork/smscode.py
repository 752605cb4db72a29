"""The customer's one-time code (SIGNING_SMS_CODE): six digits sent by SMS to the request's mobile number, valid
10 minutes, 5 tries, kept only as a keyed hash. On the phone, with network, the code is asked for before the
customer signs and `order.signed` carries it (the server checks it before the signature is accepted); offline, the
signature is accepted and its evidence says "code not yet confirmed", and the customer confirms it later from the
tracking page (purpose "tracking")."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..alerts.channels import mobile_of
from ..alerts.models import ChannelMessage
from ..alerts.sms import SmsKind, sms_row
from ..core.db import db
from ..core.deferred import after_commit_task
from ..core.enums import OpStatus, TicketStatus
from ..core.errors import DomainError
from ..core.site import Site
from ..requests.models import Ticket
from ..sla.policy import signing_code_required
from .models import SigningCode, SigningEvidence, SyncOp

CODE_TTL = timedelta(minutes=10)
MAX_TRIES = 5
RESEND_PAUSE = timedelta(seconds=60)  # one code a minute per request and purpose
SIGNING, TRACKING = "signing", "tracking"
CODE_RE = re.compile(r"[0-9]{6}")
# Code states of the evidence record.
NOT_ASKED, CONFIRMED, PENDING = "not_asked", "confirmed", "pending"
WRONG = "sms_code_wrong"


def _hash(site: Site, ticket_id: int, purpose: str, code: str) -> str:
    return hmac.new(site.secret_key.encode(), f"{ticket_id}:{purpose}:{code}".encode(), hashlib.sha256).hexdigest()


def _latest(ticket: Ticket, purpose: str) -> SigningCode | None:
    return db.session.scalar(select(SigningCode).where(SigningCode.ticket_id == ticket.id,
                                                       SigningCode.purpose == purpose)
                             .order_by(SigningCode.id.desc()).limit(1))


def required(site: Site) -> bool:
    """Whether the customer confirms a signature with an SMS code: the administrator's choice on the policy page,
    else the deployment's SIGNING_SMS_CODE."""
    return signing_code_required(site.signing_sms_code)


def may_send_for_signing(ticket: Ticket, ctx) -> None:
    """A code for the customer about to sign: asked by the request's technician, on site, before it is signed."""
    from ..core.context import require_assignee
    from .onsite import ensure_not_locked

    if not required(ctx.settings()):
        raise DomainError("sms_code_off", _l("Signing codes are not used here (SIGNING_SMS_CODE)."))
    require_assignee(ctx, ticket)
    ensure_not_locked(ticket)
    if ticket.status != TicketStatus.ON_SITE:
        raise DomainError("not_on_site", _l("Record your arrival at the customer's site first."))


def send_code(ticket: Ticket, purpose: str, *, site: Site, now: datetime) -> SigningCode:
    """A new code for the request's mobile number, queued as an SMS (sent by the worker through the SMS channel)."""
    mobile = mobile_of(ticket.contact_phone)
    if mobile is None:
        raise DomainError("no_mobile", _l("The request has no mobile number to send a code to."))
    last = _latest(ticket, purpose)
    if last is not None and now - last.created_at < RESEND_PAUSE:
        raise DomainError("sms_code_too_soon", _l("A code was sent less than a minute ago: wait for it."))
    code = f"{secrets.randbelow(10 ** 6):06d}"
    row = SigningCode(ticket=ticket, purpose=purpose, mobile=mobile, code_hash=_hash(site, ticket.id, purpose,
                                                                                           code),
                      created_at=now, expires_at=now + CODE_TTL, tries=0)
    db.session.add(row)
    message = sms_row(SmsKind.CUSTOMER_SIGNING_CODE, mobile, f"code:{ticket.number}:{purpose}:{now.isoformat()}",
                      {"number": ticket.number, "code": code}, ticket_id=None, now=now)
    db.session.add(ChannelMessage(**message, ticket=ticket))
    after_commit_task("send_channel_messages")
    return row


def _refused_ops(ticket: Ticket, since: datetime) -> int:
    """Wrong codes sent with `order.signed`: their op is refused (and its writes undone), its record stays."""
    return db.session.execute(select(func.count(SyncOp.id)).where(
        SyncOp.ticket_id == ticket.id, SyncOp.kind == "order.signed", SyncOp.status == OpStatus.REJECTED,
        SyncOp.code == WRONG, SyncOp.received_at >= since)).scalar_one()


def check_code(ticket: Ticket, purpose: str, code, *, site: Site, now: datetime) -> SigningCode:
    """The latest code of the request for this purpose, checked and used; a refusal names why (each a code)."""
    if not isinstance(code, str) or not CODE_RE.fullmatch(code.strip()):
        raise DomainError("sms_code_malformed", _l("The code is the six digits of the SMS."))
    row = _latest(ticket, purpose)
    if row is None:
        raise DomainError("sms_code_missing", _l("No code was sent for this request: send one first."))
    if row.used_at is not None:
        raise DomainError("sms_code_used", _l("This code was already used: send a new one."))
    if row.tries + (_refused_ops(ticket, row.created_at) if purpose == SIGNING else 0) >= MAX_TRIES:
        raise DomainError("sms_code_too_many_tries", _l("Too many wrong codes: send a new one."))
    if now > row.expires_at:
        raise DomainError("sms_code_expired", _l("The code has expired: send a new one."))
    if not hmac.compare_digest(row.code_hash, _hash(site, ticket.id, purpose, code.strip())):
        row.tries += 1
        raise DomainError(WRONG, _l("The code is not the one sent by SMS."))
    row.used_at = now
    return row


def confirmed_later(ticket_id: int) -> datetime | None:
    """When the customer confirmed their signature from the tracking page, if they did."""
    return db.session.scalar(select(SigningCode.used_at).where(
        SigningCode.ticket_id == ticket_id, SigningCode.purpose == TRACKING, SigningCode.used_at.is_not(None))
        .order_by(SigningCode.used_at).limit(1))


def awaiting_confirmation(ticket: Ticket) -> bool:
    """The signature was accepted offline without the code, and the customer has not confirmed it since."""
    state = db.session.scalar(select(SigningEvidence.code_state).where(SigningEvidence.ticket_id == ticket.id))
    return state == PENDING and confirmed_later(ticket.id) is None


NOTHING_TO_CONFIRM = _l("There is no signature waiting for your confirmation.")


def send_for_tracking(ticket: Ticket, *, site: Site, now: datetime) -> SigningCode:
    """From the tracking page: a code to the request's mobile number, for a signature accepted offline."""
    if not awaiting_confirmation(ticket):
        raise DomainError("nothing_to_confirm", NOTHING_TO_CONFIRM)
    return send_code(ticket, TRACKING, site=site, now=now)


def confirm_from_tracking(ticket: Ticket, code, *, site: Site, now: datetime) -> SigningCode:
    """The customer confirms their signature with the code (the evidence record stays as written; the code's row
    says when it was confirmed). A wrong code counts a try: the caller commits it with the refusal shown."""
    from ..core.audit import record_event

    if not awaiting_confirmation(ticket):
        raise DomainError("nothing_to_confirm", NOTHING_TO_CONFIRM)
    row = check_code(ticket, TRACKING, code, site=site, now=now)
    record_event("signature.code_confirmed", actor=None, ticket=ticket, via="tracking")
    return row
