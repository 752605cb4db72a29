"""Home page, language switch, health check, error pages and template helpers."""
from flask import Blueprint

bp = Blueprint("core", __name__, template_folder="templates")

from . import routes  # noqa: E402,F401
