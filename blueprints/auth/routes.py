from __future__ import annotations

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeSerializer

from domain.core import accounts
from domain.core.audit import record_event
from domain.core.enums import Role
from domain.core.errors import DomainError
from extensions import limiter

from ..access import public, signed_in
from ..core.helpers import safe_next_url
from . import api_bp, bp
from .forms import ChangePasswordForm, LoginForm, LogoutForm


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _user_limit() -> str:
    return current_app.config["LOGIN_USER_RATE_LIMIT"]


def _username() -> str:
    return accounts.normalise_username(request.form.get("username", ""))[:64]


def _username_and_address_key() -> str:
    # Guesses at one account from one address: the attacker's address is slowed, the owner's is not.
    return f"login-user-addr:{_username()}:{request.remote_addr}"


def _username_key() -> str:
    # A slower limit per account name, so spreading guesses over many addresses does not help either.
    return "login-user:" + _username()


KNOWN_DEVICE_COOKIE = "known_device"


def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="known-device")


def _known_usernames() -> list[str]:
    try:
        names = _device_serializer().loads(request.cookies.get(KNOWN_DEVICE_COOKIE, ""))
    except BadSignature:
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _from_known_device() -> bool:
    """The account's owner signed in from this browser before: the per-username limit does not apply to them, so
    an attacker exhausting it cannot lock the owner out of their own phone."""
    return _username() in _known_usernames()


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_username_and_address_key)
@limiter.limit(_user_limit, methods=["POST"], key_func=_username_key, exempt_when=_from_known_device)
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next_url(request.args.get("next")) or url_for("core.index"))
    form = LoginForm()
    if request.method == "GET" and not form.is_submitted():
        # Technicians work from their phone for weeks: remembered by default.
        form.remember.data = True
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.username.data, form.password.data)
        except DomainError as error:
            form.password.errors.append(error.message)
        else:
            accounts.start_session(user, request.remote_addr)
            login_user(user, remember=bool(form.remember.data))
            record_event("user.signed_in", actor=user, entity=user, remote_addr=request.remote_addr,
                         remember=bool(form.remember.data))
            if user.locale is None:
                user.locale = request.cookies.get("lang") if request.cookies.get("lang") in \
                    accounts.SUPPORTED_LOCALES else None
            default = url_for("core.index")
            if user.role == Role.TECHNICIAN and "field.app" in current_app.view_functions:
                default = url_for("field.app")
            response = redirect(safe_next_url(request.args.get("next")) or default)
            known = [user.username, *[n for n in _known_usernames() if n != user.username]][:5]
            response.set_cookie(KNOWN_DEVICE_COOKIE, _device_serializer().dumps(known), max_age=180 * 86400,
                                httponly=True, samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
            return response
    status = 400 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["GET", "POST"])
@public
def logout():
    """POST signs out and revokes this sign-in server-side (its session and remember-me cookies stop working even
    if replayed). GET only asks: a link or an image on another site must not sign anyone out."""
    form = LogoutForm()
    if request.method == "GET" or not form.validate_on_submit():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html", form=form), 200 if request.method == "GET" else 400
    if current_user.is_authenticated:
        user = current_user._get_current_object()  # the proxy turns anonymous at logout, before the commit
        accounts.end_session(user)
        record_event("user.signed_out", actor=user, entity=user, remote_addr=request.remote_addr)
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@api_bp.get("/session")
@signed_in
def api_session():
    """The phone app asks who it is and gets a CSRF token for its sync requests."""
    return jsonify(
        username=current_user.username,
        display_name=current_user.display_name,
        role=current_user.role.value,
        is_admin=current_user.is_admin,
        locale=current_user.locale or "zh_CN",
        csrf_token=generate_csrf(),
    )


@bp.route("/account", methods=["GET", "POST"])
@signed_in
def account():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append(_("Wrong password."))
        else:
            user = current_user._get_current_object()
            accounts.reset_password(user, form.new.data, actor=user)
            # The reset rotated the login token: sign in again on this device with the new one.
            accounts.start_session(user, request.remote_addr)
            login_user(user, remember=True)
            flash(_("Your password has been changed. Other devices have been signed out."), "success")
            return redirect(url_for("auth.account"))
    return _account_page(form), 400 if form.errors else 200


def _account_page(form, *, phone: str | None = None, phone_error: str | None = None):
    from domain.alerts import delivery, notifications

    user = current_user._get_current_object()
    return render_template("auth/account.html", form=form, phone_form=LogoutForm(), phone_error=phone_error,
                           phone=user.phone or "" if phone is None else phone, kinds=notifications.kinds_for(user),
                           channels=delivery.channels_of(user), offered=delivery.offered(user))


@bp.post("/account/phone")
@signed_in
def account_phone():
    """The user's own mobile number (validated as a mainland mobile, +86 optional; empty clears it)."""
    from domain.alerts import delivery

    from ..core.actions import form_action

    if not LogoutForm().validate_on_submit():
        return _account_page(ChangePasswordForm(formdata=None), phone_error=_("The form expired: try again.")), 400
    user = current_user._get_current_object()
    text = request.form.get("phone", "")
    outcome = form_action(lambda: delivery.set_mobile(user, text), flash_errors=False)
    if not outcome.ok:
        error = str(outcome.fields.get("phone") or outcome.error.message)
        return _account_page(ChangePasswordForm(formdata=None), phone=text if isinstance(text, str) else "",
                             phone_error=error), 400
    record_event("user.phone_changed", actor=user, entity=user, remote_addr=request.remote_addr)
    flash(_("Your mobile number is saved.") if user.phone else _("Your mobile number is removed."), "success")
    return redirect(url_for("auth.account"))
