"""`GET /api/v1/reports/weekly?week=2026-W47` for supervisors (and their systems): the figures as JSON."""
from __future__ import annotations

from flask import jsonify

from domain.core.enums import Role

from ..access import roles_required
from . import api_bp
from .routes import requested_report


@api_bp.get("/reports/weekly")
@roles_required(Role.SUPERVISOR)
def weekly():
    """A bad or future week answers 400 with the code bad_week or future_week (the domain error handler)."""
    return jsonify(requested_report().as_dict())
