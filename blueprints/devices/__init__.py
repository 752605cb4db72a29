"""The register of rented devices: list, device page with its history, edit, CSV import and export, QR labels;
and its API (`/api/v1/devices`)."""
from flask import Blueprint

bp = Blueprint("devices", __name__, template_folder="templates")
api_bp = Blueprint("devices_api", __name__, url_prefix="/api/v1")

from . import api, routes  # noqa: E402,F401
