"""Another visit needed (issue 24): the visit on site ends, its work kept, and whoever plans visits (the
supervisors, customer service) is alerted at once with the request and the reason, to get the next one scheduled.
Every way to it goes through here: the technician's op (`visit.followup_needed`), the supervisor's "another visit"
on the request page, and the supervisor's decision on a missing signature."""
from __future__ import annotations

from datetime import datetime

from ..alerts import notifications as alerts
from ..core.context import Context
from ..fieldwork.models import Visit
from ..requests import visits
from ..requests.models import Ticket


def another_visit(ticket: Ticket, ctx: Context, *, reason: str, at: datetime,
                  action: str = "visit.followup_needed") -> Visit:
    visit = visits.end_for_another_visit(ticket, ctx, reason=reason, at=at, action=action)
    alerts.followup_needed(ticket, visit, ctx.actor)  # not the one who asked: they know
    return visit
