"""The signed service order as a document: PDF download, ZIP export, customer links, verification."""
from flask import Blueprint

bp = Blueprint("orders", __name__, template_folder="templates")

from . import archive, routes  # noqa: E402,F401
