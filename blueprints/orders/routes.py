from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time, timedelta

from flask import abort, current_app, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.file import FileField
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import RequestEntityTooLarge

from domain.core import validation
from domain.core.db import db
from domain.core.enums import Resolution, Role, TicketStatus
from domain.core.errors import Forbidden, NotFound
from domain.core.locales import name_key
from domain.core.models import Blob
from domain.core.types import utcnow
from domain.core.validation import parse_int
from domain.documents import orders, review
from domain.documents import verify as verify_check
from domain.documents.models import ServiceOrder
from domain.requests import access, workflow
from domain.requests.models import Ticket
from domain.sla.clocks import ticket_clocks
from domain.sla.policy import current_policy
from extensions import csrf, limiter

from ..access import public, roles_required
from ..core.actions import form_action
from ..core.errors import json_error
from ..core.forms import SafeForm
from ..core.helpers import company_tz, current_locale, current_site, domain_context
from ..core.hygiene import form_text
from . import bp


class VerifyForm(SafeForm):
    pdf = FileField()


def _order_for(number: str) -> ServiceOrder:
    """The order of a request the user may download: supervisors and experts any, a technician their own."""
    ticket = access.get_ticket(number)
    if not access.can_download_order(current_user, ticket):
        raise Forbidden("not_allowed", _("You may not see request %(number)s.", number=number))
    if ticket.service_order is None:
        raise NotFound("no_order", _("Request %(number)s has no service order yet.", number=number))
    return ticket.service_order


def _pdf_response(order: ServiceOrder, *, inline: bool = False):
    """The stored PDF (rendered now if an earlier attempt failed), with an ETag: a second download renders nothing."""
    if not orders.ensure_rendered(order, current_site()):
        return render_template("orders/pending.html", order=order), 503
    etag = order.pdf_sha256
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
    else:
        blob = db.session.get(Blob, order.pdf_sha256)
        response = make_response(blob.data)
        response.headers["Content-Type"] = "application/pdf"
    response.set_etag(etag)
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{order.ticket.number}.pdf"'
    response.headers["Cache-Control"] = "private, max-age=0, must-revalidate"
    return response


@bp.get("/orders/<number>/pdf")
@roles_required(Role.SUPERVISOR, Role.EXPERT, Role.TECHNICIAN)
def pdf(number: str):
    return _pdf_response(_order_for(number))


@bp.get("/orders/<number>/internal.pdf")
@roles_required(Role.SUPERVISOR, Role.EXPERT, Role.TECHNICIAN)
def internal_pdf(number: str):
    """The staff's copy: the whole record with internal notes, contacts, deadlines and the review's fields.
    Rendered on request and never stored, so no customer link can lead to it."""
    order = _order_for(number)
    response = make_response(orders.render_internal_copy(order, utcnow(), current_site()))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{number}-internal.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/orders/<number>/share")
@roles_required(Role.SUPERVISOR, Role.TECHNICIAN)
def share(number: str):
    order = _order_for(number)
    form = VerifyForm()
    if not form.validate_on_submit():
        abort(400)
    site = current_site()
    link = site.link(url_for("orders.customer_copy", token=orders.share_token(order, site)))
    return render_template("orders/share.html", order=order, link=link,
                           expires=datetime.now(site.tz) + timedelta(days=site.share_link_days))


@bp.get("/o/<token>")
@public
def customer_copy(token: str):
    """The customer's copy, without an account, while the link is valid."""
    number, generation, problem = orders.read_share_token(token, current_site(), utcnow())
    if problem == "expired":
        return render_template("errors/error.html", code=410,
                               title=_("This link has expired. Ask the technical support team for a new one.")), 410
    ticket = db.session.execute(select(Ticket).where(Ticket.number == (number or ""))).scalar_one_or_none()
    if ticket is None or ticket.service_order is None:
        abort(404)
    if not orders.share_link_valid(ticket.service_order, generation):
        return render_template("errors/error.html", code=410,
                               title=_("This link was withdrawn. Ask the technical support team for a new one.")), 410
    return _pdf_response(ticket.service_order, inline=True)


@bp.post("/orders/<number>/share/revoke")
@roles_required(Role.SUPERVISOR, Role.TECHNICIAN)
def revoke_share(number: str):
    """Withdraw every customer link of this order (sent to the wrong person, or forwarded)."""
    order = _order_for(number)
    form = VerifyForm()
    if not form.validate_on_submit():
        abort(400)
    orders.revoke_share_links(order, domain_context())
    flash(_("Every customer link of %(number)s has been withdrawn.", number=number), "success")
    return redirect(url_for("dispatch.detail", number=number))


# Checks anyone may run (a customer, a court, another company): a handful a minute per address is plenty, and
# the limit keeps pyHanko's parsing of uploads from being a way to load the servers.
VERIFY_RATE_LIMIT = "20 per minute;200 per hour"


def _uploaded(field: str) -> tuple[bytes | None, bool]:
    """(the uploaded file's bytes or None when no file was sent, whether it was larger than the site takes)."""
    try:
        upload = request.files.get(field)
    except RequestEntityTooLarge:
        return b"", True
    if upload is None:
        return None, False
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 20 * 1024 * 1024
    data = upload.read(limit + 1)
    return data, len(data) > limit


def _check_upload(data: bytes, too_large: bool) -> verify_check.Verdict:
    if too_large:
        return verify_check.Verdict(False, "too_large")
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 20 * 1024 * 1024
    return verify_check.check_pdf(data, current_site(), max_bytes=limit)


def _verify_page(ticket: Ticket | None):
    form = VerifyForm()
    verdict = None
    status = 200
    if request.method == "POST":
        data, too_large = _uploaded("pdf")
        if too_large:
            verdict = _check_upload(b"", too_large)
            status = 413
        elif not form.validate_on_submit():
            abort(400)
        elif not data and not (request.files.get("pdf") and request.files["pdf"].filename):
            flash(_("Choose the PDF file to check."), "error")
            status = 400
        else:
            verdict = _check_upload(data or b"", too_large)
    order = ticket.service_order if ticket is not None else None
    site = current_site()
    return render_template("orders/verify.html", ticket=ticket, order=order, form=form, verdict=verdict,
                           sentence=verify_check.sentence(verdict, site) if verdict else None,
                           copy_hash=orders.customer_copy(order)[1] if order is not None else None,
                           self_created=not site.seal_pkcs12, tsa_configured=bool(site.tsa_url)), status


@bp.route("/verify/<token>", methods=["GET", "POST"])
@public
@limiter.limit(VERIFY_RATE_LIMIT, methods=["POST"])
def verify(token: str):
    """What the QR code opens: the order's number, signing time and seal; an uploaded PDF is checked."""
    number = orders.read_verify_token(token, current_site())
    ticket = db.session.execute(
        select(Ticket).options(joinedload(Ticket.service_order), joinedload(Ticket.signature))
        .where(Ticket.number == (number or ""))).unique().scalar_one_or_none()
    if ticket is None or ticket.service_order is None:
        abort(404)
    return _verify_page(ticket)


@bp.route("/verify", methods=["GET", "POST"])
@public
@limiter.limit(VERIFY_RATE_LIMIT, methods=["POST"])
def verify_any():
    """Check any PDF someone was given, without the QR code."""
    return _verify_page(None)


@bp.post("/api/v1/verify")
@csrf.exempt
@public
@limiter.limit(VERIFY_RATE_LIMIT)
def verify_api():
    """`{"genuine", "reason", "message", "number"}` for the PDF sent as the multipart field `file`; no account
    needed (a file proves nothing about its sender, and the answer reveals only what the file itself carries)."""
    data, too_large = _uploaded("file")
    if data is None and not too_large:
        return json_error(400, "no_file", _("Send the PDF as the multipart field 'file'."))
    verdict = _check_upload(data or b"", too_large)
    response = jsonify(verdict.as_json(current_site()))
    response.status_code = 413 if too_large else 200
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/orders/export.zip")
@roles_required(Role.SUPERVISOR)
def export_zip():
    """Every signed (or remotely solved) order in a date range, optionally one technician's or one kind."""
    tz = company_tz()
    try:
        start = date.fromisoformat(request.args.get("from", ""))
        end = date.fromisoformat(request.args.get("to", ""))
    except ValueError:
        return render_template("errors/error.html", code=400,
                               title=_("Choose a start and an end date for the export.")), 400
    if not (validation.time_in_range(start) and validation.time_in_range(end)):  # 9999-12-31: no day after it
        return render_template("errors/error.html", code=400, title=str(validation.OUT_OF_RANGE)), 400
    if end < start or (end - start).days > 366:
        return render_template("errors/error.html", code=400,
                               title=_("The export covers at most one year, and the end is after the start.")), 400
    query = (select(ServiceOrder).join(Ticket).options(joinedload(ServiceOrder.ticket))
             .where(ServiceOrder.created_at >= datetime.combine(start, time.min, tzinfo=tz),
                    ServiceOrder.created_at < datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz))
             .order_by(Ticket.number))
    technician = parse_int(request.args.get("technician", ""))
    if technician is not None:
        query = query.where(Ticket.assignee_id == technician)
    kind = request.args.get("kind")
    if kind in {k.value for k in Resolution}:
        query = query.where(ServiceOrder.kind == Resolution(kind))
    found = db.session.execute(query).scalars().all()
    site = current_site()
    buffer = io.BytesIO()
    missing = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for order in found:
            if orders.ensure_rendered(order, site):
                archive.writestr(f"{order.ticket.number}.pdf", db.session.get(Blob, order.pdf_sha256).data)
            else:
                missing.append(order.ticket.number)
        if missing:
            archive.writestr("MISSING.txt", "\n".join(missing) + "\n")
    response = make_response(buffer.getvalue())
    response.headers["Content-Type"] = "application/zip"
    response.headers["Content-Disposition"] = f'attachment; filename="service-orders-{start}-{end}.zip"'
    return response


# --- submission and review ----------------------------------------------------------------------------------


@bp.get("/orders/review")
@roles_required(Role.SUPERVISOR)
def review_queue():
    now = utcnow()
    rows = [(t, next(c for c in ticket_clocks(t, now) if c.name.value == "submission"))
            for t in review.review_queue()]
    return render_template("orders/review_queue.html", rows=rows, now=now,
                           due_soon=current_policy().due_soon_minutes)


@bp.post("/orders/<number>/internal")
@roles_required(Role.TECHNICIAN)
def save_internal(number: str):
    """The technician's internal write-up, and (with the submit button) the submission for review."""
    ticket = access.get_ticket(number, current_user)
    form = VerifyForm()
    if not form.validate_on_submit():
        abort(400)
    category = parse_int(request.form.get("fault_category_id", ""), minimum=1)
    ctx = domain_context()

    def action():
        review.save_internal_fields(ticket, ctx, fault_category_id=category,
                                    root_cause=form_text("root_cause"),
                                    solution_summary=form_text("solution_summary"),
                                    parts_used=form_text("parts_used"))
        if request.form.get("submit") == "1":
            review.submit(ticket, ctx)

    if form_action(action).ok:
        flash(_("Submitted for review.") if request.form.get("submit") == "1" else _("Changes saved."), "success")
    return redirect(url_for("dispatch.detail", number=number))


@bp.get("/orders/<number>/review")
@roles_required(Role.SUPERVISOR)
def review_page(number: str):
    """What a reviewer checks (the write-up, tests, photos, signature, notes, clocks) with the decision beside it.
    An order no longer waiting for review shows its request page instead."""
    ticket = access.get_ticket(number, current_user)
    if "review" not in workflow.available_actions(ticket, current_user):
        return redirect(url_for("dispatch.detail", number=number))
    now = utcnow()
    following = review.next_in_queue(ticket)
    return render_template(
        "orders/review.html", ticket=ticket, clocks=ticket_clocks(ticket, now), now=now,
        due_soon=current_policy().due_soon_minutes, following=following, waiting=review.queue_length(),
        fault_key=name_key(current_locale()), visit=ticket.current_visit,
        shared_notes=[n for n in ticket.notes if n.shown_to_customer],
        internal_notes=[n for n in ticket.notes if not n.shown_to_customer])


@bp.post("/orders/<number>/review")
@roles_required(Role.SUPERVISOR)
def review_order(number: str):
    """Approve or return; then on to the next order waiting (the queue when none is left)."""
    ticket = access.get_ticket(number, current_user)
    form = VerifyForm()
    if not form.validate_on_submit():
        abort(400)
    approve = request.form.get("decision") == "approve"
    outcome = form_action(lambda: review.review(ticket, domain_context(), approve=approve,
                                                comment=request.form.get("comment", ""),
                                                complex_case=request.form.get("complex") == "1"))
    if not outcome.ok:
        if ticket.status == TicketStatus.SUBMITTED:
            return redirect(url_for("orders.review_page", number=number))
        return redirect(url_for("dispatch.detail", number=number))
    flash(_("%(number)s approved and archived.", number=number) if approve
          else _("%(number)s returned to the technician.", number=number), "success")
    following = review.next_in_queue(ticket)
    if following is not None:
        return redirect(url_for("orders.review_page", number=following.number))
    return redirect(url_for("orders.review_queue"))
