"""Case analyses: a first-seen fault type or a complex problem gets one within N working days."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..core.audit import record_event
from ..core.context import Context
from ..core.db import db
from ..core.enums import AnalysisTrigger, ClockName, Role
from ..core.errors import Conflict, Forbidden, ValidationError
from ..documents.models import CaseAnalysis
from ..requests.models import Ticket
from ..sla.clocks import start_clock, stop_clock
from ..sla.workdays import working_days_due


def open_case_analysis(ticket: Ticket, trigger: AnalysisTrigger, ctx: Context) -> CaseAnalysis:
    """Open the analysis and start its clock: due at the end of the Nth working day (Chinese calendar)."""
    if ticket.case_analysis is not None:
        return ticket.case_analysis
    days = ctx.rules().case_analysis_working_days
    due, fallback = working_days_due(ctx.now, days, ctx.tz)
    analysis = CaseAnalysis(ticket=ticket, trigger=trigger, opened_at=ctx.now, due_at=due,
                            fault_category_id=ticket.fault_category_id)
    db.session.add(analysis)
    start_clock(ticket, ClockName.CASE_ANALYSIS, ctx.now, due, threshold=days, calendar_fallback=fallback)
    record_event("case_analysis.opened", actor=ctx.actor, ticket=ticket, via=ctx.via, trigger=trigger.value,
                 due_at=due.isoformat())
    return analysis


def analysis_errors(**fields: str) -> dict:
    return {name: _l("This field is required.") for name, value in fields.items() if not (value or "").strip()}


def complete_case_analysis(ticket: Ticket, ctx: Context, *, summary: str, root_cause: str, fix: str,
                           prevention: str) -> CaseAnalysis:
    if not ctx.actor.has_role(Role.EXPERT, Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only experts and supervisors write case analyses."))
    analysis = ticket.case_analysis
    if analysis is None:
        raise Conflict("no_analysis", _l("Request %(number)s has no open case analysis.", number=ticket.number))
    if analysis.completed_at is not None:
        raise Conflict("analysis_done", _l("The case analysis of %(number)s is already complete.",
                                           number=ticket.number))
    fields = {"summary": summary, "root_cause": root_cause, "fix": fix, "prevention": prevention}
    missing = analysis_errors(**fields)
    if missing:
        raise ValidationError(missing)
    for name, value in fields.items():
        setattr(analysis, name, value.strip())
    analysis.author_id, analysis.completed_at = ctx.actor.id, ctx.now
    stop_clock(ticket, ClockName.CASE_ANALYSIS, ctx.now)
    record_event("case_analysis.completed", actor=ctx.actor, ticket=ticket, via=ctx.via)
    return analysis
