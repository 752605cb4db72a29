from __future__ import annotations

from flask import make_response, render_template, request

from domain.core.enums import Role
from domain.core.errors import DomainError
from domain.core.types import utcnow
from domain.reporting import reports

from ..access import roles_required
from ..core.helpers import company_tz, current_locale, current_site
from . import bp


def requested_report() -> reports.WeeklyReport:
    """The week in `?week=` (default: the last complete week); a bad week raises a DomainError (400)."""
    return reports.weekly_report(request.args.get("week"), utcnow(), company_tz())


@bp.get("/weekly")
@roles_required(Role.SUPERVISOR)
def weekly():
    now, tz = utcnow(), company_tz()
    latest = reports.week_of(now, tz)
    week_text = (request.args.get("week") or "").strip()
    try:
        report = reports.weekly_report(week_text or None, now, tz)
    except DomainError as error:
        return render_template("reports/weekly.html", report=None, error=error.message, week_text=week_text[:40],
                               latest=latest), 400
    following = report.week.shifted(1)
    return render_template(
        "reports/weekly.html", report=report, error=None, week_text=report.week.label, latest=latest,
        next_week=following if following.start <= now else None, sections=reports.sections(report),
        bars=reports.figure_bars(report), ratings=reports.rating_bars(report), percent=reports.percent,
        rules=reports.counting_rules(tz.key))


def _download(data: bytes, media_type: str, filename: str):
    response = make_response(data)
    response.headers["Content-Type"] = media_type
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/weekly.csv")
@roles_required(Role.SUPERVISOR)
def weekly_csv():
    report = requested_report()
    return _download(reports.report_csv(report), "text/csv; charset=utf-8", f"weekly-report-{report.week}.csv")


@bp.get("/weekly.pdf")
@roles_required(Role.SUPERVISOR)
def weekly_pdf():
    report = requested_report()
    pdf = reports.report_pdf(report, company=current_site().company, templates=current_site().templates,
                             locale=current_locale())
    return _download(pdf, "application/pdf", f"weekly-report-{report.week}.pdf")
