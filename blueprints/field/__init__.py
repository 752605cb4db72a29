"""The technician's offline app and its API: sync, photos, my jobs, the OpenAPI document."""
from flask import Blueprint

bp = Blueprint("field", __name__, template_folder="templates")
api_bp = Blueprint("field_api", __name__, url_prefix="/api/v1")

from . import api, routes  # noqa: E402,F401
