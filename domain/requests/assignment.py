"""Assignment (分配), escalation to an expert and cancelling: the supervisor's acts on a request; and the
technician's handing a job back, which waits for the supervisor's reassignment."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..alerts import customer
from ..alerts import notifications as alerts
from ..core.audit import record_event
from ..core.context import (
    MAX_TEXT,
    Context,
    is_assignee,
    require_assignee,
)
from ..core.db import db
from ..core.enums import (
    Role,
    TicketStatus,
)
from ..core.errors import Conflict, DomainError, Forbidden, ValidationError
from ..core.models import User
from ..core.validation import parse_int, text_problem
from ..fieldwork import flow
from ..requests.models import Ticket
from ..sla.clocks import drop_clock
from . import workflow


def active_user(username_or_id: str | int, role: Role, field_name: str) -> User:
    user_id = parse_int(username_or_id, minimum=1)
    if user_id is not None:
        user = db.session.get(User, user_id)
    elif not isinstance(username_or_id, str | int) or text_problem(str(username_or_id)):
        user = None
    else:
        user = db.session.execute(
            select(User).where(func.lower(User.username) == str(username_or_id).strip().lower())
        ).scalar_one_or_none()
    if user is None or user.role != role:
        message = _l("Unknown technician.") if role == Role.TECHNICIAN else _l("Unknown expert.")
        raise ValidationError({field_name: message})
    if not user.active:
        raise ValidationError({field_name: _l("%(name)s is deactivated and cannot take work.",
                                              name=user.display_name)})
    return user


def _check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and ticket.version != expected_version:
        who = ticket.assignee.display_name if ticket.assignee else "-"
        raise Conflict(
            "changed_meanwhile",
            _l("Request %(number)s was changed by someone else meanwhile (now assigned to %(who)s). "
               "Nothing was changed; check it and try again.", number=ticket.number, who=who),
            assignee=ticket.assignee.username if ticket.assignee else None,
        )


def assign(ticket: Ticket, technician: User, ctx: Context, expected_version: int | None = None) -> None:
    """Assign or reassign. `expected_version` is the version the supervisor saw: a stale one is refused."""
    if not ctx.actor.has_role(Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only a supervisor assigns requests."))
    _check_version(ticket, expected_version)
    if ticket.status not in workflow.ASSIGNABLE:
        raise DomainError("not_assignable", _l("Request %(number)s can no longer be assigned.",
                                                number=ticket.number))
    if is_assignee(technician, ticket):
        raise DomainError("same_technician", _l("Request %(number)s is already assigned to %(name)s.",
                                                 number=ticket.number, name=technician.display_name))
    from .intake import accept_report

    accept_report(ticket, ctx, by_assignment=True)  # a customer's own report not yet forwarded: this forwards it
    previous = ticket.assignee
    ticket.assignee, ticket.assigned_by, ticket.assigned_at = technician, ctx.actor, ctx.now
    ticket.handed_back_at = ticket.handback_reason = None  # the new technician starts afresh
    if ticket.status == TicketStatus.NEW:
        workflow.move(ticket, TicketStatus.ASSIGNED, actor=ctx.actor, action="ticket.assigned", via=ctx.via,
                      remote_addr=ctx.remote_addr, technician=technician.username)
    else:
        record_event("ticket.reassigned", actor=ctx.actor, ticket=ticket, entity=ticket, via=ctx.via,
                     remote_addr=ctx.remote_addr, from_state=ticket.status.value, to_state=ticket.status.value,
                     technician=technician.username, previous=previous.username if previous else None)
    alerts.request_assigned(ticket)
    customer.queue_assigned(ticket, ctx.settings())


def hand_back(ticket: Ticket, ctx: Context, *, reason: str, at: datetime) -> None:
    """The technician gives the job back (ill, stuck, another urgent job): it stays theirs until the supervisor,
    alerted at once, reassigns it; what was done on it is kept for the next technician."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "job.handed_back", data={"reason": reason})
    reason = (reason or "").strip()
    if not reason:  # blank in a way the flow's trimming does not see (a control character)
        raise ValidationError({"reason": _l("Say why you hand the job back.")})
    ticket.handed_back_at, ticket.handback_reason = at, reason[:MAX_TEXT]
    record_event("ticket.handed_back", actor=ctx.actor, ticket=ticket, entity=ticket, via=ctx.via,
                 remote_addr=ctx.remote_addr, from_state=ticket.status.value, to_state=ticket.status.value,
                 reason=reason[:500])
    alerts.job_handed_back(ticket, at)


def escalate(ticket: Ticket, expert: User, reason: str, ctx: Context) -> None:
    if not ctx.actor.has_role(Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only a supervisor escalates requests."))
    if ticket.status in workflow.CLOSED:
        raise DomainError("closed", _l("Request %(number)s is closed.", number=ticket.number))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _l("Say what the expert should help with.")})
    ticket.expert, ticket.escalated_at, ticket.escalation_reason = expert, ctx.now, reason[:MAX_TEXT]
    record_event("ticket.escalated", actor=ctx.actor, ticket=ticket, entity=ticket, via=ctx.via,
                 remote_addr=ctx.remote_addr, expert=expert.username, reason=reason[:500])
    alerts.request_escalated(ticket)


def cancel(ticket: Ticket, reason: str, ctx: Context) -> None:
    if not ctx.actor.has_role(Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only a supervisor cancels requests."))
    if ticket.status not in workflow.ASSIGNABLE:  # on site: the visit's own decisions (another visit, unsigned)
        raise workflow.refusal(ticket, TicketStatus.CANCELLED)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _l("Give the reason for cancelling.")})
    workflow.move(ticket, TicketStatus.CANCELLED, actor=ctx.actor, action="ticket.cancelled", via=ctx.via,
                  remote_addr=ctx.remote_addr, reason=reason[:500])
    ticket.cancelled_at, ticket.cancel_reason = ctx.now, reason[:MAX_TEXT]
    visit = ticket.current_visit
    if visit is not None and visit.departed_at is None:  # called off with the request
        visit.cancelled_at = ctx.now
    for clock in list(ticket.clocks):
        drop_clock(ticket, clock.name, at=ctx.now)  # a deadline already passed stays missed
