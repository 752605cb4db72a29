"""The customer's pages, no account: the fault report from a device's QR label (/d/<code>) or the website
(/report), and the request's tracking page (/c/<token>) with the rating afterwards."""
from flask import Blueprint

bp = Blueprint("customer", __name__, template_folder="templates")

from . import routes  # noqa: E402,F401
