"""The evidence record: what the phone knew when the customer signed (the phone's and the server's times, the
device, its browser, the signer, the strokes, the customer's mobile number, where the phone was at arrival and at
signing when the technician allowed it), written once with the signature and never changed (models.py)."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select

from ..core.db import db
from ..core.validation import canonical_json
from ..requests.models import Ticket
from .models import Signature, SigningEvidence, Visit

USER_AGENT_MAX = 500
Location = tuple[float, float, float | None]


def _iso(value: datetime | None) -> str | None:
    """In UTC: the same text for a time as given by the phone and as read back from either database."""
    return None if value is None else value.astimezone(UTC).isoformat()


def record_fields(evidence: SigningEvidence) -> dict:
    """The record as plain data: what its hash covers."""
    return {
        "signed_at_client": _iso(evidence.signed_at_client), "signed_at": _iso(evidence.signed_at),
        "device_id": evidence.device_id, "user_agent": evidence.user_agent, "signer_name": evidence.signer_name,
        "strokes": evidence.strokes, "customer_mobile": evidence.customer_mobile,
        "arrival": _place(evidence.arrival_lat, evidence.arrival_lng, evidence.arrival_accuracy_m),
        "signing": _place(evidence.signing_lat, evidence.signing_lng, evidence.signing_accuracy_m),
        "code": evidence.code_state,
    }


def _place(lat, lng, accuracy) -> dict | None:
    return None if lat is None else {"lat": float(lat), "lng": float(lng),
                                     "accuracy_m": None if accuracy is None else float(accuracy)}


def evidence_summary(fields: dict) -> dict:
    """Which evidence an order has, without the details (the customer's copy, the request page): the record's
    hash, the two times, whether the device and each location were recorded, the SMS code's state."""
    return {"record_sha256": fields.get("record_sha256"), "signed_at": fields.get("signed_at"),
            "signed_at_client": fields.get("signed_at_client"), "device": bool(fields.get("device_id")),
            "location_at_arrival": fields.get("arrival") is not None,
            "location_at_signing": fields.get("signing") is not None, "code": fields.get("code")}


def record_hash(evidence: SigningEvidence) -> str:
    return hashlib.sha256(canonical_json(record_fields(evidence)).encode("utf-8")).hexdigest()


def record_evidence(ticket: Ticket, signature: Signature, visit: Visit, *, user_agent: str | None,
                    location: Location | None, code_state: str = "not_asked") -> SigningEvidence:
    """Add the evidence record of a signature being accepted (the caller's flush writes it)."""
    signing = location or (None, None, None)
    evidence = SigningEvidence(
        ticket=ticket, signature=signature, signed_at_client=signature.signed_at_client,
        signed_at=signature.signed_at, device_id=signature.device_id,
        user_agent=(user_agent or "").replace("\x00", "")[:USER_AGENT_MAX] or None,
        signer_name=signature.signer_name, strokes=signature.strokes, customer_mobile=ticket.contact_phone or None,
        arrival_lat=visit.arrival_lat, arrival_lng=visit.arrival_lng, arrival_accuracy_m=visit.arrival_accuracy_m,
        signing_lat=signing[0], signing_lng=signing[1], signing_accuracy_m=signing[2], code_state=code_state)
    evidence.record_sha256 = record_hash(evidence)
    db.session.add(evidence)
    return evidence


def evidence_of(ticket_id: int) -> SigningEvidence | None:
    return db.session.scalar(select(SigningEvidence).where(SigningEvidence.ticket_id == ticket_id))


def page_evidence(ticket: Ticket) -> dict | None:
    """The request page's evidence line: which evidence the signature has, with the device and both times."""
    record = evidence_of(ticket.id) if ticket.signature is not None else None
    if record is None:
        return None
    from .smscode import PENDING, confirmed_later

    summary = evidence_summary(record_fields(record))
    if record.code_state == PENDING and confirmed_later(ticket.id) is not None:
        summary["code"] = "confirmed_later"
    return {**summary, "signed_at": record.signed_at, "signed_at_client": record.signed_at_client,
            "device_id": record.device_id}
