"""`GET /api/v1/reports/weekly?week=2026-W47` for supervisors (and their systems): the figures as JSON; and
`GET /api/v1/reports/assessment?month=2026-11`: each technician's monthly figures with the team's medians."""
from __future__ import annotations

from flask import jsonify

from domain.core.enums import Role

from ..access import roles_required
from . import api_bp
from .assessment import ASSESSORS, requested_assessment
from .routes import requested_report


@api_bp.get("/reports/weekly")
@roles_required(Role.SUPERVISOR)
def weekly():
    """A bad or future week answers 400 with the code bad_week or future_week (the domain error handler)."""
    return jsonify(requested_report().as_dict())


@api_bp.get("/reports/assessment")
@roles_required(*ASSESSORS)
def assessment():
    """A bad or future month answers 400 with the code bad_month or future_month."""
    return jsonify(requested_assessment().as_dict())
