"""User accounts: create, edit, deactivate, reset passwords."""
from flask import Blueprint

bp = Blueprint("admin", __name__, template_folder="templates")

from . import routes  # noqa: E402,F401
