"""The weekly report delivered: every Monday at 09:00 (TIMEZONE) last week's report is stored as PDF and CSV,
e-mailed to customer service (WEEKLY_REPORT_TO) and announced in the supervisors' inboxes. The worker's minute
tick calls this; a week already stored is never delivered twice, and a worker that was down on Monday
delivers as soon as it runs again."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select

from ..alerts.models import StoredReport
from ..core.blobs import store_blob
from ..core.db import db
from ..core.settings import MailSettings
from ..reporting import reports
from . import mail
from .notifications import Kind, active_supervisors, notify

DELIVERY_TIME = time(9, 0)  # Monday, local time


def week_due(now: datetime, tz: ZoneInfo) -> reports.Week:
    """The week whose report is due by `now`: the week before the latest Monday 09:00 that has passed."""
    local = now.astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    if local < datetime.combine(monday, DELIVERY_TIME, tzinfo=tz):
        monday -= timedelta(days=7)
    return reports.week_of(datetime.combine(monday - timedelta(days=3), time(12), tzinfo=tz), tz)


def recipients(settings: MailSettings) -> list[str]:
    return list(settings.weekly_report_to)


def is_stored(week: reports.Week) -> bool:
    return db.session.execute(select(StoredReport.id).where(StoredReport.week == week.label)).first() is not None


def build_report(week: reports.Week, now: datetime, tz: ZoneInfo) -> tuple[reports.WeeklyReport, bytes]:
    """The week's figures and their CSV (reads only)."""
    report = reports.weekly_report(week, now, tz)
    return report, reports.report_csv(report)


def store_and_send(week: reports.Week, pdf_data: bytes, csv_data: bytes, settings: MailSettings,
                   now: datetime) -> bool:
    """Store the files, queue the mail to customer service and announce it to the supervisors (the caller
    commits). False when another worker stored the week meanwhile."""
    if is_stored(week):
        return False
    db.session.add(StoredReport(week=week.label, pdf_sha256=store_blob(pdf_data, "application/pdf").sha256,
                                csv_sha256=store_blob(csv_data, "text/csv").sha256, created_at=now))
    subject = _("Weekly service report %(week)s", week=week.label)
    body = _("The technical support team's figures for %(week)s (%(start)s to %(end)s) are attached as PDF "
             "and CSV.", week=week.label, start=week.monday.isoformat(), end=week.sunday.isoformat())
    mail.queue_mail("weekly_report", recipients(settings), subject, body,
                    [(f"weekly-report-{week.label}.pdf", pdf_data, "application/pdf"),
                     (f"weekly-report-{week.label}.csv", csv_data, "text/csv")])
    notify([u.id for u in active_supervisors()], Kind.WEEKLY_REPORT, week.label, week=week.label)
    return True


def stored_reports() -> list[StoredReport]:
    return list(db.session.execute(select(StoredReport).order_by(StoredReport.week.desc())).scalars())
