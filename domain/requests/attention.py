"""What waits for someone right now, counted for the home page: each figure is one COUNT over an index range,
so the page costs the same with 50 requests or 200,000."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from ..core.db import db
from ..core.enums import Role, TicketStatus
from ..core.models import Ticket, TicketClock, User
from ..fieldwork.jobs import ACTIVE
from .workflow import CLOSED


@dataclass(frozen=True)
class Attention:
    unassigned: int = 0  # new requests nobody took yet (dispatcher, supervisor)
    overdue: int = 0  # requests with a running clock past its deadline (theirs, for a technician)
    to_review: int = 0  # orders submitted and waiting for the supervisor
    my_jobs: int = 0  # a technician's open jobs
    escalated: int = 0  # open requests escalated to this expert


def _overdue(now: datetime, *conditions) -> int:
    return db.session.execute(
        select(func.count(func.distinct(TicketClock.ticket_id))).join(Ticket, Ticket.id == TicketClock.ticket_id)
        .where(TicketClock.due_at < now, TicketClock.done_at.is_(None), TicketClock.not_applicable.is_(False),
               Ticket.status.not_in(CLOSED), *conditions)).scalar_one()


def _count(*conditions) -> int:
    return db.session.execute(select(func.count(Ticket.id)).where(*conditions)).scalar_one()


def attention_for(user: User, now: datetime) -> Attention:
    if user.has_role(Role.SUPERVISOR, Role.DISPATCHER):
        return Attention(unassigned=_count(Ticket.status == TicketStatus.NEW), overdue=_overdue(now),
                         to_review=_count(Ticket.status == TicketStatus.SUBMITTED)
                         if user.has_role(Role.SUPERVISOR) else 0)
    if user.has_role(Role.TECHNICIAN):
        return Attention(my_jobs=_count(Ticket.assignee_id == user.id, Ticket.status.in_(ACTIVE)),
                         overdue=_overdue(now, Ticket.assignee_id == user.id))
    if user.has_role(Role.EXPERT):
        return Attention(escalated=_count(Ticket.expert_id == user.id, Ticket.status.not_in(CLOSED)))
    return Attention()
