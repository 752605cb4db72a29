"""The supervisors' archive of filed service orders (signed on site or solved remotely): filters, search, the
first page as a picture, and the ZIP of a selection built by the worker with its progress."""
from __future__ import annotations

import functools
import io
import threading
import zipfile
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload

from ..core import leases, validation
from ..core.blobs import store_blob
from ..core.db import db
from ..core.enums import RenderState, Resolution, Role, TicketStatus
from ..core.errors import ValidationError
from ..core.models import Blob, User
from ..core.types import utcnow
from ..documents.models import ExportJob, ServiceOrder
from ..requests.models import Customer, Ticket

PAGE_SIZE = 50
MAX_EXPORT = 2000  # orders in one ZIP
# Review states a filed order can be in, as the archive offers them.
REVIEW_STATES = (TicketStatus.REMOTE_RESOLVED, TicketStatus.SIGNED, TicketStatus.SUBMITTED,
                 TicketStatus.RETURNED, TicketStatus.APPROVED)


@dataclass(frozen=True)
class ArchiveFilter:
    date_from: date | None = None
    date_to: date | None = None
    technician_id: int | None = None
    customer: str = ""
    device: str = ""
    kind: str = ""
    state: str = ""
    q: str = ""

    @classmethod
    def parse(cls, args) -> ArchiveFilter:
        """From the query string; a malformed value is a ValidationError naming the field."""
        errors: dict[str, Any] = {}

        def day(name: str) -> date | None:
            raw = (args.get(name) or "").strip()
            if not raw:
                return None
            try:
                parsed = date.fromisoformat(raw)
            except ValueError:
                errors[name] = _l("Enter the date as YYYY-MM-DD.")
                return None
            if not validation.time_in_range(parsed):  # 9999-12-31 would overflow as the day after
                errors[name] = validation.OUT_OF_RANGE
                return None
            return parsed

        def text(name: str) -> str:
            value = (args.get(name) or "").strip()[:100]
            if (problem := validation.text_problem(value)) is not None:
                errors[name] = problem[1]
                return ""
            return value

        date_from, date_to = day("from"), day("to")
        customer, device, q = text("customer"), text("device"), text("q")
        if date_from and date_to and date_to < date_from:
            errors["to"] = _l("The end date is before the start date.")
        technician = (args.get("technician") or "").strip()
        if technician and not (technician.isascii() and technician.isdigit() and len(technician) <= 9):
            errors["technician"] = _l("Unknown technician.")
        kind = (args.get("kind") or "").strip()
        if kind and kind not in {k.value for k in Resolution}:
            errors["kind"] = _l("Unknown kind of order.")
        state = (args.get("state") or "").strip()
        if state and state not in {s.value for s in REVIEW_STATES}:
            errors["state"] = _l("Unknown review state.")
        if errors:
            raise ValidationError(errors)
        return cls(date_from, date_to, int(technician) if technician else None, customer, device, kind, state, q)

    def as_params(self) -> dict[str, Any]:
        data = asdict(self)
        return {"from": data.pop("date_from") and self.date_from.isoformat(),
                "to": data.pop("date_to") and self.date_to.isoformat(),
                "technician": data.pop("technician_id"), **data}


def _like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def archive_query(f: ArchiveFilter, tz: ZoneInfo) -> Select:
    query = select(ServiceOrder).join(Ticket, ServiceOrder.ticket_id == Ticket.id).join(
        Customer, Ticket.customer_id == Customer.id)
    if f.date_from:
        query = query.where(ServiceOrder.created_at >= datetime.combine(f.date_from, time.min, tzinfo=tz))
    if f.date_to:
        query = query.where(ServiceOrder.created_at < datetime.combine(f.date_to + timedelta(days=1), time.min,
                                                                        tzinfo=tz))
    if f.technician_id:
        query = query.where(Ticket.assignee_id == f.technician_id)
    if f.customer:
        query = query.where(func.lower(Customer.name).like(_like(f.customer), escape="\\"))
    if f.device:
        query = query.where(func.lower(Ticket.device_model_text).like(_like(f.device), escape="\\"))
    if f.kind:
        query = query.where(ServiceOrder.kind == Resolution(f.kind))
    if f.state:
        query = query.where(Ticket.status == TicketStatus(f.state))
    if f.q:
        pattern = _like(f.q)
        query = query.where(or_(func.lower(Ticket.number).like(pattern, escape="\\"),
                                func.lower(Customer.name).like(pattern, escape="\\"),
                                func.lower(Ticket.device_model_text).like(pattern, escape="\\"),
                                func.lower(Ticket.problem).like(pattern, escape="\\")))
    return query


def archive_page(f: ArchiveFilter, tz: ZoneInfo, page: int) -> tuple[list[ServiceOrder], int]:
    """One page of orders, newest first, with the total count."""
    query = archive_query(f, tz)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.options(joinedload(ServiceOrder.ticket).joinedload(Ticket.customer),
                                            joinedload(ServiceOrder.ticket).joinedload(Ticket.assignee))
                              .order_by(ServiceOrder.created_at.desc(), ServiceOrder.id.desc())
                              .limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)).scalars().all()
    return list(rows), total


def technicians() -> list[User]:
    return list(db.session.execute(select(User).where(User.role == Role.TECHNICIAN).order_by(User.display_name))
                .scalars())


# PDFium is not thread-safe (one library state per process: two threads rendering at once crashed the process
# with a segfault): every call into it in this process goes through this lock. A render takes tens of
# milliseconds; the previews are also kept, per PDF, so the archive page's 20 thumbnails render once.
_PDFIUM = threading.Lock()


@functools.lru_cache(maxsize=128)
def _preview(sha256: str, width: int, loader) -> bytes:
    return _render_first_page(loader(sha256), width)


def _render_first_page(pdf: bytes, width: int) -> bytes:
    import pypdfium2

    with _PDFIUM:
        document = pypdfium2.PdfDocument(pdf)
        try:
            page = document[0]
            image = page.render(scale=width / page.get_width()).to_pil()
        finally:
            document.close()
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()


def first_page_png(pdf: bytes, width: int = 480) -> bytes:
    """The first page of a PDF as a PNG `width` pixels wide (PDFium, one call at a time in this process)."""
    return _render_first_page(pdf, width)


def preview_png(sha256: str, loader, width: int = 480) -> bytes:
    """The first page of the stored PDF `sha256` (its bytes from `loader(sha256)`), rendered once per process: a
    stored PDF never changes under its hash."""
    return _preview(sha256, width, loader)


# --- the ZIP, built by the worker -----------------------------------------------------------------------


def start_export(user: User, f: ArchiveFilter, tz: ZoneInfo) -> ExportJob:
    """Record the export (the caller commits; the worker builds it after the commit)."""
    from ..core.deferred import after_commit_task

    total = db.session.execute(select(func.count()).select_from(archive_query(f, tz).subquery())).scalar_one()
    if total == 0:
        raise ValidationError({"export": _l("No order matches these filters.")})
    if total > MAX_EXPORT:
        raise ValidationError({"export": _l("At most %(n)d orders per ZIP: narrow the filters.", n=MAX_EXPORT)})
    job = ExportJob(user_id=user.id, params=f.as_params(), total=total)
    db.session.add(job)
    db.session.flush()
    after_commit_task("build_export", job.id)
    return job


def export_order_ids(job: ExportJob, tz: ZoneInfo) -> list[int]:
    f = ArchiveFilter.parse({k: ("" if v is None else str(v)) for k, v in job.params.items()})
    return list(db.session.execute(archive_query(f, tz).with_only_columns(ServiceOrder.id)
                                   .order_by(ServiceOrder.id)).scalars())


def add_to_zip(archive: zipfile.ZipFile, order_id: int) -> str | None:
    """Write one order's stored PDF into the ZIP; the number when it has no PDF yet (listed in MISSING.txt)."""
    order = db.session.get(ServiceOrder, order_id)
    if order.render_state == RenderState.RENDERED and order.pdf_sha256:
        archive.writestr(f"{order.ticket.number}.pdf", db.session.get(Blob, order.pdf_sha256).data)
        return None
    return order.ticket.number


EXPORT_LEASE = timedelta(minutes=5)  # renewed at every 20 orders written: a worker silent longer was killed
EXPORT_LOST_AFTER = timedelta(minutes=10)  # queued this long: its task was lost


def claim_export(job_id: int, now: datetime) -> ExportJob | None:
    """The worker takes the export under a lease: None when it is done, or another worker holds it still. One left
    running by a killed worker is taken over once its lease has passed (built again from the start)."""
    job = db.session.get(ExportJob, job_id)
    if job is None or job.state in ("done", "failed") or leases.held(job, now):
        return None
    leases.take(job, now, EXPORT_LEASE)
    return job


def export_progress(job_id: int, done: int, now: datetime) -> None:
    job = db.session.get(ExportJob, job_id)
    job.done, job.lease_until = done, now + EXPORT_LEASE


def lost_export_jobs(now: datetime) -> list[int]:
    """Exports queued long ago or running past their lease: the minute tick queues their task again."""
    return leases.lost(ExportJob, now, EXPORT_LOST_AFTER)


def finish_export(job_id: int, data: bytes | None, error: str | None = None) -> None:
    job = db.session.get(ExportJob, job_id)
    job.finished_at, job.lease_until = utcnow(), None
    if data is None:
        job.state, job.error = "failed", error
    else:
        job.state, job.zip_sha256, job.done = "done", store_blob(data, "application/zip").sha256, job.total


def export_for(user: User, job_id: int) -> ExportJob | None:
    if not 0 < job_id < 2**31:  # beyond any id: never a database overflow
        return None
    job = db.session.get(ExportJob, job_id)
    return job if job is not None and job.user_id == user.id else None
