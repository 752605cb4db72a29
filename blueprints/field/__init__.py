"""The technician's offline app and its API: sync, photos, my jobs, the OpenAPI document."""
from flask import Blueprint

api_bp = Blueprint("field_api", __name__, url_prefix="/api/v1")

from . import api  # noqa: E402,F401
