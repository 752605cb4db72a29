"""The knowledge base: FAQ articles and their search, the printable FAQ manual, case analyses that feed it, and
the managed list of fault types."""
from flask import Blueprint

bp = Blueprint("kb", __name__, template_folder="templates")

from . import routes  # noqa: E402,F401
