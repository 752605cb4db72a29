"""Alerts: the inbox (page and API), Web Push subscriptions, alert preferences, the mail outbox for admins, and
the weekly reports as delivered."""
from flask import Blueprint

bp = Blueprint("alerts", __name__, template_folder="templates")
api_bp = Blueprint("alerts_api", __name__, url_prefix="/api/v1")

from . import api, hooks, routes  # noqa: E402,F401
