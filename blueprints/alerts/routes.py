from __future__ import annotations

from functools import partial

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from domain.alerts import channels, delivery, mail, notifications, robots, sms, weekly
from domain.alerts.mail import INVALID_EMAIL, valid_email
from domain.alerts.models import SmsTemplate, StoredReport
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import Blob

from ..access import roles_required, signed_in
from ..core.actions import form_action
from ..core.helpers import company_tz, current_settings, current_site
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
    box = notifications.inbox(_user(), tz=company_tz(), limit=100)
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
    """Which alerts reach the user by which channel (push, e-mail, the group robot's @mention, SMS), the address
    for e-mail and the mobile number for the mention and the SMS."""
    user = _user()
    form = EmptyForm()
    errors: dict = {}
    if form.validate_on_submit():
        email = request.form.get("email", "").strip()
        if email and not valid_email(email):
            errors["email"] = INVALID_EMAIL
        outcome = form_action(lambda: delivery.set_mobile(user, request.form.get("phone", "")), flash_errors=False)
        if not outcome.ok:
            errors.update({k: str(v) for k, v in outcome.fields.items()})
        if not errors:
            user.email = email or None
            delivery.save_channels(user, request.form.getlist("push"), request.form.getlist("email_kind"),
                                   request.form.getlist("robot"), request.form.getlist("sms"))
            flash(_("Alert settings saved."), "success")
            return redirect(url_for("alerts.preferences"))
    return render_template("alerts/preferences.html", form=form, channels=delivery.channels_of(user),
                           offered=delivery.offered(user), kinds=notifications.kinds_for(user),
                           email=request.form.get("email", user.email or ""),
                           phone=request.form.get("phone", user.phone or ""), errors=errors,
                           sms_on=bool(current_settings().sms.provider)), 400 if errors else 200


@bp.route("/admin/outbox", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def outbox():
    """Every channel's outbox (mail, group robots, SMS): what waits, why, the platform's last answer, and when it
    is tried again."""
    form = EmptyForm()
    if form.validate_on_submit():
        mail_id = request.form.get("retry", "")
        message_id = request.form.get("retry_message", "")
        if mail_id.isascii() and mail_id.isdigit() and len(mail_id) <= 9:
            mail.retry_now(int(mail_id))
            flash(_("The mail will be tried again now."), "success")
        elif message_id.isascii() and message_id.isdigit() and len(message_id) <= 9:
            channels.retry_now(int(message_id))
            flash(_("The message will be tried again now."), "success")
        return redirect(url_for("alerts.outbox"))
    return render_template("alerts/outbox.html", rows=mail.outbox_rows(), form=form,
                           smtp_host=current_settings().mail.host, messages=channels.outbox_rows(),
                           channel_names={c.id: c.name for c in channels.list_channels()},
                           sms_text=partial(sms.text_of, link_base=current_site().link("/c/")))


@bp.get("/reports/delivered")
@roles_required(Role.SUPERVISOR)
def delivered_reports():
    return render_template("alerts/delivered.html", reports=weekly.stored_reports(),
                           recipients=weekly.recipients(current_settings().mail))


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


# --- group robots (DingTalk, WeCom, Feishu) ------------------------------------------------------------------


def _channel_fields() -> dict:
    """The robot form as posted (a missing field is empty; the domain checks every value)."""
    return {"platform": request.form.get("platform", ""), "name": request.form.get("name", ""),
            "webhook_url": request.form.get("webhook_url", ""), "secret": request.form.get("secret", ""),
            "kinds": request.form.getlist("kinds")}


def _channel_page(template: str, *, errors: dict | None = None, values: dict | None = None, **extra):
    return render_template(template, form=EmptyForm(), errors=errors or {}, values=values or {},
                           platforms=robots.PLATFORM_LABELS, kinds=channels.ROBOT_KINDS,
                           kind_labels=notifications.KIND_LABELS, default_kinds=channels.DEFAULT_KINDS,
                           **extra), 400 if errors else 200


@bp.route("/admin/channels", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def channel_list():
    """The group robots: paste a webhook (and its secret), choose the alerts; each with its state and last answer."""
    values: dict = {}
    errors: dict = {}
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        values = _channel_fields()
        outcome = form_action(lambda: channels.add_channel(
            values["platform"], values["webhook_url"], secret=values["secret"], kinds=values["kinds"],
            name=values["name"], hosts_setting=current_settings().channels.hosts_allowed, actor=_user()),
            flash_errors=False)
        if outcome.ok:
            flash(_("Robot added: use \u201cSend a test message\u201d to see the platform's answer."), "success")
            return redirect(url_for("alerts.channel_list"))
        errors = {k: str(v) for k, v in outcome.fields.items()} or {"webhook_url": str(outcome.error.message)}
    return _channel_page("alerts/channels.html", errors=errors, values=values, rows=channels.list_channels(),
                         waiting=channels.waiting_counts())


@bp.route("/admin/channels/<int:channel_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def channel_edit(channel_id: int):
    channel = channels.get_channel(channel_id)
    errors: dict = {}
    values = {"name": channel.name, "webhook_url": channel.webhook_url, "kinds": channel.kinds,
              "active": channel.active}
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        values = {**_channel_fields(), "active": request.form.get("active") == "1"}
        keep = request.form.get("secret", "") == "" and request.form.get("clear_secret") != "1"
        outcome = form_action(lambda: channels.update_channel(
            channel, webhook_url=values["webhook_url"], secret=values["secret"], keep_secret=keep,
            kinds=values["kinds"], name=values["name"], active=values["active"],
            hosts_setting=current_settings().channels.hosts_allowed, actor=_user()), flash_errors=False)
        if outcome.ok:
            flash(_("Changes saved."), "success")
            return redirect(url_for("alerts.channel_list"))
        errors = {k: str(v) for k, v in outcome.fields.items()} or {"webhook_url": str(outcome.error.message)}
    return _channel_page("alerts/channel_edit.html", errors=errors, values=values, channel=channel)


@bp.post("/admin/channels/<int:channel_id>/test")
@roles_required(Role.ADMIN)
def channel_test(channel_id: int):
    """Send a test message now and show what the platform answered."""
    channel = channels.get_channel(channel_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    from domain.core.types import utcnow

    answer = channels.send_test(channel, current_settings(), utcnow())
    if answer.outcome == "sent":
        flash(_("%(name)s: the platform accepted the test message (%(answer)s).", name=channel.name,
                answer=answer.describe()), "success")
    else:
        flash(_("%(name)s: the platform refused the test message: %(answer)s", name=channel.name,
                answer=answer.describe()), "error")
    return redirect(url_for("alerts.channel_list"))


@bp.post("/admin/channels/<int:channel_id>/delete")
@roles_required(Role.ADMIN)
def channel_delete(channel_id: int):
    channel = channels.get_channel(channel_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    channels.remove_channel(channel, _user())
    flash(_("Robot removed."), "success")
    return redirect(url_for("alerts.channel_list"))


@bp.route("/admin/sms", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def sms_settings():
    """The SMS provider in use (from the settings) and the approved template code for each kind of message."""
    from domain.alerts.sms_providers import Provider

    provider = Provider.from_settings(current_settings().sms)
    errors: dict = {}
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        codes = {kind.value: request.form.get(kind.value, "") for kind in sms.SmsKind}
        outcome = form_action(lambda: sms.save_template_codes(codes, _user()), flash_errors=False)
        if outcome.ok:
            flash(_("Template codes saved."), "success")
            return redirect(url_for("alerts.sms_settings"))
        errors = {k: str(v) for k, v in outcome.fields.items()}
    current = sms.template_codes(provider.name if provider else None)
    stored = {t.kind for t in db.session.execute(select(SmsTemplate)).scalars()}
    rows = [(kind, sms.KIND_LABELS[kind], sms.wording(kind, current_site().link("/c/")), sms.TEMPLATE_VARS[kind],
             request.form.get(kind.value, current[kind] if kind.value in stored else ""), current[kind],
             errors.get(kind.value)) for kind in sms.SmsKind]
    return _sms_page(rows=rows, status=400 if errors else 200)


def _sms_page(*, rows=None, status: int = 200):
    from domain.alerts import opt_outs
    from domain.alerts.sms_providers import Provider

    if rows is None:
        provider = Provider.from_settings(current_settings().sms)
        current = sms.template_codes(provider.name if provider else None)
        stored = {t.kind for t in db.session.execute(select(SmsTemplate)).scalars()}
        rows = [(kind, sms.KIND_LABELS[kind], sms.wording(kind, current_site().link("/c/")), sms.TEMPLATE_VARS[kind],
                 current[kind] if kind.value in stored else "", current[kind], None) for kind in sms.SmsKind]
    return render_template("alerts/sms.html", form=EmptyForm(), rows=rows, provider=sms.describe_provider(
        current_settings().sms), cap=current_settings().sms.daily_cap, opt_outs=opt_outs.current_opt_outs(),
        replies=opt_outs.recent_replies(), callback_on=bool(current_settings().sms.callback_token)), status


@bp.post("/admin/sms/opt-outs/lift")
@roles_required(Role.ADMIN)
def sms_lift_opt_out():
    """An administrator lifts a number's opt-out, saying why (the customer asked for messages again)."""
    from domain.alerts import opt_outs

    if not EmptyForm().validate_on_submit():
        abort(400)
    mobile = request.form.get("mobile", "")
    outcome = form_action(lambda: opt_outs.lift(mobile, request.form.get("reason", ""), _user()))
    if not outcome.ok:
        return _sms_page(status=outcome.error.status if not outcome.fields else 400)
    flash(_("%(mobile)s gets messages again.", mobile=mobile), "success")
    return redirect(url_for("alerts.sms_settings"))
