from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from domain.core import accounts
from domain.core.enums import Role
from domain.core.models import User
from domain.core.validation import parse_int
from domain.sla.policy import (
    DEFAULT_POLICY,
    SETTING_NAMES,
    SIGNING_CODE_KEY,
    current_policy,
    save_policy,
    save_signing_code,
    signing_code_required,
)
from domain.sla.workdays import calendar_known, last_known_year, list_overrides, remove_override, set_override
from extensions import db

from ..access import roles_required
from ..core.actions import form_action
from ..core.helpers import current_settings, current_site
from . import bp
from .forms import CalendarOverrideForm, EmptyForm, NewUserForm, ResetPasswordForm, UserDetailsForm


@bp.get("/users")
@roles_required(Role.ADMIN)
def users():
    role = request.args.get("role")
    query = select(User).order_by(User.active.desc(), User.role, User.username)
    if role in {r.value for r in Role}:
        query = query.where(User.role == Role(role))
    people = db.session.execute(query).scalars().all()
    return render_template("admin/users.html", users=people, role_filter=role, form=EmptyForm())


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_user():
    form = NewUserForm()
    if form.validate_on_submit():
        outcome = form_action(lambda: accounts.create_user(
            form.username.data, form.password.data, form.role.data, display_name=form.display_name.data,
            is_admin=form.is_admin.data, phone=form.phone.data, actor=current_user,
        ), form, error_field="username")
        if outcome.ok:
            flash(_("Account %(name)s created.", name=outcome.value.username), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_new.html", form=form), 400 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_user(user_id: int):
    user = accounts.get_user(user_id)
    form = UserDetailsForm(obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.role.data = user.role.value
    if form.validate_on_submit():
        outcome = form_action(lambda: accounts.update_user(
            user, display_name=form.display_name.data, role=form.role.data, is_admin=form.is_admin.data,
            phone=form.phone.data, actor=current_user), form, error_field="role")
        if outcome.ok:
            flash(_("Changes saved."), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_edit.html", user=user, form=form, reset_form=ResetPasswordForm(),
                           toggle_form=EmptyForm()), 400 if form.errors else 200


@bp.post("/users/<int:user_id>/active")
@roles_required(Role.ADMIN)
def set_active(user_id: int):
    user = accounts.get_user(user_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    activate = request.form.get("active") == "1"
    if form_action(lambda: accounts.set_active(user, activate, actor=current_user)).ok:
        if activate:
            flash(_("%(name)s can sign in again.", name=user.username), "success")
        else:
            flash(_("%(name)s has been deactivated and signed out everywhere.", name=user.username), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.post("/users/<int:user_id>/password")
@roles_required(Role.ADMIN)
def reset_password(user_id: int):
    user = accounts.get_user(user_id)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        accounts.reset_password(user, form.password.data, actor=current_user)
        flash(_("New password set for %(name)s; their other sessions have ended.", name=user.username),
              "success")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    details = UserDetailsForm(obj=user)
    details.role.data = user.role.value
    return render_template("admin/user_edit.html", user=user, form=details, reset_form=form,
                           toggle_form=EmptyForm()), 400


# --- the service policy and the working-day calendar --------------------------------------------------------

POLICY_HINTS = {
    "intake_minutes": _l("Customer's contact to the request entered (minutes)"),
    "first_contact_urgent_minutes": _l("Entered to first contact, urgent (minutes)"),
    "first_contact_normal_minutes": _l("Entered to first contact, normal (minutes)"),
    "remote_fix_minutes": _l("First contact to a remote fix (minutes)"),
    "order_filled_minutes": _l("Remote fix to the service order filled (minutes)"),
    "preparation_lead_minutes": _l("Preparation confirmed before the visit (minutes)"),
    "submission_minutes": _l("End of service to the order submitted (minutes)"),
    "case_analysis_working_days": _l("Case analysis (working days)"),
    "due_soon_minutes": _l("Boards highlight deadlines this close (minutes)"),
    "warn_first_contact_minutes": _l("Alert before the first-contact deadline (minutes)"),
    "warn_preparation_minutes": _l("Alert before the preparation deadline (minutes)"),
    "warn_submission_minutes": _l("Alert before the submission deadline (minutes)"),
    "warn_case_analysis_working_days": _l("Alert before a case analysis is due (working days)"),
    "unreachable_attempts": _l("Tell the supervisors after this many calls that did not reach the customer"),
}


@bp.route("/policy", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def policy():
    form = EmptyForm()
    current = current_policy()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        values: dict[str, object] = {}
        for name in SETTING_NAMES:
            if name in request.form:
                raw = request.form[name].strip()
                number = parse_int(raw, minimum=0)
                values[name] = number if number is not None else raw
        site = current_site()

        def save():
            changed = save_policy(values, actor=current_user)
            if "signing_code_shown" in request.form:  # the checkbox's absence is a choice only on this form
                on = request.form.get(SIGNING_CODE_KEY) == "on"
                if save_signing_code(on, deployment_default=site.signing_sms_code, actor=current_user):
                    changed.append(SIGNING_CODE_KEY)
            return changed

        outcome = form_action(save, flash_errors=False)
        if outcome.fields:
            errors = {k: str(v) for k, v in outcome.fields.items()}
        elif not outcome.ok:
            raise outcome.error
        else:
            flash(_("Policy saved: %(n)d settings changed.", n=len(outcome.value)), "success")
            return redirect(url_for("admin.policy"))
    rows = [(name, POLICY_HINTS[name], request.form.get(name, getattr(current, name)),
             getattr(DEFAULT_POLICY, name), errors.get(name)) for name in SETTING_NAMES]
    deployment_default = current_site().signing_sms_code
    signing_code = {"on": signing_code_required(deployment_default), "default": deployment_default,
                    "sms_ready": bool(current_settings().sms.provider)}
    return render_template("admin/policy.html", rows=rows, form=form, signing_code=signing_code), \
        400 if errors else 200


@bp.route("/calendar", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def calendar():
    form = CalendarOverrideForm()
    if form.validate_on_submit():
        set_override(form.day.data, form.is_workday.data == "1", form.note.data or "", actor=current_user)
        flash(_("%(day)s saved.", day=form.day.data.isoformat()), "success")
        return redirect(url_for("admin.calendar"))
    overrides = [(o, calendar_known(o.day)) for o in list_overrides()]
    return render_template("admin/calendar.html", form=form, overrides=overrides, delete_form=EmptyForm(),
                           known_until=last_known_year()), 400 if form.errors else 200


@bp.post("/calendar/<day>/delete")
@roles_required(Role.ADMIN)
def delete_override(day: str):
    form = EmptyForm()
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        abort(404)
    if form.validate_on_submit() and remove_override(parsed, actor=current_user):
        flash(_("%(day)s removed.", day=day), "success")
    return redirect(url_for("admin.calendar"))
