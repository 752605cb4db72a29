from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from domain.alerts import delivery, mail, notifications, weekly
from domain.alerts.mail import INVALID_EMAIL, valid_email
from domain.alerts.models import StoredReport
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import Blob

from ..access import roles_required, signed_in
from . import bp


class EmptyForm(FlaskForm):
    pass


def _user():
    return current_user._get_current_object()


class UnreadAlerts:
    """The bell's count, read only when a page shows the bell (an error page must render without the database)."""

    @property
    def count(self) -> int:
        if not current_user.is_authenticated:
            return 0
        return notifications.unread_count(current_user)


@bp.app_context_processor
def inject_bell():
    return {"unread_alerts": UnreadAlerts()}


@bp.app_template_filter("fromiso")
def from_iso(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value)


@bp.get("/notifications/")
@signed_in
def inbox():
    box = notifications.inbox(_user(), tz=ZoneInfo(current_app.config["TIMEZONE"]), limit=100)
    return render_template("alerts/inbox.html", box=box, form=EmptyForm())


@bp.post("/notifications/<int:notification_id>/read")
@signed_in
def mark_read(notification_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    note = notifications.mark_read(_user(), notification_id)
    if request.form.get("open") == "1":
        return redirect(delivery.path_for(_user(), note))
    return redirect(url_for("alerts.inbox"))


@bp.post("/notifications/read-all")
@signed_in
def mark_all_read():
    if not EmptyForm().validate_on_submit():
        abort(400)
    notifications.mark_all_read(_user())
    flash(_("All alerts marked as read."), "success")
    return redirect(url_for("alerts.inbox"))


@bp.route("/notifications/preferences", methods=["GET", "POST"])
@signed_in
def preferences():
    """Which alerts reach the user by push and by e-mail, and the address for e-mail."""
    user = _user()
    form = EmptyForm()
    error = None
    if form.validate_on_submit():
        email = request.form.get("email", "").strip()
        if email and not valid_email(email):
            error = INVALID_EMAIL
        else:
            user.email = email or None
            delivery.save_channels(user, request.form.getlist("push"), request.form.getlist("email_kind"))
            flash(_("Alert settings saved."), "success")
            return redirect(url_for("alerts.preferences"))
    return render_template("alerts/preferences.html", form=form, channels=delivery.channels_of(user),
                           kinds=notifications.kinds_for(user), email=request.form.get("email", user.email or ""),
                           error=error), 400 if error else 200


@bp.route("/admin/outbox", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def outbox():
    """The mail outbox: what waits, why, and when it is tried again."""
    form = EmptyForm()
    if form.validate_on_submit():
        mail_id = request.form.get("retry", "")
        if mail_id.isascii() and mail_id.isdigit() and len(mail_id) <= 9:
            mail.retry_now(int(mail_id))
            flash(_("The mail will be tried again now."), "success")
        return redirect(url_for("alerts.outbox"))
    return render_template("alerts/outbox.html", rows=mail.outbox_rows(), form=form,
                           smtp_host=current_app.config["SMTP_HOST"])


@bp.get("/reports/delivered")
@roles_required(Role.SUPERVISOR)
def delivered_reports():
    return render_template("alerts/delivered.html", reports=weekly.stored_reports(),
                           recipients=weekly.recipients(current_app.config))


@bp.get("/reports/delivered/<week>.<fmt>")
@roles_required(Role.SUPERVISOR)
def delivered_report_file(week: str, fmt: str):
    stored = db.session.execute(select(StoredReport).where(StoredReport.week == week)).scalar_one_or_none()
    if stored is None or fmt not in ("pdf", "csv"):
        abort(404)
    blob = db.session.get(Blob, stored.pdf_sha256 if fmt == "pdf" else stored.csv_sha256)
    response = make_response(blob.data)
    response.headers["Content-Type"] = blob.media_type
    response.headers["Content-Disposition"] = f'attachment; filename="weekly-report-{week}.{fmt}"'
    return response
