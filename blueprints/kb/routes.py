from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from domain.core.db import db
from domain.core.enums import ArticleStatus, ClockName
from domain.core.errors import NotFound
from domain.core.locales import name_key as names_in
from domain.core.models import Blob
from domain.core.types import utcnow
from domain.core.validation import parse_int
from domain.knowledge import kb
from domain.knowledge.models import KbArticle
from domain.requests import access
from domain.requests.models import DeviceCategory, FaultCategory
from domain.sla.clocks import ticket_clocks
from domain.sla.policy import current_policy

from ..access import roles_required, signed_in
from ..core.actions import form_action
from ..core.helpers import apply_field_errors, current_locale, domain_context
from . import bp
from .forms import ArticleForm, CaseAnalysisForm, FaultCategoryForm


def _int_arg(name: str) -> int | None:
    return parse_int(request.values.get(name, ""), minimum=1)


def _catalog() -> dict:
    """Device kinds with their models and fault types, for the selects (grouped by kind)."""
    categories = db.session.execute(
        select(DeviceCategory).options(selectinload(DeviceCategory.models))
        .order_by(DeviceCategory.position, DeviceCategory.id)).scalars().all()
    faults = db.session.execute(select(FaultCategory).order_by(FaultCategory.name_zh)).scalars().all()
    by_kind: dict[int, list[FaultCategory]] = {}
    for fault in faults:
        by_kind.setdefault(fault.device_category_id, []).append(fault)
    name_key = names_in(current_locale())
    return {"categories": categories, "faults_by_kind": by_kind, "name_key": name_key}


# --- reading --------------------------------------------------------------------------------------------------


@bp.get("/")
@signed_in
def index():
    query = kb.SearchQuery(text=request.args.get("q", ""), device_category_id=_int_arg("category"),
                           device_model_id=_int_arg("model"), fault_category_id=_int_arg("fault"),
                           include_drafts=kb.can_edit(current_user), page=min(_int_arg("page") or 1, 100_000))
    articles, total = kb.search_articles(query)
    orders = kb.search_orders(query.text) if query.text.strip() else []
    pages = max(1, -(-total // kb.PAGE_SIZE))
    return render_template("kb/index.html", q=query, articles=articles, total=total, pages=pages, orders=orders,
                           can_edit=kb.can_edit(current_user), **_catalog())


@bp.get("/articles/<int:article_id>")
@signed_in
def article(article_id: int):
    item = kb.get_article(article_id, current_user)
    visible_sources = [t for t in item.sources if access.can_view(current_user, t)]
    return render_template("kb/article.html", article=item, causes=kb.root_causes(item),
                           visible_sources={t.number for t in visible_sources},
                           can_edit=kb.can_edit(current_user), **_catalog())


@bp.post("/manuals")
@signed_in
def start_manual():
    """The FAQ manual 《常见问题解决方案手册》 as PDF (every published article, or one kind of device), built by
    the background worker: this records the request (or joins the same one pending) and shows its progress."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    job = kb.start_manual(current_user._get_current_object(), _int_arg("category"), current_locale())
    return redirect(url_for("kb.manual_status", job_id=job.id))


@bp.get("/manuals/<int:job_id>")
@signed_in
def manual_status(job_id: int):
    job = kb.manual_job(job_id)
    if job is None:
        abort(404)
    scope = getattr(job.device_category, names_in(current_locale())) if job.device_category else None
    return render_template("kb/manual.html", job=job, scope=scope)


@bp.get("/manuals/<int:job_id>.pdf")
@signed_in
def manual_download(job_id: int):
    job = kb.manual_job(job_id)
    if job is None or not job.pdf_sha256:
        abort(404)
    response = make_response(db.session.get(Blob, job.pdf_sha256).data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{kb.manual_file_name(job)}"'
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# --- editing ----------------------------------------------------------------------------------------------


def _article_input(form: ArticleForm) -> kb.ArticleInput:
    return kb.ArticleInput(title=form.title.data or "", device_model_id=_int_arg("device_model_id"),
                           fault_category_id=_int_arg("fault_category_id"), symptoms=form.symptoms.data or "",
                           solution=form.solution.data or "", precautions=form.precautions.data or "",
                           sources=form.sources.data or "")


def _edit_page(form: ArticleForm, item: KbArticle | None, errors: dict | None = None, status: int = 200):
    errors = errors or {}
    unplaced = apply_field_errors(form, {k: v for k, v in errors.items()
                                         if k not in ("device_model_id", "fault_category_id")})
    chosen = {"model": _int_arg("device_model_id") if request.method == "POST" else
              (item.device_model_id if item else _int_arg("model")),
              "fault": _int_arg("fault_category_id") if request.method == "POST" else
              (item.fault_category_id if item else _int_arg("fault"))}
    return render_template("kb/edit.html", form=form, article=item, errors=errors, unplaced=unplaced,
                           chosen=chosen, **_catalog()), status


def _save(item: KbArticle | None):
    form = ArticleForm()
    if not form.validate_on_submit():
        return _edit_page(form, item, status=400 if request.method == "POST" else 200)
    outcome = form_action(lambda: kb.save_article(domain_context(), item, _article_input(form),
                                                  publish=request.form.get("publish") == "1"), flash_errors=False)
    if outcome.fields:
        return _edit_page(form, item, outcome.fields, status=422)
    if not outcome.ok:
        raise outcome.error
    saved = outcome.value
    flash(_("Article saved (revision %(n)d).", n=saved.revision), "success")
    return redirect(url_for("kb.article", article_id=saved.id))


@bp.route("/articles/new", methods=["GET", "POST"])
@roles_required(*kb.EDITOR_ROLES)
def new_article():
    if request.method == "GET":
        return _edit_page(ArticleForm(), None)
    return _save(None)


@bp.route("/articles/<int:article_id>/edit", methods=["GET", "POST"])
@roles_required(*kb.EDITOR_ROLES)
def edit_article(article_id: int):
    item = kb.get_article(article_id, current_user)
    if request.method == "GET":
        form = ArticleForm(obj=item)
        form.sources.data = " ".join(t.number for t in item.sources)
        return _edit_page(form, item)
    return _save(item)


@bp.post("/articles/<int:article_id>/status")
@roles_required(*kb.EDITOR_ROLES)
def set_article_status(article_id: int):
    item = kb.get_article(article_id, current_user)
    form = FlaskForm()  # CSRF only
    status = request.form.get("status", "")
    if not form.validate_on_submit() or status not in {s.value for s in ArticleStatus}:
        flash(_("Nothing was changed: the form was incomplete. Please try again."), "error")
        return redirect(url_for("kb.article", article_id=article_id))
    kb.set_status(domain_context(), item, ArticleStatus(status))
    flash(_("Article published.") if status == "published" else
          _("Article archived.") if status == "archived" else _("Article set back to draft."), "success")
    return redirect(url_for("kb.article", article_id=article_id) if status != "archived" else url_for("kb.index"))


# --- case analyses ---------------------------------------------------------------------------------------------


@bp.get("/cases")
@roles_required(*kb.EDITOR_ROLES)
def cases():
    now = utcnow()

    def with_clock(analyses):
        return [(a, next(c for c in ticket_clocks(a.ticket, now) if c.name == ClockName.CASE_ANALYSIS))
                for a in analyses]

    return render_template("kb/cases.html", rows=with_clock(kb.open_analyses()),
                           done=with_clock(kb.recent_analyses()), now=now,
                           due_soon=current_policy().due_soon_minutes)


@bp.route("/cases/<number>", methods=["GET", "POST"])
@roles_required(*kb.EDITOR_ROLES)
def case_analysis(number: str):
    ticket = access.get_ticket(number)
    analysis = ticket.case_analysis
    if analysis is None:
        raise NotFound("no_analysis", _("Request %(number)s has no case analysis.", number=number))
    form = CaseAnalysisForm()
    errors: dict = {}
    if request.method == "GET" and analysis.completed_at is None:
        form.summary.data = form.summary.data or ticket.solution_summary
        form.root_cause.data = form.root_cause.data or ticket.root_cause
        form.symptoms.data = form.symptoms.data or ticket.problem
        name_key = names_in(current_locale())
        fault = ticket.fault_category
        form.article_title.data = form.article_title.data or (
            f"{ticket.device_model_text}: {getattr(fault, name_key)}" if fault else ticket.device_model_text)
    elif form.validate_on_submit():
        outcome = form_action(lambda: kb.complete_analysis_with_article(
            ticket, domain_context(), summary=form.summary.data, root_cause=form.root_cause.data,
            fix=form.fix.data, prevention=form.prevention.data, title=form.article_title.data,
            device_model_id=_int_arg("device_model_id"), symptoms=form.symptoms.data,
            article_id=_int_arg("article_id")), flash_errors=False)
        if outcome.fields:
            errors = outcome.fields
        elif not outcome.ok:
            flash(str(outcome.error.message), "error")
            return redirect(url_for("kb.cases"))
        else:
            flash(_("Case analysis complete; the FAQ article is published."), "success")
            return redirect(url_for("kb.article", article_id=outcome.value.id))
    unplaced = apply_field_errors(form, {k: v for k, v in errors.items()
                                         if k not in ("device_model_id", "fault_category_id", "article_id")})
    clock = next(c for c in ticket_clocks(ticket, utcnow()) if c.name == ClockName.CASE_ANALYSIS)
    chosen_model = _int_arg("device_model_id") if request.method == "POST" else ticket.device_model_id
    chosen_article = _int_arg("article_id") if request.method == "POST" else None
    return render_template("kb/case.html", ticket=ticket, analysis=analysis, form=form, clock=clock, errors=errors,
                           unplaced=unplaced, candidates=kb.candidate_articles(ticket), chosen_model=chosen_model,
                           chosen_article=chosen_article, can_view_ticket=access.can_view(current_user, ticket),
                           **_catalog()), 422 if errors else 200


# --- fault categories -------------------------------------------------------------------------------------------


@bp.route("/faults", methods=["GET", "POST"])
@roles_required(*kb.EDITOR_ROLES)
def faults():
    form = FaultCategoryForm()
    errors: dict = {}
    if form.validate_on_submit():
        outcome = form_action(lambda: kb.save_fault_category(
            domain_context(), None, device_category_id=_int_arg("device_category_id"), name_zh=form.name_zh.data,
            name_en=form.name_en.data), flash_errors=False)
        if outcome.fields:
            errors = outcome.fields
        elif not outcome.ok:
            raise outcome.error
        else:
            flash(_("Fault category “%(name)s” added.", name=outcome.value.name_zh), "success")
            return redirect(url_for("kb.faults"))
    unplaced = apply_field_errors(form, {k: v for k, v in errors.items() if k != "device_category_id"})
    return render_template("kb/faults.html", form=form, errors=errors, unplaced=unplaced,
                           chosen_kind=_int_arg("device_category_id"), **_catalog()), 422 if errors else 200


@bp.post("/faults/<int:fault_id>")
@roles_required(*kb.EDITOR_ROLES)
def edit_fault(fault_id: int):
    fault = db.session.get(FaultCategory, fault_id)
    if fault is None:
        raise NotFound("no_fault_category", _("There is no such fault category."))
    form = FaultCategoryForm()
    if form.validate_on_submit():
        outcome = form_action(lambda: kb.save_fault_category(
            domain_context(), fault, device_category_id=None, name_zh=form.name_zh.data, name_en=form.name_en.data,
            active=form.active.data))
        if outcome.ok:
            flash(_("Fault category saved."), "success")
    return redirect(url_for("kb.faults") + f"#fault-{fault_id}")

