"""Intake, the supervisor board, request detail with its clocks, and the technician's online pages; plus the
intake/assignment API for other systems."""
from flask import Blueprint

bp = Blueprint("dispatch", __name__, template_folder="templates")
api_bp = Blueprint("dispatch_api", __name__, url_prefix="/api/v1")

from . import api, routes  # noqa: E402,F401
