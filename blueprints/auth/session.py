"""Flask-Login wiring: loading users from their cookie id, and answering the unauthenticated."""
from __future__ import annotations

from flask import Flask, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from domain.core.models import User
from extensions import db


def load_user(user_id: str) -> User | None:
    # The id is "<pk>:<login token>": a rotated token (password reset, deactivation) ends old sessions.
    pk, _, token = (user_id or "").partition(":")
    if not pk.isdigit() or not token:
        return None
    user = db.session.get(User, int(pk))
    if user is None or user.login_token != token or not user.active:
        return None
    return user


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
