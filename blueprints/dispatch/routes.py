from __future__ import annotations

from datetime import date, timedelta

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from domain.core import context, validation
from domain.core.db import db
from domain.core.enums import ContactMethod, RemoteOutcome, Role, TicketStatus, Urgency
from domain.core.errors import ValidationError
from domain.core.locales import name_key
from domain.core.models import AuditEvent, Blob
from domain.core.types import utcnow
from domain.core.validation import parse_int
from domain.customer.tracking import tracking_url
from domain.fieldwork import evidence, followup, unsigned
from domain.knowledge import kb
from domain.requests import access, assignment, intake, progress_notes, remote_work, visits, workflow
from domain.requests.board import BoardFilter, act_label, active_users, board_page, day_view, technician_load
from domain.requests.models import Customer, DeviceCategory, Ticket
from domain.sla.clocks import ticket_clocks
from domain.sla.policy import current_policy

from ..access import roles_required, signed_in
from ..core.actions import form_action
from ..core.helpers import current_locale, current_site, domain_context, from_local_naive, local_naive, safe_next_url
from . import bp
from .forms import (
    AnotherVisitForm,
    AssignForm,
    CancelForm,
    ContactForm,
    EscalateForm,
    ForwardForm,
    IntakeForm,
    NoteForm,
    PrepareForm,
    RemoteForm,
    ResolveForm,
    UnsignedDecisionForm,
    VisitForm,
)

BOARD_ROLES = (Role.SUPERVISOR, Role.DISPATCHER)


# --- intake -----------------------------------------------------------------------------------------------


def _fill_intake_choices(form: IntakeForm) -> None:
    key = name_key(current_locale())
    customers = db.session.execute(select(Customer).order_by(Customer.name).limit(500)).scalars()
    form.customer_id.choices = [("", _("— New customer —"))] + [
        (str(c.id), f"{c.name}" + (f" · {c.phone}" if c.phone else "")) for c in customers]
    categories = db.session.execute(
        select(DeviceCategory).options(selectinload(DeviceCategory.models)).order_by(DeviceCategory.position)
    ).scalars().all()
    models = [SelectChoice("", _("— Not in the list: type it below —"))]
    for category in categories:
        name = getattr(category, key)
        models += [SelectChoice(str(m.id), m.label, optgroup=name) for m in category.models if m.active]
    form.device_model_id.choices = models
    form.device_category.choices = [("", _("— Category —"))] + [
        (c.code, getattr(c, key)) for c in categories]


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def new_request():
    form = IntakeForm()
    _fill_intake_choices(form)
    if request.method == "GET":
        form.reported_at.data = local_naive(utcnow())
    if form.validate_on_submit():
        data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        data["reported_at"] = from_local_naive(form.reported_at.data)
        outcome = form_action(lambda: intake.create_request(data, domain_context()), form)
        if outcome.ok:
            ticket = outcome.value
            flash(_("Request %(number)s entered.", number=ticket.number), "success")
            return redirect(url_for("dispatch.detail", number=ticket.number))
    return render_template("dispatch/new.html", form=form), 400 if form.errors else 200


# --- board ------------------------------------------------------------------------------------------------


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _board_filter(args) -> BoardFilter:
    def enum_or_none(enum, value):
        try:
            return enum(value) if value else None
        except ValueError:
            return None

    technician = args.get("technician", "")
    return BoardFilter(
        status=enum_or_none(TicketStatus, args.get("status")),
        urgency=enum_or_none(Urgency, args.get("urgency")),
        technician_id=parse_int(technician, minimum=0),
        date_from=_parse_date(args.get("from")),
        date_to=_parse_date(args.get("to")),
        overdue_only=args.get("overdue") == "1",
        open_only=args.get("open") == "1",
        q=args.get("q", "")[:100],
        page=parse_int(args.get("page", ""), minimum=1, maximum=100_000) or 1,
    )


@bp.get("/board")
@roles_required(*BOARD_ROLES)
def board():
    ctx = domain_context()
    board_filter = _board_filter(request.args)
    result = board_page(board_filter, ctx.now, ctx.tz)
    technicians = technician_load()
    assign_form = AssignForm()
    assign_form.technician.choices = [("", _("— Technician —"))] + [
        (str(load.user.id), f"{load.user.display_name} ({load.open_count})") for load in technicians]
    return render_template(
        "dispatch/board.html", result=result, f=board_filter, loads=technicians, assign_form=assign_form,
        now=ctx.now, due_soon=current_policy().due_soon_minutes, args=request.args,
        can_assign=current_user.has_role(Role.SUPERVISOR))


@bp.get("/day")
@roles_required(*BOARD_ROLES)
def day():
    """Today's visits, one row per technician, on one screen; `?day=2026-12-07` another day."""
    ctx = domain_context()
    today = ctx.now.astimezone(ctx.tz).date()
    chosen = _parse_date(request.args.get("day")) or today
    if not (validation.time_in_range(chosen) and date(2000, 1, 1) <= chosen <= date(9000, 1, 1)):
        chosen = today  # 0001-01-01 or 9999-12-31: no day before or after it, and no business on it
    view = day_view(chosen, ctx.now, ctx.tz)
    return render_template("dispatch/day.html", view=view, today=today, now=ctx.now, act_label=act_label,
                           previous_day=chosen - timedelta(days=1), next_day=chosen + timedelta(days=1))


@bp.get("/mine")
@roles_required(Role.TECHNICIAN)
def mine():
    ctx = domain_context()
    show_all = request.args.get("all") == "1"
    result = board_page(BoardFilter(technician_id=current_user.id, open_only=not show_all, per_page=100),
                        ctx.now, ctx.tz)
    return render_template("dispatch/mine.html", result=result, now=ctx.now, show_all=show_all,
                           due_soon=current_policy().due_soon_minutes)


@bp.get("/escalated")
@roles_required(Role.EXPERT)
def escalated():
    ctx = domain_context()
    result = board_page(BoardFilter(expert_id=current_user.id, per_page=100), ctx.now, ctx.tz)
    return render_template("dispatch/escalated.html", result=result, now=ctx.now,
                           due_soon=current_policy().due_soon_minutes)


# --- one request ------------------------------------------------------------------------------------------


def _visible_ticket(number: str) -> Ticket:
    return access.get_ticket(number, current_user)


def _detail_forms(ticket: Ticket) -> dict:
    forms = {
        "assign": AssignForm(prefix="assign"), "escalate": EscalateForm(prefix="escalate"),
        "cancel": CancelForm(prefix="cancel"), "note": NoteForm(prefix="note"),
        "contact": ContactForm(prefix="contact"), "remote": RemoteForm(prefix="remote"),
        "resolve": ResolveForm(prefix="resolve"), "visit": VisitForm(prefix="visit"),
        "prepare": PrepareForm(prefix="prepare"), "forward": ForwardForm(prefix="forward"),
        "unsigned": UnsignedDecisionForm(prefix="unsigned"), "another_visit": AnotherVisitForm(prefix="another"),
    }
    forms["assign"].technician.choices = [("", _("— Technician —"))] + [
        (str(u.id), u.display_name) for u in active_users(Role.TECHNICIAN) if not context.is_assignee(u, ticket)]
    forms["assign"].version.data = str(ticket.version)
    forms["escalate"].expert.choices = [(str(u.id), u.display_name) for u in active_users(Role.EXPERT)]
    if not forms["visit"].address.data:
        forms["visit"].address.data = ticket.address
        forms["visit"].agreed_with.data = ticket.contact_name
    return forms


def _timeline(ticket: Ticket) -> list[tuple]:
    """What happened on the request, newest first: notes, contacts, remote guidance, and each visit's setting out,
    arrival (where it was tapped), missing signature, the supervisor's decision and its end for another visit."""
    entries = [(n.written_at, "note", n) for n in ticket.notes] + [(c.at, "contact", c) for c in ticket.contacts] + \
        [(r.started_at, "remote", r) for r in ticket.remote_sessions]
    for visit in ticket.visits:
        moments = ((visit.on_the_way_at, "on_the_way"), (visit.arrived_at, "arrived"), (visit.unsigned_at, "unsigned"),
                   (visit.decided_at, "decided"), (visit.ended_at, "ended"))
        entries += [(at, kind, visit) for at, kind in moments
                    if at is not None and not (kind == "ended" and visit.decided_at == visit.ended_at)]
    return sorted(entries, key=lambda entry: entry[0], reverse=True)


def _render_detail(ticket: Ticket, forms: dict | None = None, status: int = 200):
    ctx = domain_context()
    forms = forms or _detail_forms(ticket)
    events = db.session.execute(
        select(AuditEvent).options(selectinload(AuditEvent.actor))
        .where(AuditEvent.ticket_id == ticket.id).order_by(AuditEvent.at, AuditEvent.id)
    ).scalars().all()
    user = current_user
    from domain.requests.models import FaultCategory

    faults = db.session.execute(
        select(FaultCategory).where(FaultCategory.active.is_(True),
                                    FaultCategory.device_category_id == ticket.device_category_id)
        .order_by(FaultCategory.code)).scalars().all() if ticket.device_category_id else []
    return render_template(
        "dispatch/detail.html", fault_categories=faults,
        fault_key=name_key(current_locale()), ticket=ticket,
        clocks=ticket_clocks(ticket, ctx.now), events=events,
        forms=forms, now=ctx.now, due_soon=current_policy().due_soon_minutes,
        actions=workflow.available_actions(ticket, user),
        is_assignee=context.is_assignee(user, ticket), is_supervisor=user.has_role(Role.SUPERVISOR),
        can_download=access.can_download_order(user, ticket), can_open_case_analysis=kb.can_edit(user),
        can_note=user.has_role(Role.TECHNICIAN, Role.EXPERT, Role.SUPERVISOR) and not ticket.is_locked,
        visit=ticket.current_visit, awaiting_forward=intake.awaiting_acceptance(ticket),
        pending_unsigned=unsigned.pending_decision(ticket), next_visit=visits.awaiting_next_visit(ticket),
        photos_by_id={p.id: p for p in ticket.photos},
        map_url=visits.map_url, timeline=_timeline(ticket),
        evidence=evidence.page_evidence(ticket),
        can_forward=user.has_role(Role.DISPATCHER, Role.SUPERVISOR),
        tracking_url=tracking_url(ticket, current_site()) if user.has_role(Role.DISPATCHER, Role.SUPERVISOR)
        else None,
    ), status


@bp.get("/requests/<number>")
@signed_in
def detail(number: str):
    return _render_detail(_visible_ticket(number))


def _blob_response(sha256: str):
    """Stored evidence (content-addressed: never changes under its URL), cached privately."""
    blob = db.session.get(Blob, sha256)
    if blob is None:
        abort(404)
    if request.if_none_match.contains(sha256):
        response = make_response("", 304)
    else:
        response = make_response(blob.data)
        response.headers["Content-Type"] = blob.media_type
    response.set_etag(sha256)
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


@bp.get("/requests/<number>/photos/<uuid:photo_id>")
@signed_in
def photo(number: str, photo_id):
    """A photo of the visit, full size; `?size=thumb` its thumbnail."""
    ticket = _visible_ticket(number)
    found = next((p for p in ticket.photos if p.id == photo_id), None)
    if found is None:
        abort(404)
    return _blob_response(found.thumb_sha256 if request.args.get("size") == "thumb" else found.blob_sha256)


@bp.get("/requests/<number>/signature.png")
@signed_in
def signature(number: str):
    ticket = _visible_ticket(number)
    if ticket.signature is None:
        abort(404)
    return _blob_response(ticket.signature.png_sha256)


def _act(number: str, form_name: str, action):
    """Run one action from the detail page: on success go back; on bad input show the page with the form's
    errors (nothing saved); a refused move is flashed."""
    ticket = _visible_ticket(number)
    forms = _detail_forms(ticket)
    form = forms[form_name]
    if not form.validate_on_submit():
        return _render_detail(ticket, forms, 400)
    outcome = form_action(lambda: action(ticket, form), form)
    if outcome.fields:
        return _render_detail(_visible_ticket(number), forms, 400)
    if not outcome.ok:
        return redirect(url_for("dispatch.detail", number=number))
    if outcome.value:
        flash(outcome.value, "success")
    return redirect(safe_next_url(request.form.get("next")) or url_for("dispatch.detail", number=number))


@bp.post("/requests/<number>/assign")
@roles_required(Role.SUPERVISOR)
def assign(number: str):
    ticket = _visible_ticket(number)
    form = AssignForm(prefix="assign") if "assign-technician" in request.form else AssignForm()
    if not form.validate_on_submit():
        abort(400)
    def action():
        technician = assignment.active_user(form.technician.data or "", Role.TECHNICIAN, "technician")
        version = parse_int(form.version.data or "")
        assignment.assign(ticket, technician, domain_context(), expected_version=version)
        return technician

    outcome = form_action(action)
    if outcome.ok:
        flash(_("%(number)s assigned to %(name)s.", number=number, name=outcome.value.display_name), "success")
    return redirect(safe_next_url(request.form.get("next")) or url_for("dispatch.detail", number=number))


@bp.post("/requests/<number>/forward")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def forward(number: str):
    """Customer service checked a customer's own report and passes it to the technical team."""
    def action(ticket, form):
        intake.accept_report(ticket, domain_context())
        return _("Request %(number)s forwarded to the technical team.", number=number)

    return _act(number, "forward", action)


@bp.post("/requests/<number>/tracking/revoke")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def revoke_tracking(number: str):
    """Every tracking link the customer was given stops working (sent to the wrong number, say); the page then
    shows the new one to give instead."""
    from domain.customer.tracking import revoke_tracking_links

    def action(ticket, form):
        revoke_tracking_links(ticket, domain_context())
        return _("The customer's tracking link was revoked: give them the new one.")

    return _act(number, "forward", action)


@bp.post("/requests/<number>/escalate")
@roles_required(Role.SUPERVISOR)
def escalate(number: str):
    def action(ticket, form):
        expert = assignment.active_user(form.expert.data or "", Role.EXPERT, "expert")
        assignment.escalate(ticket, expert, form.reason.data, domain_context())
        return _("Escalated to %(name)s.", name=expert.display_name)

    return _act(number, "escalate", action)


@bp.post("/requests/<number>/cancel")
@roles_required(Role.SUPERVISOR)
def cancel(number: str):
    def action(ticket, form):
        assignment.cancel(ticket, form.reason.data, domain_context())
        return _("Request %(number)s cancelled.", number=number)

    return _act(number, "cancel", action)


@bp.post("/requests/<number>/unsigned")
@roles_required(Role.SUPERVISOR)
def decide_unsigned(number: str):
    """The supervisor's decision on a visit the customer did not sign: another visit, or closed unsigned."""
    def action(ticket, form):
        visit = unsigned.decide(ticket, domain_context(), decision=form.decision.data, reason=form.reason.data)
        if visit.decision.value == "close":
            return _("%(number)s closed without the customer's signature.", number=number)
        return _("%(number)s goes back to scheduling for another visit.", number=number)

    return _act(number, "unsigned", action)


@bp.post("/requests/<number>/another-visit")
@roles_required(Role.SUPERVISOR)
def another_visit(number: str):
    """The supervisor asks for another visit (parts to order): the visit on site ends, its work kept."""
    def action(ticket, form):
        ctx = domain_context()
        followup.another_visit(ticket, ctx, reason=form.reason.data or "", at=ctx.now,
                               action="visit.followup_decided")
        return _("%(number)s goes back to scheduling for another visit.", number=number)

    return _act(number, "another_visit", action)


@bp.post("/requests/<number>/notes")
@roles_required(Role.TECHNICIAN, Role.EXPERT, Role.SUPERVISOR)
def add_note(number: str):
    def action(ticket, form):
        progress_notes.add_note(ticket, form.text.data, domain_context(), shown_to_customer=form.shown_to_customer.data)
        return _("Note added.")

    return _act(number, "note", action)


@bp.post("/requests/<number>/contact")
@roles_required(Role.TECHNICIAN)
def contact(number: str):
    def action(ticket, form):
        remote_work.record_contact(ticket, domain_context(), method=ContactMethod(form.method.data or "phone"),
                                reached=form.reached.data, note=form.note.data or "",
                                at=from_local_naive(form.at.data))
        return _("Contact logged.")

    return _act(number, "contact", action)


@bp.post("/requests/<number>/remote")
@roles_required(Role.TECHNICIAN)
def remote(number: str):
    def action(ticket, form):
        try:
            method, outcome = ContactMethod(form.method.data), RemoteOutcome(form.outcome.data)
        except ValueError:
            raise ValidationError({"outcome": _("Choose how it went.")}) from None
        remote_work.record_remote_session(ticket, domain_context(), method=method, steps=form.steps.data or "",
                                       outcome=outcome)
        return _("Remote guidance recorded.")

    return _act(number, "remote", action)


@bp.post("/requests/<number>/resolve")
@roles_required(Role.TECHNICIAN)
def resolve(number: str):
    def action(ticket, form):
        remote_work.resolve_remotely(ticket, domain_context(), cause=form.cause.data or "",
                                  work_done=form.work_done.data or "",
                                  resolved_at=from_local_naive(form.resolved_at.data))
        return _("Solved remotely: the service order is filled in.")

    # The frozen order's PDF is rendered by the worker after the commit (queued by the domain).
    return _act(number, "resolve", action)


@bp.post("/requests/<number>/visit")
@roles_required(Role.TECHNICIAN)
def visit(number: str):
    def action(ticket, form):
        visits.schedule_visit(ticket, domain_context(), scheduled_at=from_local_naive(form.scheduled_at.data),
                                address=form.address.data or "", agreed_with=form.agreed_with.data or "")
        return _("Visit scheduled; the preparation checklist is ready.")

    return _act(number, "visit", action)


@bp.post("/requests/<number>/prepare")
@roles_required(Role.TECHNICIAN)
def prepare(number: str):
    def action(ticket, form):
        checked = {number for v in request.form.getlist("item") if (number := parse_int(v)) is not None}
        visits.confirm_preparation(ticket, domain_context(), checked_item_ids=checked)
        return _("Preparation confirmed.")

    return _act(number, "prepare", action)


def board_url(**changes) -> str:
    """The board's URL with some query arguments changed (filters keep the others)."""
    args = request.args.to_dict()
    args.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        args.pop(key, None)
    return url_for(request.endpoint, **args)


@bp.app_template_global("board_url")
def _board_url(**changes) -> str:
    return board_url(**changes)
