"""The supervisors' archive of filed orders (/orders/): filters, search, download, first-page preview, and the
ZIP of a selection built by the worker with its progress."""
from __future__ import annotations

from flask import abort, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from domain.core.db import db
from domain.core.enums import Role
from domain.core.errors import ValidationError
from domain.core.labels import STATUS_LABELS
from domain.core.models import Blob
from domain.documents import archive

from ..access import roles_required
from ..core.helpers import company_tz
from . import bp
from .routes import _order_for


class EmptyForm(FlaskForm):
    pass


def _filter_or_errors():
    try:
        return archive.ArchiveFilter.parse(request.args), {}
    except ValidationError as error:
        return archive.ArchiveFilter(), {k: str(v) for k, v in error.fields.items()}


@bp.get("/orders/")
@roles_required(Role.SUPERVISOR)
def archive_list():
    f, errors = _filter_or_errors()
    page = request.args.get("page", "1")
    page = int(page) if page.isascii() and page.isdigit() and 0 < len(page) <= 6 and int(page) > 0 else 1
    rows, total = archive.archive_page(f, company_tz(), page)
    pages = max(1, -(-total // archive.PAGE_SIZE))
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("orders/archive.html", rows=rows, total=total, page=page, pages=pages, f=f,
                           errors=errors, args=args, technicians=archive.technicians(),
                           states=[(s.value, STATUS_LABELS[s]) for s in archive.REVIEW_STATES],
                           form=EmptyForm()), 400 if errors else 200


def _stored_pdf(sha256: str) -> bytes:
    return db.session.get(Blob, sha256).data


@bp.get("/orders/<number>/preview.png")
@roles_required(Role.SUPERVISOR, Role.EXPERT, Role.TECHNICIAN)
def preview(number: str):
    """The first page of the stored PDF as a picture (cached by the browser per PDF)."""
    order = _order_for(number)
    if not order.pdf_sha256:
        abort(404)
    etag = f"p-{order.pdf_sha256}"
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
    else:
        response = make_response(archive.preview_png(order.pdf_sha256, _stored_pdf))
        response.headers["Content-Type"] = "image/png"
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.post("/orders/exports")
@roles_required(Role.SUPERVISOR)
def start_export():
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        f = archive.ArchiveFilter.parse(request.form)
        job = archive.start_export(current_user._get_current_object(), f, company_tz())
    except ValidationError as error:
        return render_template("errors/error.html", code=400, title=str(next(iter(error.fields.values())))), 400
    return redirect(url_for("orders.export_status", job_id=job.id))


@bp.get("/orders/exports/<int:job_id>")
@roles_required(Role.SUPERVISOR)
def export_status(job_id: int):
    job = archive.export_for(current_user, job_id)
    if job is None:
        abort(404)
    return render_template("orders/export.html", job=job)


@bp.get("/orders/exports/<int:job_id>.zip")
@roles_required(Role.SUPERVISOR)
def export_download(job_id: int):
    job = archive.export_for(current_user, job_id)
    if job is None or not job.zip_sha256:
        abort(404)
    response = make_response(db.session.get(Blob, job.zip_sha256).data)
    response.headers["Content-Type"] = "application/zip"
    response.headers["Content-Disposition"] = f'attachment; filename="service-orders-{job.id}.zip"'
    return response


__all__ = ["archive_list", "preview", "start_export", "export_status", "export_download", "_"]
