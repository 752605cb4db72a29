"""Is this file a genuine service order? One plain answer for any upload (the verify page, POST /api/v1/verify,
`flask orders verify`), from the company seal (pyHanko: the signature intact, over the whole file, by a certificate
of ours known by its fingerprint, with the time-stamping authority's time) and the record kept in the database
(the content hash of the customer's copy, the files issued).

Each way a file can fail has its own reason, so that the answer says which part is wrong: not a PDF, no seal, the
seal broken by an edit inside the sealed bytes, something appended after sealing (text, an image such as the
signature), a re-saved copy (the file written again by another program, so the seal no longer frames it), a seal
by another certificate, content that differs from the record.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import or_, select

from ..core.db import db
from ..core.enums import SealState
from ..core.site import Site
from .models import ServiceOrder
from .orders import CUSTOMER_COPY_FORMAT, content_hash, customer_copy

log = logging.getLogger(__name__)

# Every answer the check gives (the API documents them): the first three are genuine.
REASONS = ("genuine", "earlier_copy", "awaiting_seal", "empty", "too_large", "not_pdf", "damaged", "no_seal",
           "seal_broken", "content_changed", "image_replaced", "modified_after_sealing", "foreign_certificate",
           "content_differs", "unknown_order", "resaved_copy")


@dataclass
class Verdict:
    genuine: bool
    reason: str
    number: str | None = None
    facts: dict = field(default_factory=dict)

    def as_json(self, site: Site) -> dict:
        return {"genuine": self.genuine, "reason": self.reason, "message": sentence(self, site),
                "number": self.number}


def sentence(verdict: Verdict, site: Site) -> str:
    """The answer in one sentence, in the current language."""
    facts = verdict.facts
    company = facts.get("company") or site.company
    number = verdict.number or ""
    when = facts.get("signed_at")
    time = when.astimezone(site.tz).strftime("%Y-%m-%d %H:%M") if isinstance(when, datetime) else ""
    reason = verdict.reason
    if reason == "genuine":
        return _("This is a genuine service order of %(company)s (%(number)s), signed on %(time)s; it has not "
                 "been changed since it was signed.", company=company, time=time, number=number)
    if reason == "awaiting_seal":
        return _("This is a genuine service order of %(company)s (%(number)s), signed on %(time)s: byte for byte the "
                 "file on record. The company seal is added to it shortly.", company=company, time=time,
                 number=number)
    if reason == "earlier_copy":
        return _("This is a genuine earlier copy of a service order of %(company)s (%(number)s), signed on "
                 "%(time)s: byte for byte a file the company issued before the current copy (which carries the "
                 "company seal).", company=company, time=time, number=number)
    alone = {
        "empty": _("The file is empty: choose the service order's PDF."),
        "too_large": _("The file is too large to be a service order."),
        "not_pdf": _("This file is not a PDF."),
        "damaged": _("This file is not a readable PDF: it may be damaged or cut short."),
        "no_seal": _("This PDF carries no seal of %(company)s: it is not a service order issued by the company.",
                     company=company),
    }
    if reason in alone:
        return alone[reason]
    parts = {
        "seal_broken": _("the company seal is broken: the file was edited after it was sealed."),
        "content_changed": _("text or pages were changed after the file was sealed."),
        "image_replaced": _("an image (such as the customer's signature) was replaced after the file was sealed."),
        "modified_after_sealing": _("something was added to the file after it was sealed."),
        "foreign_certificate": _("it is sealed with a certificate that is not %(company)s's.", company=company),
        "content_differs": _("its content differs from the service order on record."),
        "unknown_order": _("it carries the company seal but names a service order that is not on record."),
        "resaved_copy": _("it is a re-saved copy: its content matches service order %(number)s, but the file was "
                          "saved again by another program, so the seal no longer proves it. Ask the company for "
                          "the original.", number=number),
    }
    return _("This file does not match the service order as it was signed: %(part)s",
             part=parts.get(reason, reason))


# --- reading the file ---------------------------------------------------------------------------------------


def _attached_content(reader) -> dict | None:
    """The service order's JSON attached to the PDF (the customer's copy), or None."""
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        for index in range(1, len(names), 2):
            spec = names[index].get_object()
            data = _inflate_at_most(spec["/EF"]["/F"].get_object(), ATTACHMENT_MAX_BYTES)
            if data is None:
                continue
            content = json.loads(data.decode("utf-8"))
            if isinstance(content, dict) and content.get("format") == CUSTOMER_COPY_FORMAT:
                return content
    except Exception:  # noqa: BLE001 - a file without (or with a broken) attachment is simply not one of ours
        return None
    return None


# The customer's copy as JSON is some KB (100 KB with 40 notes): an attachment that inflates past this is not one.
ATTACHMENT_MAX_BYTES = 4 * 1024 * 1024


def _inflate_at_most(stream, limit: int) -> bytes | None:
    """The stream's bytes when it is stored plain or deflated and inflates to at most `limit` bytes: a small file
    can inflate to gigabytes (a decompression bomb), and reading it whole would take the server's memory."""
    import zlib

    filters = stream.get("/Filter")
    if filters is None:
        return stream.encoded_data if len(stream.encoded_data) <= limit else None
    if isinstance(filters, list):
        if len(filters) != 1:
            return None
        filters = filters[0]
    if filters != "/FlateDecode" or "/DecodeParms" in stream:
        return None
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(stream.encoded_data, limit + 1)
    except zlib.error:
        return None
    return data if len(data) <= limit else None


def _frames_file(signature, data: bytes) -> bool:
    """Whether the signature's byte range still frames this file: its gap is exactly the signature's hex string.
    A program that saves the whole file again moves everything, and the range points into unrelated bytes."""
    try:
        start, gap_start, gap_end, length = (int(v) for v in signature.sig_object["/ByteRange"])
    except Exception:  # noqa: BLE001
        return False
    gap_end = start + gap_end
    return (start == 0 and 0 < gap_start < gap_end <= len(data) and gap_end + length <= len(data)
            and data[gap_start:gap_start + 1] == b"<" and data[gap_end - 1:gap_end] == b">")


def _name(certificate) -> str:
    """The certificate holder's name as a reader knows it (the common name), else the whole subject."""
    names = certificate.subject.native
    return str(names.get("common_name") or names.get("organization_name") or certificate.subject.human_friendly)


def _timestamp_certificates(signature) -> list:
    try:
        for attribute in signature.signer_info["unsigned_attrs"]:
            if attribute["type"].native == "signature_time_stamp_token":
                return [c.chosen for c in attribute["values"][0]["content"]["certificates"]]
    except (KeyError, TypeError, ValueError):
        pass
    return []


def _change_after_sealing(reader, signature) -> str:
    """What the revisions appended after the seal change: an image (the signature, a photo), or the pages. Objects
    are only looked at, never decoded."""
    from pyhanko.pdf_utils import generic
    try:
        xrefs = reader.xrefs
        for revision in range(signature.signed_revision + 1, xrefs.total_revisions):
            for ref in xrefs.explicit_refs_in_revision(revision):
                obj = reader.get_object(ref, revision=revision)
                if isinstance(obj, generic.StreamObject) and obj.get("/Subtype") == "/Image":
                    return "image_replaced"
        for revision in range(signature.signed_revision + 1, xrefs.total_revisions):
            for ref in xrefs.explicit_refs_in_revision(revision):
                obj = reader.get_object(ref, revision=revision)
                if isinstance(obj, generic.StreamObject) or (
                        isinstance(obj, generic.DictionaryObject) and obj.get("/Type") in ("/Page", "/Pages")):
                    return "content_changed"
    except Exception:  # noqa: BLE001 - an unreadable update is still an update after sealing
        log.debug("could not classify the update after sealing", exc_info=True)
    return "modified_after_sealing"


# --- what the database knows --------------------------------------------------------------------------------


def known_certificates(site: Site) -> set[str]:
    """Fingerprints of the certificates that sealed orders here (a rotated key's earlier orders stay ours), and the
    current seal's when it exists (never generated by a check)."""
    known = set(db.session.execute(select(ServiceOrder.seal_cert_sha256).distinct()
                                   .where(ServiceOrder.seal_cert_sha256.is_not(None))).scalars())
    try:
        from .seal import SealUnavailable, generated_seal_path, seal_identity

        if site.seal_pkcs12 or (site.instance_path and generated_seal_path(site.instance_path).exists()):
            known.add(seal_identity(site).fingerprint)
    except SealUnavailable:
        pass
    return known


def _order_by_number(number) -> ServiceOrder | None:
    if not isinstance(number, str) or not number or len(number) > 40:
        return None
    from ..requests.models import Ticket

    return db.session.execute(select(ServiceOrder).join(ServiceOrder.ticket)
                              .where(Ticket.number == number)).scalar_one_or_none()


def _signed_time(order: ServiceOrder | None, content: dict | None, fallback: datetime | None) -> datetime | None:
    signature = (content or {}).get("signature") or {}
    for value in (signature.get("signed_at_client"), signature.get("signed_at"),
                  (content or {}).get("remote_resolved_at")):
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                continue
    if order is not None and order.ticket.signature is not None:
        return order.ticket.signature.signed_at_client or order.ticket.signature.signed_at
    return fallback


# --- the check ----------------------------------------------------------------------------------------------


def check_pdf(data: bytes, site: Site, *, max_bytes: int) -> Verdict:
    """The verdict on an uploaded file. Never raises for what a file contains."""
    if not data:
        return Verdict(False, "empty")
    if len(data) > max_bytes:
        return Verdict(False, "too_large")
    digest = hashlib.sha256(data).hexdigest()
    facts: dict = {"file_sha256": digest, "company": site.company}
    earlier = db.session.execute(select(ServiceOrder).where(or_(
        ServiceOrder.unsealed_pdf_sha256 == digest, ServiceOrder.superseded_pdf_sha256 == digest))).scalars().first()
    if earlier is not None and earlier.pdf_sha256 != digest:
        facts["signed_at"] = _signed_time(earlier, None, earlier.created_at)
        return Verdict(True, "earlier_copy", earlier.ticket.number, facts)
    waiting = db.session.execute(select(ServiceOrder).where(ServiceOrder.pdf_sha256 == digest,
                                                            ServiceOrder.seal_state != SealState.SEALED)
                                 ).scalars().first()
    if waiting is not None:  # rendered, its seal not added yet (or failing): the stored file itself
        facts["signed_at"] = _signed_time(waiting, None, waiting.created_at)
        return Verdict(True, "awaiting_seal", waiting.ticket.number, facts)
    if b"%PDF-" not in data[:1024]:
        return Verdict(False, "not_pdf", facts=facts)
    try:
        return _check_sealed(data, site, facts)
    except Exception:  # noqa: BLE001 - whatever a hostile file does to the parser, the answer is a plain one
        log.info("an uploaded PDF could not be read", exc_info=True)
        return Verdict(False, "damaged", facts=facts)


def _check_sealed(data: bytes, site: Site, facts: dict) -> Verdict:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    content = _attached_content(reader)
    number = content.get("number") if content else None
    order = _order_by_number(number)
    number = number if isinstance(number, str) and order is not None else None
    if content:
        facts["content_sha256"] = content_hash(content)
        if content.get("company"):
            facts["company"] = str(content["company"])[:200]
    record_hash = customer_copy(order)[1] if order is not None else None
    facts["record_sha256"] = record_hash
    content_matches = record_hash is not None and facts.get("content_sha256") == record_hash
    facts["signed_at"] = _signed_time(order, content, None)

    signatures = reader.embedded_signatures
    if not signatures:
        if content_matches:
            return Verdict(False, "resaved_copy", number, facts)
        return Verdict(False, "content_differs" if order is not None else "no_seal", number, facts)
    known = known_certificates(site)
    ours = [s for s in signatures if s.signer_cert.sha256.hex() in known]
    if not ours:
        signer = signatures[-1].signer_cert
        facts.update(signer=_name(signer), cert_sha256=signer.sha256.hex())
        return Verdict(False, "foreign_certificate", number, facts)
    signature = ours[0]
    certificate = signature.signer_cert
    facts.update(signer=_name(certificate), cert_sha256=certificate.sha256.hex(),
                 self_created=certificate.self_signed != "no",
                 sealed_at=signature.self_reported_timestamp)
    if not _frames_file(signature, data):
        return Verdict(False, "resaved_copy" if content_matches else "seal_broken", number, facts)
    context = ValidationContext(trust_roots=[certificate], allow_fetching=False, revocation_mode="soft-fail")
    # The timestamp's certificates as the token carries them: the check says which TSA certified the time (its
    # name is in the details); whether to trust that TSA is the reader's judgement, not something a file proves.
    ts_context = ValidationContext(trust_roots=_timestamp_certificates(signature) or [certificate],
                                   allow_fetching=False, revocation_mode="soft-fail")
    from .seal import outside_any_event_loop

    status = outside_any_event_loop(validate_pdf_signature, signature, context, ts_context, skip_diff=True)
    if not (status.intact and status.valid):
        return Verdict(False, "seal_broken", number, facts)
    stamp = status.timestamp_validity
    if stamp is not None:
        facts.update(timestamp_at=stamp.timestamp, timestamp_ok=bool(stamp.intact and stamp.valid),
                     tsa=_name(stamp.signing_cert) if stamp.signing_cert else None)
        if not (stamp.intact and stamp.valid):
            return Verdict(False, "seal_broken", number, facts)
    if signature.evaluate_signature_coverage() != SignatureCoverageLevel.ENTIRE_FILE or len(signatures) > 1:
        return Verdict(False, _change_after_sealing(reader, signature), number, facts)
    if order is None:
        return Verdict(False, "unknown_order", None, facts)
    if order.seal_cert_sha256 and order.seal_cert_sha256 != certificate.sha256.hex():
        return Verdict(False, "foreign_certificate", number, facts)
    if not content_matches:
        return Verdict(False, "content_differs", number, facts)
    return Verdict(True, "genuine", number, facts)
