"""The technician's remote work: contacting the customer (the first-contact clock), remote guidance and the
remote fix (the remote-fix and order-filled clocks)."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l

from ..alerts import notifications as alerts
from ..core.audit import record_event
from ..core.context import (
    AFTER_CONTACT,
    MAX_TEXT,
    Context,
    checked_time,
    require_assignee,
)
from ..core.db import db
from ..core.enums import (
    ClockName,
    ContactMethod,
    RemoteOutcome,
    Resolution,
    TicketStatus,
)
from ..core.errors import DomainError, ValidationError
from ..fieldwork import flow
from ..fieldwork.onsite import cause_and_work
from ..requests.models import ContactAttempt, RemoteSession, Ticket
from ..sla.clocks import start_clock, stop_clock
from . import workflow


def _escalate_when_unreachable(ticket: Ticket, ctx: Context, at: datetime) -> None:
    """Every `unreachable_attempts` calls in a row that did not reach a customer never reached yet, the supervisors
    are told (once per count: a replayed op alerts nobody twice)."""
    attempts = sum(1 for attempt in ticket.contacts if not attempt.reached)
    every = ctx.rules().unreachable_attempts
    if attempts and every and attempts % every == 0:
        alerts.customer_unreachable(ticket, attempts, at)


def record_contact(ticket: Ticket, ctx: Context, *, method: ContactMethod, reached: bool = True,
                   note: str = "", at: datetime | None = None) -> ContactAttempt:
    """Log a call or message to the customer. The first successful one stops the first-contact clock."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "contact.made")
    at = checked_time(at, ctx, "at", not_before=ticket.created_at)
    attempt = ContactAttempt(ticket=ticket, user=ctx.actor, method=method, reached=reached,
                             note=(note or "").strip()[:MAX_TEXT] or None, at=at)
    db.session.add(attempt)
    if reached and ticket.status == TicketStatus.ASSIGNED:
        workflow.move(ticket, TicketStatus.CONTACTED, actor=ctx.actor, action="ticket.contacted", via=ctx.via,
                      remote_addr=ctx.remote_addr, method=method.value)
        ticket.first_contact_at = at
        stop_clock(ticket, ClockName.FIRST_CONTACT, at)
        start_clock(ticket, ClockName.REMOTE_FIX, at, at + ctx.rules().minutes("remote_fix_minutes"),
                    threshold=ctx.rules().remote_fix_minutes)
    elif ticket.status not in workflow.CONTACTABLE:
        raise workflow.refusal(ticket, TicketStatus.CONTACTED)
    if not reached and ticket.first_contact_at is None:
        _escalate_when_unreachable(ticket, ctx, at)
    else:
        record_event("ticket.contact_logged", actor=ctx.actor, ticket=ticket, via=ctx.via, reached=reached,
                     method=method.value)
    return attempt


def record_remote_session(ticket: Ticket, ctx: Context, *, method: ContactMethod, steps: str,
                          outcome: RemoteOutcome, started_at: datetime | None = None,
                          ended_at: datetime | None = None) -> RemoteSession:
    """Remote guidance (phone, screen sharing) and what came of it."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "remote.guided")
    if ticket.status != TicketStatus.CONTACTED:
        raise DomainError("not_contacted", _l("Log the first contact with the customer before remote guidance."))
    steps = (steps or "").strip()
    if not steps:
        raise ValidationError({"steps": _l("Describe the steps you guided the customer through.")})
    started = checked_time(started_at, ctx, "started_at", not_before=ticket.first_contact_at,
                           after=AFTER_CONTACT)
    ended = None
    if ended_at is not None or outcome != RemoteOutcome.IN_PROGRESS:
        ended = checked_time(ended_at, ctx, "ended_at", not_before=started,
                             after=_l("the guidance began"))
    session = RemoteSession(ticket=ticket, technician=ctx.actor, method=method, steps=steps[:MAX_TEXT],
                            outcome=outcome, started_at=started, ended_at=ended)
    db.session.add(session)
    record_event("remote.session", actor=ctx.actor, ticket=ticket, entity=None, via=ctx.via, method=method.value,
                 outcome=outcome.value)
    return session


def resolve_remotely(ticket: Ticket, ctx: Context, *, cause: str, work_done: str,
                     resolved_at: datetime | None = None) -> None:
    """Solved remotely: stops the remote-fix clock at the fix, and the order-filled clock now (the fields are
    filled with this call); the 2-hour submission clock starts from the fix."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "remote.resolved")
    written = cause_and_work(cause, work_done)
    fixed = checked_time(resolved_at, ctx, "resolved_at", not_before=ticket.first_contact_at or ticket.created_at,
                         after=AFTER_CONTACT)
    workflow.move(ticket, TicketStatus.REMOTE_RESOLVED, actor=ctx.actor, action="ticket.remote_resolved",
                  via=ctx.via, remote_addr=ctx.remote_addr)
    policy = ctx.rules()
    ticket.resolution = Resolution.REMOTE
    ticket.remote_resolved_at = ticket.service_ended_at = fixed
    ticket.cause, ticket.work_done = written
    ticket.order_filled_at = ctx.now
    stop_clock(ticket, ClockName.REMOTE_FIX, fixed)
    start_clock(ticket, ClockName.ORDER_FILED, fixed, fixed + policy.minutes("order_filled_minutes"),
                threshold=policy.order_filled_minutes)
    stop_clock(ticket, ClockName.ORDER_FILED, ctx.now)
    start_clock(ticket, ClockName.SUBMISSION, fixed, fixed + policy.minutes("submission_minutes"),
                threshold=policy.submission_minutes)
    # A remotely solved order is a document too (marked remote, no signature): frozen now, rendered after commit.
    from ..documents.orders import freeze_order

    db.session.flush()
    freeze_order(ticket, site=ctx.settings(), now=ctx.now)
