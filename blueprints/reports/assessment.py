"""The monthly assessment (考核) of each technician: the page (a month, one technician or the team overview), its
CSV and PDF. Supervisors and administrators only: the domain gives reading the team's figures to the supervisor,
and the page sets each technician beside the others (the overview lists every colleague's figures), so a
technician gets their sheet from the supervisor (the PDF) rather than opening the team's."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import lazy_gettext as _l

from domain.core.enums import Role
from domain.core.errors import DomainError, NotFound
from domain.core.types import utcnow
from domain.reporting import assessment as assessing
from domain.reporting.reports import Technician

from ..access import roles_required
from ..core.helpers import company_tz, current_locale, current_site
from . import bp
from .routes import _download

ASSESSORS = (Role.SUPERVISOR, Role.ADMIN)


def requested_assessment() -> assessing.Assessment:
    """The month in `?month=` (default: the last complete month); a bad month raises a DomainError (400)."""
    return assessing.assessment(request.args.get("month"), utcnow(), company_tz())


def requested_technician(report: assessing.Assessment) -> Technician | None:
    """The technician in `?technician=` (an account name), None for the team; an unknown one is a 404."""
    username = (request.args.get("technician") or "").strip()
    if not username:
        return None
    found = report.technician(username[:64])
    if found is None:
        raise NotFound("no_technician", _l("No technician with that account: choose one from the list."))
    return found


@bp.get("/assessment")
@roles_required(*ASSESSORS)
def assessment():
    now, tz = utcnow(), company_tz()
    latest = assessing.month_of(now, tz)
    month_text = (request.args.get("month") or "").strip()
    try:
        report = assessing.assessment(month_text or None, now, tz)
        technician = requested_technician(report)
    except DomainError as error:
        return render_template("reports/assessment.html", report=None, error=error.message,
                               month_text=month_text[:40], latest=latest,
                               technician_text=(request.args.get("technician") or "")[:64]), error.status
    following = report.month.shifted(1)
    return render_template(
        "reports/assessment.html", report=report, error=None, month_text=report.month.label, latest=latest,
        technician=technician, technician_text=technician.username if technician else "",
        next_month=following if following.start <= now else None, **assessing.page_context(report))


@bp.get("/assessment.csv")
@roles_required(*ASSESSORS)
def assessment_csv():
    report = requested_assessment()
    technician = requested_technician(report)
    name = f"assessment-{report.month}{'-' + technician.username if technician else ''}.csv"
    return _download(assessing.assessment_csv(report, technician), "text/csv; charset=utf-8", name)


@bp.get("/assessment.pdf")
@roles_required(*ASSESSORS)
def assessment_pdf():
    report = requested_assessment()
    technician = requested_technician(report)
    pdf = assessing.assessment_pdf(report, technician, company=current_site().company,
                                   templates=current_site().templates, locale=current_locale())
    name = f"assessment-{report.month}{'-' + technician.username if technician else ''}.pdf"
    return _download(pdf, "application/pdf", name)
