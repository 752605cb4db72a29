from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from domain.core.accounts import SUPPORTED_LOCALES, set_locale
from extensions import db

from ..access import public, signed_in
from . import bp
from .helpers import nav_items, safe_next_url

LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.get("/")
@signed_in
def index():
    return render_template("core/index.html", items=nav_items(current_user))


@bp.post("/lang")
@public
def set_language():
    """Switch the interface language; a signed-in user's choice is kept on the account."""
    lang = request.form.get("lang", "")
    if lang not in SUPPORTED_LOCALES:
        return render_template("errors/error.html", code=400, title=_("Unsupported language.")), 400
    if current_user.is_authenticated:
        set_locale(current_user, lang)
    response = redirect(safe_next_url(request.form.get("next")) or url_for("core.index"))
    response.set_cookie("lang", lang, max_age=LANG_COOKIE_MAX_AGE, samesite="Lax", httponly=True)
    return response


@bp.get("/healthz")
@public
def healthz():
    """For load balancers: answers 200 only when the database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return jsonify(status="error", database=False), 503
    return jsonify(status="ok", database=True)
