"""The service order 《技术支持服务单》 as a document: its canonical content, the content hash, and the PDF.

The content is frozen when the order closes (signing on site, or a remote fix), serialised as stable JSON and
hashed; the PDF is rendered once from that content, stored as a blob, and served from storage afterwards.
The worker renders it after the commit, holding no transaction while WeasyPrint works; a failed render is
retried with backoff by the worker's minute tick (`flask orders render-pending` and the next download too).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import subprocess
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask_babel import force_locale
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm.attributes import set_committed_value

from ..core.audit import record_event
from ..core.blobs import store_blob
from ..core.db import db, take_write_lock
from ..core.deferred import after_commit_task
from ..core.enums import RenderState, Resolution, SealState
from ..core.labels import clock_labels
from ..core.models import Blob, User
from ..core.site import Site
from ..core.site import current as current_site
from ..core.types import in_zone, utcnow
from ..core.validation import canonical_json
from ..documents.models import ServiceOrder
from ..fieldwork.evidence import evidence_of, evidence_summary, record_fields
from ..fieldwork.models import Photo, PrepItem, SigningEvidence
from ..requests.models import ContactAttempt, Customer, DeviceCategory, ProgressNote, RemoteSession, Ticket
from ..requests.serialise import iso as _iso
from ..requests.serialise import request_summary
from ..sla.clocks import ticket_clocks
from ..sla.policy import current_policy

log = logging.getLogger(__name__)
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
STATIC_PRINT = Path(__file__).resolve().parents[2] / "static" / "print"
CANONICAL_VERSION = 1


# --- content ------------------------------------------------------------------------------------------------


# The rows an order shows that closing it does not change, each read with one plain SELECT in the order its
# relationship declares: signing happens inside a phone's sync batch, where loading them through the ORM one
# relationship at a time cost more than the rest of the signature.
_ORDER_ROWS = {
    "contacts": select(ContactAttempt.at, ContactAttempt.method, ContactAttempt.reached, ContactAttempt.note)
    .where(ContactAttempt.ticket_id == bindparam("ticket_id")).order_by(ContactAttempt.at),
    "remote": select(RemoteSession.method, RemoteSession.started_at, RemoteSession.ended_at, RemoteSession.outcome,
                     RemoteSession.steps)
    .where(RemoteSession.ticket_id == bindparam("ticket_id")).order_by(RemoteSession.started_at),
    "checklist": select(PrepItem.kind, PrepItem.label, PrepItem.checked)
    .where(PrepItem.visit_id == bindparam("visit_id")).order_by(PrepItem.position),
    # The author's name as a subquery, not a join: the notes are read (and ordered) as the relationship reads them.
    "notes": select(ProgressNote.id, ProgressNote.written_at,
                    select(User.display_name).where(User.id == ProgressNote.author_id).scalar_subquery()
                    .label("author"), ProgressNote.text, ProgressNote.shown_to_customer)
    .where(ProgressNote.ticket_id == bindparam("ticket_id")).order_by(ProgressNote.written_at),
    "photos": select(Photo.blob_sha256, Photo.thumb_sha256, Photo.caption, Photo.taken_at, Photo.width,
                     Photo.height)
    .where(Photo.ticket_id == bindparam("ticket_id")).order_by(Photo.taken_at),
}
# What those rows (and the customer and device category read with them) come from: pending changes to these are
# written before reading; the session's others are not (in a sync run, the visit's other steps, which the rows do
# not show: flushed here, they would cost one more round of the unit of work before the run's own at its end).
_ORDER_ROW_SOURCES = (ContactAttempt, RemoteSession, PrepItem, ProgressNote, User, Photo, Customer, DeviceCategory)


@dataclass(frozen=True)
class OrderRows:
    """What `canonical_content` reads of a request's contacts, remote sessions, checklist, notes and photos."""
    contacts: list
    remote: list
    checklist: list
    notes: list
    photos: list


def order_rows(ticket: Ticket) -> OrderRows:
    """Read the rows now (pending changes to them written first). Signing reads them before it writes, so that
    its own writes are flushed once, together."""
    session = db.session()
    if any(isinstance(obj, _ORDER_ROW_SOURCES) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.flush()
    with session.no_autoflush:
        return _read_order_rows(ticket)


def _read_order_rows(ticket: Ticket) -> OrderRows:
    unloaded = inspect(ticket).unloaded
    if {"customer", "device_category"} <= unloaded and ticket.device_category_id is not None:
        # Both with one query rather than a load each.
        customer, category = db.session.execute(
            select(Customer, DeviceCategory).where(Customer.id == ticket.customer_id)
            .outerjoin(DeviceCategory, DeviceCategory.id == ticket.device_category_id)).one()
        set_committed_value(ticket, "customer", customer)
        set_committed_value(ticket, "device_category", category)
    connection = db.session.connection()
    visit = ticket.current_visit
    read = {name: connection.execute(query, {"ticket_id": ticket.id}).all()
            for name, query in _ORDER_ROWS.items() if name != "checklist"}
    checklist = [] if visit is None else connection.execute(_ORDER_ROWS["checklist"], {"visit_id": visit.id}).all()
    return OrderRows(checklist=checklist, **read)


def canonical_content(ticket: Ticket, *, locale: str, company: str, now: datetime,
                      rows: OrderRows | None = None, evidence: SigningEvidence | None = None) -> dict:
    """Everything the order shows, as plain data: what the hash covers and what the PDF is rendered from.
    `rows`: `order_rows(ticket)` read earlier by the caller (read now otherwise)."""
    if rows is None:
        rows = order_rows(ticket)
    visit = ticket.current_visit
    signature = ticket.signature
    if evidence is None and signature is not None:
        evidence = evidence_of(ticket.id)
    summary = request_summary(ticket, now)
    del summary["status"]  # a document states what was done, not the request's state when it was frozen
    return {
        "format": "fieldservice.service-order",
        "version": CANONICAL_VERSION,
        "company": company,
        "locale": locale,
        **summary,
        "kind": (ticket.resolution or Resolution.ON_SITE).value,
        "technician": {"username": ticket.assignee.username, "name": ticket.assignee.display_name}
        if ticket.assignee else None,
        "contacts": [{"at": _iso(c.at), "method": c.method.value, "reached": c.reached, "note": c.note}
                     for c in rows.contacts],
        "remote": [{"method": r.method.value, "started_at": _iso(r.started_at), "ended_at": _iso(r.ended_at),
                    "outcome": r.outcome.value, "steps": r.steps} for r in rows.remote],
        "cause": ticket.cause,
        "work_done": ticket.work_done,
        "remote_resolved_at": _iso(ticket.remote_resolved_at),
        "visit": None if visit is None else {
            "scheduled_at": _iso(visit.scheduled_at), "address": visit.address,
            "prepared_at": _iso(visit.prep_confirmed_at),
            "checklist": [{"kind": i.kind.value, "label": i.label, "checked": i.checked}
                          for i in rows.checklist],
            "arrived_at": _iso(visit.arrived_at),
            "problem_confirmed": visit.confirmed_problem,
            "customer_confirmed_at": _iso(visit.customer_confirmed_at),
            "customer_confirmation": visit.customer_confirmation,
            "failures_acknowledged": visit.failures_acknowledged,
            "precautions_told_at": _iso(visit.precautions_told_at),
        },
        "notes": [{"id": str(n.id), "at": _iso(n.written_at), "author": n.author, "text": n.text,
                   "shown_to_customer": n.shown_to_customer} for n in rows.notes],
        "photos": [{"sha256": p.blob_sha256, "thumb_sha256": p.thumb_sha256, "caption": p.caption,
                    "taken_at": _iso(p.taken_at), "width": p.width, "height": p.height} for p in rows.photos],
        "tests": [{"item": t.item, "passed": t.passed, "not_applicable": t.not_applicable, "note": t.note}
                  for t in ticket.tests],
        "precautions": [p.text for p in ticket.precautions],
        **device_content(ticket),
        "signature": None if signature is None else {
            "signer_name": signature.signer_name, "rating": signature.rating, "comment": signature.comment,
            "png_sha256": signature.png_sha256, "signed_at": _iso(signature.signed_at),
            "signed_at_client": _iso(signature.signed_at_client), "device_id": signature.device_id,
            "strokes_sha256": hashlib.sha256(canonical_json(signature.strokes).encode()).hexdigest(),
        },
        # The evidence record (absent from orders signed before it was kept): its hash, and what it holds.
        **({} if evidence is None else {"evidence": _evidence_content(evidence)}),
    }


def _unit(device) -> dict:
    return {"asset_number": device.asset_number, "serial": device.serial_number, "model": device.device_model.label}


def device_content(ticket: Ticket) -> dict:
    """The registered device's numbers, the swap done on the visit and the spare parts used (issue 22): the
    register's serial number when the request names a registered device."""
    from ..devices import onsite as device_onsite
    swap = device_onsite.ticket_swap(ticket) if ticket.id is not None else None
    parts = device_onsite.ticket_parts(ticket) if ticket.id is not None else []
    return {
        "unit": _unit(ticket.device) if ticket.device is not None else None,
        "swap": None if swap is None else {"out": _unit(swap.out_device), "in": _unit(swap.in_device),
                                           "at": _iso(swap.swapped_at)},
        "parts": [{"part": part.code, "zh": part.zh, "en": part.en, "count": count} for part, count in parts],
    }


def _evidence_content(evidence: SigningEvidence) -> dict:
    fields = record_fields(evidence)
    del fields["strokes"]  # hashed with the signature above and in the record's hash
    return {"record_sha256": evidence.record_sha256, **fields}


def content_hash(content: dict) -> str:
    return frozen_hash(canonical_json(content))


def frozen_hash(frozen: str) -> str:
    """The hash of content already serialised by `canonical_json`."""
    return hashlib.sha256(frozen.encode("utf-8")).hexdigest()


# --- the customer's copy -----------------------------------------------------------------------------------

CUSTOMER_COPY_FORMAT = "fieldservice.service-order.customer-copy"


def customer_view(content: dict, *, record_sha256: str) -> dict:
    """What the customer may see of the frozen content: the copy they sign for, download and are sent. Chosen
    field by field, so that a field added to the frozen record stays internal until it is named here: no internal
    notes, no contact log, no deadlines, no preparation checklist, no device id or stroke data. `record_sha256`
    (the full record's hash) ties the copy to the record the company keeps."""
    visit, signature = content.get("visit"), content.get("signature")
    return {
        "format": CUSTOMER_COPY_FORMAT,
        "version": CANONICAL_VERSION,
        "record_sha256": record_sha256,
        **{key: content.get(key) for key in ("company", "locale", "number", "urgency", "kind", "problem",
                                             "reported_at", "cause", "work_done", "remote_resolved_at")},
        "customer": {key: content["customer"].get(key) for key in ("name", "contact", "phone", "address", "email")},
        "device": {key: content["device"].get(key) for key in ("model", "serial")},
        "technician": {"name": content["technician"]["name"]} if content.get("technician") else None,
        "remote": [{key: r.get(key) for key in ("method", "started_at", "ended_at", "steps")}
                   for r in content.get("remote", [])],
        "visit": None if visit is None else {
            key: visit.get(key) for key in ("scheduled_at", "address", "arrived_at", "problem_confirmed",
                                            "customer_confirmed_at", "customer_confirmation", "failures_acknowledged",
                                            "precautions_told_at")},
        "notes": [{key: n.get(key) for key in ("at", "author", "text")}
                  for n in content.get("notes", []) if n.get("shown_to_customer") is True],
        "photos": content.get("photos", []),
        "tests": content.get("tests", []),
        "precautions": content.get("precautions", []),
        **{key: content.get(key) for key in ("unit", "swap")}, "parts": content.get("parts", []),
        "signature": None if signature is None else {
            key: signature.get(key) for key in ("signer_name", "rating", "comment", "png_sha256", "signed_at",
                                                "signed_at_client")},
        **({} if content.get("evidence") is None else {"evidence": evidence_summary(content["evidence"])}),
    }


def customer_copy(order: ServiceOrder) -> tuple[dict, str]:
    """(the customer's view of the order, its hash): what the customer's PDF shows, attaches and prints."""
    view = customer_view(json.loads(order.content_json), record_sha256=order.content_sha256)
    return view, content_hash(view)


def freeze_order(ticket: Ticket, *, site: Site, locale: str | None = None, now: datetime | None = None,
                 rows: OrderRows | None = None, evidence: SigningEvidence | None = None) -> ServiceOrder:
    """Freeze the order's content at signing (or a remote fix); idempotent for a ticket already frozen.
    The document is in the technician's language (Chinese unless their account says English) and names the
    site's company. `rows`: see `canonical_content`."""
    if ticket.service_order is not None:
        return ticket.service_order
    now = now or utcnow()
    locale = locale or ("en" if ticket.assignee is not None and ticket.assignee.locale == "en" else "zh_CN")
    content = canonical_content(ticket, locale=locale, company=site.company, now=now, rows=rows,
                                evidence=evidence)
    frozen = canonical_json(content)  # serialised once: what is stored is what is hashed
    order = ServiceOrder(ticket=ticket, kind=Resolution(content["kind"]), locale=locale, content_json=frozen,
                         content_sha256=frozen_hash(frozen), render_state=RenderState.PENDING,
                         share_generation=0)  # set here, not by the insert: the customer's link is made before it
    db.session.add(order)
    # Rendered by the worker once the frozen content is committed: a failed render never loses the signature.
    after_commit_task("render_orders")
    return order


# --- rendering ----------------------------------------------------------------------------------------------


# Fonts the print stylesheets load by name (fs-font:NAME): system fonts found by fontconfig, never a path.
PRINT_FONTS = {"emoji": "Noto Color Emoji"}


@functools.cache
def print_font(name: str) -> bytes | None:
    """The font file of a print font, read once per process; None when it is not installed (the text then
    falls back to what fontconfig has)."""
    family = PRINT_FONTS.get(name)
    if family is None:
        return None
    try:
        found = subprocess.run(["fc-match", "-f", "%{family}\n%{file}", family], capture_output=True, text=True,
                               timeout=10, check=True).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    if len(found) < 2 or family not in found[0].split(","):
        return None  # fc-match answers with a fallback font when the family is missing
    return Path(found[1]).read_bytes()


def make_fetcher(blob_loader=None):
    """A WeasyPrint fetcher that serves only our stored blobs (fs-blob:SHA256), print stylesheets
    (fs-static:NAME) and named print fonts (fs-font:NAME). Anything else (http, file:, data:) is refused: text a
    user typed can never make the server fetch a URL or read a local file."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    def load_blob(sha: str):
        blob = db.session.get(Blob, sha)
        return (blob.data, blob.media_type) if blob else None

    loader = blob_loader or load_blob

    class StoredContentFetcher(URLFetcher):
        refused: list[str]

        def __init__(self):
            super().__init__(allowed_protocols=(), allow_redirects=False, timeout=1)
            self.refused = []

        def fetch(self, url, headers=None):
            if url.startswith("fs-blob:"):
                sha = url[len("fs-blob:"):]
                found = loader(sha) if SHA256_RE.match(sha) else None
                if found is None:
                    self.refused.append(url)
                    raise ValueError(f"no stored content {sha[:80]}")
                data, media_type = found
                return URLFetcherResponse(url, data, {"Content-Type": media_type})
            if url.startswith("fs-font:") and (font := print_font(url[len("fs-font:"):])) is not None:
                return URLFetcherResponse(url, font, {"Content-Type": "font/ttf"})
            if url.startswith("fs-static:"):
                name = url[len("fs-static:"):]
                path = (STATIC_PRINT / name).resolve()
                if re.fullmatch(r"[a-z0-9_-]+\.css", name) and path.parent == STATIC_PRINT and path.exists():
                    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": "text/css"})
            self.refused.append(url)
            raise ValueError(f"refused to fetch {url[:200]}")

    return StoredContentFetcher()


def verify_serializer(site: Site) -> URLSafeSerializer:
    return URLSafeSerializer(site.secret_key, salt="order-verify")


def share_serializer(site: Site) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(site.secret_key, salt="order-share")


def verify_token(order: ServiceOrder, site: Site | None = None) -> str:
    """A token for the QR code: it never expires (a printed order must stay checkable)."""
    return verify_serializer(site or current_site()).dumps({"n": order.ticket.number,
                                                           "h": order.content_sha256[:16]})


def read_verify_token(token: str, site: Site) -> str | None:
    try:
        data = verify_serializer(site).loads(token)
    except BadSignature:
        return None
    return data.get("n") if isinstance(data, dict) else None


def share_token(order: ServiceOrder, site: Site) -> str:
    # The order's share generation is part of the link: raising it (revoke_share_links) ends every earlier link.
    return share_serializer(site).dumps({"n": order.ticket.number, "g": order.share_generation})


def read_share_token(token: str, site: Site, now: datetime) -> tuple[str | None, int | None, str | None]:
    """(number, generation, None) or (None, None, "expired"|"invalid"). The link's age (at most the site's
    SHARE_LINK_DAYS) is measured at `now` (the caller's clock)."""
    try:
        data, signed_at = share_serializer(site).loads(token, return_timestamp=True)
    except BadSignature:
        return None, None, "invalid"
    if (now - signed_at).total_seconds() > site.share_link_days * 86400:
        return None, None, "expired"
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        return None, None, "invalid"
    generation = data.get("g", 0)
    return data["n"], generation if isinstance(generation, int) else -1, None


def share_link_valid(order: ServiceOrder, generation: int) -> bool:
    return generation == order.share_generation


def revoke_share_links(order: ServiceOrder, ctx) -> None:
    """Every customer link given so far for this order stops working; a new one can be made afterwards."""
    order.share_generation = (order.share_generation or 0) + 1
    record_event("order.share_links_revoked", actor=ctx.actor, ticket=order.ticket, entity=order,
                 remote_addr=ctx.remote_addr, generation=order.share_generation)


def _company_logo(site: Site) -> tuple[str, bytes, str] | None:
    """(sha256, bytes, media type) of the configured logo file, or None."""
    logo_path = site.logo_path
    if not (logo_path and Path(logo_path).is_file()):
        return None
    data = Path(logo_path).read_bytes()
    media = "image/svg+xml" if logo_path.endswith(".svg") else "image/png"
    return hashlib.sha256(data).hexdigest(), data, media


def internal_facts(ticket: Ticket, now: datetime) -> dict:
    """What only the staff's copy shows beside the frozen record: the deadlines as of `now` (some still run after
    signing: submission, case analysis) and the review's internal fields."""
    category = ticket.fault_category
    return {
        "as_of": _iso(now),
        "clocks": [clock.as_dict() for clock in ticket_clocks(ticket, now)],
        "fault_category": None if category is None else {"zh": category.name_zh, "en": category.name_en},
        "root_cause": ticket.root_cause, "solution_summary": ticket.solution_summary,
        "parts_used": ticket.parts_used, "is_complex": ticket.is_complex,
    }


def order_html(order: ServiceOrder, content: dict | None = None, *, site: Site | None = None,
               logo_sha: str | None = None, available: set[str] | None = None,
               internal: dict | None = None) -> str:
    """The print template filled from the frozen content, in the order's language and the site's time zone.
    The customer's copy (`customer_view` of the content) unless `internal` (`internal_facts`) is given: then the
    staff's copy, with the whole record, the deadlines and the internal fields."""
    site = site or current_site()
    content = content or json.loads(order.content_json)
    if internal is None:
        shown = customer_view(content, record_sha256=order.content_sha256)
        printed_hash = content_hash(shown)
    else:
        shown, printed_hash = content, order.content_sha256
    tz = site.tz
    if logo_sha is None:
        logo = _company_logo(site)
        logo_sha = store_blob(logo[1], logo[2]).sha256 if logo else None
    import segno

    verify_url = site.link("/verify/" + verify_token(order, site))
    qr_svg = segno.make(verify_url, error="m").svg_inline(scale=2, border=1, omitsize=False)

    def local(value: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return in_zone(datetime.fromisoformat(value), tz).strftime(fmt) if value else ""

    if available is None:
        thumbs = [p["thumb_sha256"] for p in content.get("photos", [])]
        available = set(db.session.execute(select(Blob.sha256).where(Blob.sha256.in_(thumbs))).scalars()) \
            if thumbs else set()
    with force_locale("en" if order.locale == "en" else "zh_CN"):
        # The bare Jinja template: page context processors (navigation, the signed-in user) do not apply.
        template = site.templates.get_template("print/service_order.html")
        labels = {name.value: label for name, label in clock_labels(current_policy()).items()}
        return template.render(c=shown, order=order, internal=internal, printed_hash=printed_hash, local=local,
                               labels=labels, qr_svg=qr_svg, verify_url=verify_url, logo_sha=logo_sha,
                               available=available, html_lang="en" if order.locale == "en" else "zh-CN")


def write_pdf(html: str, attached: dict, *, fetcher=None, attachment_name: str | None = None) -> bytes:
    """WeasyPrint: PDF/A-3b with `attached` (the content the page shows) as JSON (a new Attachment each time:
    one cannot be reused)."""
    from weasyprint import HTML, Attachment

    fetcher = fetcher or make_fetcher()
    attachment = Attachment(string=canonical_json(attached), name=attachment_name or f"{attached['number']}.json",
                            description="canonical content of the service order", url_fetcher=fetcher)
    document = HTML(string=html, base_url="fs-static:", url_fetcher=fetcher)
    return document.write_pdf(pdf_variant="pdf/a-3b", attachments=[attachment], optimize_images=True,
                              jpeg_quality=80)


WARM_UP_PAGE = ('<html lang="zh-CN"><head><link rel="stylesheet" href="fs-static:order.css"></head><body>'
                '<h1>技术支持服务单 Service order</h1><p>客户签字 Signed 2026-12-07 14:32 ✓</p></body></html>')


def warm_renderer() -> None:
    """Render a small page with the order's stylesheet and fonts once, in the worker's parent process before it
    forks its renderers: each renderer (started afresh whenever one is recycled for its memory, every few orders)
    then inherits Pango's and fontconfig's loaded fonts instead of loading them for its first order, which made
    that first render take about twice as long. A failure here costs only that gain."""
    try:
        write_pdf(WARM_UP_PAGE, {"number": "warm-up"}, fetcher=make_fetcher(lambda sha: None))
    except Exception:  # noqa: BLE001 - the renderers load the fonts themselves then
        log.exception("warming the PDF renderer up failed")


def render_internal_copy(order: ServiceOrder, now: datetime, site: Site | None = None) -> bytes:
    """The staff's copy, rendered on request and never stored: no customer link can reach it."""
    job = prepare_render(order.id, site=site, force=True, internal=internal_facts(order.ticket, now))
    return write_pdf(job.html, job.content, fetcher=make_fetcher(job.blobs.get),
                     attachment_name=f"{order.ticket.number}-record.json")


def render_order(order: ServiceOrder, site: Site | None = None) -> bool:
    """Render and store the PDF now, again if it was rendered before; on failure the order keeps its state and
    the error. Nothing is written before WeasyPrint runs (no write lock held); the caller commits."""
    job = prepare_render(order.id, site=site, force=True)
    if job is None:
        return False
    pdf, error = run_render(job)
    take_write_lock()
    store_render(job, pdf, error, force=True)
    return order.render_state == RenderState.RENDERED


def ensure_rendered(order: ServiceOrder, site: Site | None = None) -> bool:
    if order.render_state == RenderState.RENDERED and order.pdf_sha256:
        return True
    return render_order(order, site)


def pending_orders() -> list[ServiceOrder]:
    return list(db.session.execute(select(ServiceOrder).where(ServiceOrder.render_state != RenderState.RENDERED)
                                   .order_by(ServiceOrder.id)).scalars())


@dataclass
class RenderJob:
    """What rendering one order needs, read beforehand: WeasyPrint then works without the database."""

    order_id: int
    content: dict
    html: str
    blobs: dict[str, tuple[bytes, str]]
    logo: tuple[str, bytes, str] | None


def prepare_render(order_id: int, *, site: Site | None = None, force: bool = False,
                   internal: dict | None = None) -> RenderJob | None:
    """Read an order's content and every blob its page shows (writing nothing, so no write lock is taken).
    None when there is nothing to do: no such order, or already rendered (unless `force`). The job's content is
    what the PDF attaches: the customer's view (the staff's whole record with `internal`)."""
    order = db.session.get(ServiceOrder, order_id)
    if order is None or (order.render_state == RenderState.RENDERED and not force):
        return None
    content = json.loads(order.content_json)
    wanted = [p["thumb_sha256"] for p in content.get("photos", [])]
    if content.get("signature"):
        wanted.append(content["signature"]["png_sha256"])
    blobs = {b.sha256: (b.data, b.media_type)
             for b in db.session.execute(select(Blob).where(Blob.sha256.in_(wanted))).scalars()} if wanted else {}
    site = site or current_site()
    logo = _company_logo(site)
    if logo:
        blobs[logo[0]] = (logo[1], logo[2])
    html = order_html(order, content, site=site, logo_sha=logo[0] if logo else "", available=set(blobs),
                      internal=internal)
    attached = content if internal is not None else customer_view(content, record_sha256=order.content_sha256)
    return RenderJob(order_id, attached, html, blobs, logo)


def run_render(job: RenderJob, renderer=None) -> tuple[bytes | None, str | None]:
    """WeasyPrint on the prepared page, touching no database: (pdf, None) or (None, the error)."""
    try:
        return (renderer or write_pdf)(job.html, job.content, fetcher=make_fetcher(job.blobs.get)), None
    except Exception as error:  # noqa: BLE001 - any rendering failure keeps the order and is retried later
        log.exception("rendering order %s failed", job.order_id)
        return None, "".join(traceback.format_exception_only(type(error), error))[:2000]


def store_render(job: RenderJob, pdf: bytes | None, error: str | None, *, force: bool = False) -> bool | None:
    """Record the attempt (one short write for the caller to commit): True when the PDF is stored, False when the
    render failed (kept, retried later), None when another worker rendered it meanwhile."""
    order = db.session.get(ServiceOrder, job.order_id, populate_existing=True)
    order.render_attempts += 1
    if order.render_state == RenderState.RENDERED and not force:
        return None
    if pdf is None:
        if order.render_state != RenderState.RENDERED:  # a stored PDF stays valid when a re-render fails
            order.render_state = RenderState.FAILED
        order.render_error = error
        return False
    if job.logo:
        store_blob(job.logo[1], job.logo[2])
    blob = store_blob(pdf, "application/pdf")
    order.pdf_sha256, order.render_state, order.rendered_at, order.render_error = (
        blob.sha256, RenderState.RENDERED, utcnow(), None)
    # A new file waits for the company seal (the worker adds it, domain/documents/seal.py).
    order.seal_state, order.seal_attempts, order.seal_error, order.seal_next_at = SealState.WAITING, 0, None, None
    after_commit_task("seal_orders")
    return True


def orders_to_render(now: datetime, *, max_attempts: int = 10) -> list[int]:
    """Orders still without a PDF, to be (re)rendered by the worker: the first attempt at once, each retry
    later than the last (1, 3, 7, 15... minutes after the order was frozen) up to `max_attempts`; after that an
    admin runs `flask orders render-pending` (the download page also tries again)."""
    rows = db.session.execute(select(ServiceOrder.id, ServiceOrder.render_attempts, ServiceOrder.created_at)
                              .where(ServiceOrder.render_state != RenderState.RENDERED,
                                     ServiceOrder.render_attempts < max_attempts)).all()
    return [order_id for order_id, attempts, created_at in rows
            if attempts == 0 or now >= created_at + timedelta(minutes=2 ** attempts - 1)]


# --- the company seal ---------------------------------------------------------------------------------------

SEAL_ALERT_AFTER = 3  # failed attempts before an admin is alerted
SEAL_MAX_PAUSE = timedelta(hours=1)


def seal_pause(attempts: int) -> timedelta:
    """How long a seal that failed `attempts` times waits: 1, 2, 4 ... minutes, at most an hour; never given up."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), SEAL_MAX_PAUSE)


SEAL_BATCH = 100  # orders sealed per run: after a migration leaves thousands waiting, the minute tick stays short


def orders_to_seal(now: datetime, *, limit: int = SEAL_BATCH) -> list[int]:
    """Rendered orders without the company seal whose next try is due, oldest first, at most `limit` (the next run
    takes the rest)."""
    return list(db.session.execute(
        select(ServiceOrder.id).where(ServiceOrder.render_state == RenderState.RENDERED,
                                      ServiceOrder.pdf_sha256.is_not(None),
                                      ServiceOrder.seal_state != SealState.SEALED,
                                      (ServiceOrder.seal_next_at.is_(None)) | (ServiceOrder.seal_next_at <= now))
        .order_by(ServiceOrder.id).limit(limit)).scalars())


@dataclass
class SealJob:
    order_id: int
    number: str
    pdf_sha256: str
    pdf: bytes


def prepare_seal(order_id: int) -> SealJob | None:
    """Read the rendered PDF to seal (writing nothing); None when there is nothing to do."""
    order = db.session.get(ServiceOrder, order_id)
    if order is None or order.seal_state == SealState.SEALED or order.render_state != RenderState.RENDERED \
            or not order.pdf_sha256:
        return None
    blob = db.session.get(Blob, order.pdf_sha256)
    return SealJob(order.id, order.ticket.number, order.pdf_sha256, blob.data)


def run_seal(job: SealJob, site: Site):
    """pyHanko on the rendered file, touching no database: (Sealed, None) or (None, the reason it failed)."""
    from .seal import SealUnavailable, seal_pdf

    try:
        return seal_pdf(job.pdf, site, reason=f"{site.company} {job.number}"), None
    except SealUnavailable as error:
        log.warning("sealing order %s failed: %s", job.number, error)
        return None, str(error)[:2000]


def store_seal(job: SealJob, sealed, error: str | None, now: datetime) -> bool | None:
    """Record the attempt (one short write for the caller to commit): True when sealed, False when it failed (the
    rendered PDF stays; retried after `seal_pause`; an admin is alerted at the SEAL_ALERT_AFTER-th failure), None
    when the order changed meanwhile (sealed by another worker, or rendered again)."""
    order = db.session.get(ServiceOrder, job.order_id, populate_existing=True)
    if order.seal_state == SealState.SEALED or order.pdf_sha256 != job.pdf_sha256:
        return None
    if sealed is None:
        order.seal_attempts += 1
        order.seal_state, order.seal_error = SealState.FAILING, error
        order.seal_next_at = now + seal_pause(order.seal_attempts)
        if order.seal_attempts == SEAL_ALERT_AFTER:
            _alert_seal_failing(order, error or "")
        return False
    blob = store_blob(sealed.pdf, "application/pdf")
    order.unsealed_pdf_sha256, order.pdf_sha256 = order.pdf_sha256, blob.sha256
    order.seal_state, order.sealed_at, order.seal_error, order.seal_next_at = SealState.SEALED, now, None, None
    order.seal_cert_sha256, order.seal_timestamp_at = sealed.cert_sha256, sealed.timestamp_at
    record_event("order.sealed", actor=None, via="worker", ticket=order.ticket, entity=order, pdf_sha256=blob.sha256,
                 certificate_sha256=sealed.cert_sha256, timestamped=sealed.timestamp_at is not None)
    return True


def _alert_seal_failing(order: ServiceOrder, error: str) -> None:
    from ..alerts import notifications
    from ..core.enums import Role

    admins = db.session.execute(select(User.id).where(User.role == Role.ADMIN, User.active.is_(True))).scalars()
    recipients = list(admins) or [u.id for u in notifications.active_supervisors()]
    notifications.notify(recipients, notifications.Kind.SEAL_FAILING,
                         f"{order.ticket.number}:{_iso(order.rendered_at)}", ticket=order.ticket,
                         text=error.strip().splitlines()[-1][:200] if error.strip() else "")


def seal_order_now(order: ServiceOrder, site: Site, now: datetime) -> bool | None:
    """Seal one order in the caller's transaction (the command line): True sealed, False failed, None nothing to
    do."""
    job = prepare_seal(order.id)
    if job is None:
        return None
    sealed, error = run_seal(job, site)
    take_write_lock()
    return store_seal(job, sealed, error, now)
