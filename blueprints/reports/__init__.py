"""The weekly report to customer service (the page with its charts, CSV and PDF exports, and the JSON API) and the
supervisor's monthly assessment of each technician (page, CSV, PDF, JSON)."""
from flask import Blueprint

bp = Blueprint("reports", __name__, template_folder="templates")
api_bp = Blueprint("reports_api", __name__, url_prefix="/api/v1")

from . import api, assessment, routes  # noqa: E402,F401
