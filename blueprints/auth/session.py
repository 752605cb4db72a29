"""Flask-Login wiring: loading users from their cookie id, and answering the unauthenticated."""
from __future__ import annotations

from flask import Flask, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from domain.core import accounts
from domain.core.models import User
from domain.core.validation import parse_int


def load_user(user_id: str) -> User | None:
    # The id is "<pk>:<login token>:<sign-in token>": a rotated login token (password change or reset,
    # deactivation) ends every sign-in of the user; a revoked sign-in (logout) ends that one's cookies.
    pk, login_token, session_token = ((user_id or "").split(":") + ["", ""])[:3]
    number = parse_int(pk, minimum=1)
    if number is None or not login_token or not session_token:
        return None
    return accounts.session_user(number, login_token, session_token)


def load_user_from_api_token(request) -> User | None:
    """Other systems (website form, phone system) authenticate with `Authorization: Bearer <token>`."""
    from flask import g

    from domain.core.accounts import user_for_api_token

    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not request.path.startswith("/api/"):
        return None
    user = user_for_api_token(header[len("Bearer "):].strip())
    if user is not None:
        g.via_api_token = True  # its last use is written with the request's commit
    return user


def unauthorized():
    from blueprints.core.errors import json_error, wants_json

    if wants_json():
        # The phone keeps its outbox and asks the user to sign in again; never a redirect for the API.
        return json_error(401, "unauthorized", _l("Your session has ended. Please sign in again."))
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def init_login_manager(app: Flask, manager: LoginManager) -> None:
    manager.init_app(app)
    manager.user_loader(load_user)
    manager.request_loader(load_user_from_api_token)
    manager.unauthorized_handler(unauthorized)
    # "basic": a phone that changes network (new IP) must not be signed out.
    manager.session_protection = "basic"
    manager.login_message = _l("Please sign in to continue.")
    manager.login_message_category = "info"
