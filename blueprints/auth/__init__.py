"""Sign-in, sign-out, the session endpoint for the phone app, and the user's own account."""
from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates")
# JSON endpoints of the same feature, under the API's prefix.
api_bp = Blueprint("auth_api", __name__, url_prefix="/api/v1")

from . import routes  # noqa: E402,F401
