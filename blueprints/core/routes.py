from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from domain.core.accounts import SUPPORTED_LOCALES, set_locale
from domain.core.types import utcnow
from domain.requests.attention import attention_for
from extensions import db

from ..access import public, signed_in
from . import bp
from .helpers import nav_items, safe_next_url

LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.get("/")
@signed_in
def index():
    return render_template("core/index.html", items=nav_items(current_user), badges=_badges(current_user))


def _badges(user) -> dict[str, list[tuple[str, str]]]:
    """What waits on each tile of the home page: (text, style) per endpoint, from domain/requests/attention.py."""
    a = attention_for(user, utcnow())
    overdue = [(_("%(n)d overdue", n=a.overdue), "danger")] if a.overdue else []
    badges = {
        "dispatch.board": ([(_("%(n)d unassigned", n=a.unassigned), "warning")] if a.unassigned else []) + overdue
        or [(_("Nothing unassigned or overdue"), "ok")],
        "orders.review_queue": [(_("%(n)d waiting", n=a.to_review), "warning" if a.to_review else "ok")],
        "field.app": [(_("%(n)d open", n=a.my_jobs), "info")] + overdue,
        "dispatch.escalated": [(_("%(n)d open", n=a.escalated), "warning" if a.escalated else "ok")],
    }
    return badges


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
