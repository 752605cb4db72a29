"""Submission and review: the technician submits the service order (2-hour clock), the supervisor approves it
(archived into the knowledge base) or returns it with a comment. A returned order may change only its internal
fields (fault category, root cause, solution summary, parts used), never what the customer signed."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..alerts import notifications as alerts
from ..core.context import MAX_TEXT, Context, require_assignee
from ..core.db import db
from ..core.enums import AnalysisTrigger, ClockName, ReviewDecision, Role, TicketStatus
from ..core.errors import DomainError, Forbidden, ValidationError
from ..documents.models import Review
from ..fieldwork import flow
from ..requests import workflow
from ..requests.models import FaultCategory, Ticket
from ..sla.clocks import stop_clock
from .cases import open_case_analysis

SUBMITTABLE = workflow.SUBMITTABLE


def save_internal_fields(ticket: Ticket, ctx: Context, *, fault_category_id: int | None, root_cause: str,
                         solution_summary: str, parts_used: str) -> None:
    """The technician's write-up for the team; not part of the signed content, so editable until approval."""
    require_assignee(ctx, ticket)
    if ticket.status not in SUBMITTABLE:
        raise workflow_refusal(ticket)
    if fault_category_id is not None:
        category = db.session.get(FaultCategory, fault_category_id)
        if category is None or not category.active or (
                ticket.device_category_id and category.device_category_id != ticket.device_category_id):
            raise ValidationError({"fault_category_id": _l("Choose a fault category of this device's kind.")})
    ticket.fault_category_id = fault_category_id
    ticket.root_cause = (root_cause or "").strip()[:MAX_TEXT] or None
    ticket.solution_summary = (solution_summary or "").strip()[:MAX_TEXT] or None
    ticket.parts_used = (parts_used or "").strip()[:MAX_TEXT] or None


def workflow_refusal(ticket: Ticket):
    return DomainError("not_editable", _l("Request %(number)s can no longer be changed.",
                                                   number=ticket.number))


def submit(ticket: Ticket, ctx: Context) -> None:
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "order.submitted")
    errors = {}
    if not ticket.fault_category_id:
        errors["fault_category_id"] = _l("Choose the fault category.")
    if not ticket.solution_summary:
        errors["solution_summary"] = _l("Summarise the solution for the knowledge base.")
    if errors and ticket.status in SUBMITTABLE:
        raise ValidationError(errors)
    workflow.move(ticket, TicketStatus.SUBMITTED, actor=ctx.actor, action="order.submitted", via=ctx.via,
                  remote_addr=ctx.remote_addr)
    if ticket.submitted_at is None:
        ticket.submitted_at = ctx.now
    stop_clock(ticket, ClockName.SUBMISSION, ctx.now)  # the first submission counts for the 2-hour clock
    alerts.order_submitted(ticket, ctx.now)


def review(ticket: Ticket, ctx: Context, *, approve: bool, comment: str, complex_case: bool = False) -> Review:
    """Approve (archived into the knowledge base; a first-seen fault type or a complex case opens an analysis)
    or return with a comment. An order already reviewed is refused by the state machine."""
    if not ctx.actor.has_role(Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only a supervisor reviews service orders."))
    comment = (comment or "").strip()
    if not approve and not comment:
        raise ValidationError({"comment": _l("Say what must change.")})
    target = TicketStatus.APPROVED if approve else TicketStatus.RETURNED
    workflow.move(ticket, target, actor=ctx.actor, action=f"order.{target.value}", via=ctx.via,
                  remote_addr=ctx.remote_addr, comment=comment[:500])
    decision = ReviewDecision.APPROVED if approve else ReviewDecision.RETURNED
    entry = Review(ticket=ticket, reviewer=ctx.actor, decision=decision, comment=comment[:MAX_TEXT] or None,
                   created_at=ctx.now)
    db.session.add(entry)
    if not approve:
        alerts.order_returned(ticket, ctx.now, comment)
    if approve:
        ticket.closed_at = ctx.now
        ticket.is_complex = ticket.is_complex or complex_case
        seen_before = ticket.fault_category_id is not None and db.session.execute(
            select(Ticket.id).where(Ticket.fault_category_id == ticket.fault_category_id,
                                    Ticket.status == TicketStatus.APPROVED, Ticket.id != ticket.id).limit(1)
        ).first() is not None
        if ticket.is_complex:
            open_case_analysis(ticket, AnalysisTrigger.COMPLEX, ctx)
        elif ticket.fault_category_id is not None and not seen_before:
            open_case_analysis(ticket, AnalysisTrigger.FIRST_SEEN, ctx)
    return entry


def review_queue() -> list[Ticket]:
    """Submitted orders, oldest first."""
    from sqlalchemy.orm import selectinload

    return list(db.session.execute(
        select(Ticket).where(Ticket.status == TicketStatus.SUBMITTED)
        .options(selectinload(Ticket.customer), selectinload(Ticket.assignee), selectinload(Ticket.clocks))
        .order_by(Ticket.submitted_at)).scalars())


def next_in_queue(after: Ticket | None = None) -> Ticket | None:
    """The order a reviewer takes next: the oldest submitted one, skipping `after` (the one just decided or
    skipped). Submitted after `after` first, so that skipping walks the queue instead of bouncing back."""
    query = select(Ticket).where(Ticket.status == TicketStatus.SUBMITTED)
    if after is not None:
        query = query.where(Ticket.id != after.id)
        if after.submitted_at is not None:
            later = db.session.execute(query.where(Ticket.submitted_at >= after.submitted_at)
                                       .order_by(Ticket.submitted_at, Ticket.id).limit(1)).scalar_one_or_none()
            if later is not None:
                return later
    return db.session.execute(query.order_by(Ticket.submitted_at, Ticket.id).limit(1)).scalar_one_or_none()


def queue_length() -> int:
    from sqlalchemy import func

    return db.session.execute(select(func.count()).select_from(Ticket)
                              .where(Ticket.status == TicketStatus.SUBMITTED)).scalar_one()
