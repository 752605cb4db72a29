"""The periodic scan (every minute): deadlines coming up and deadlines missed, each alerted once.

Two queries read the running clocks whose warning or deadline has come and that were not alerted yet (an
anti-join on the alerts already made, by request, kind, clock and deadline, through an index), one reads the
supervisors, and one statement inserts the new alerts, skipping any that exist (the idempotency key, under a
unique constraint): the same number of statements for ten open requests or fifty thousand, and a scan repeated,
run by two workers at once or after a restart alerts nobody twice. A clock restarted with a new deadline (a
rescheduled visit) is a new deadline and alerts again.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select

from ..core.db import db
from ..core.enums import TicketStatus
from ..core.models import Notification, Ticket, TicketClock
from ..sla.policy import Policy, current_policy
from ..sla.rules import CLOCK_RULES, WORKING_DAY_WARN_HORIZON
from ..sla.workdays import load_overrides
from .notifications import Kind, active_supervisors, audience_ids, insert_once

# A deadline missed longer ago than this when the worker first sees it is not announced any more (after an
# outage the inbox is not flooded with stale alarms; the board still shows them). It also bounds what each
# minute's scan re-reads: every running clock missed within it is checked against the alerts made.
MISSED_LOOKBACK = timedelta(hours=2)
CLOSED = (TicketStatus.CANCELLED, TicketStatus.APPROVED)


def _not_alerted(kind: Kind):
    return ~exists().where(Notification.ticket_id == TicketClock.ticket_id, Notification.kind == kind.value,
                           Notification.clock == TicketClock.name, Notification.due_at == TicketClock.due_at)


def _running_clocks(*conditions):
    return (select(TicketClock.ticket_id, TicketClock.name, TicketClock.due_at, Ticket.number, Ticket.assignee_id,
                   Ticket.expert_id)
            .join(Ticket, Ticket.id == TicketClock.ticket_id)
            .where(TicketClock.done_at.is_(None), TicketClock.not_applicable.is_(False),
                   Ticket.status.not_in(CLOSED), *conditions))


def scan_deadlines(now: datetime, tz: ZoneInfo, policy: Policy | None = None) -> int:
    """Create the alerts due at `now`; returns how many were new."""
    policy = policy or current_policy()
    missed_to = [r.name for r in CLOCK_RULES.values() if r.missed_to]
    missed = db.session.execute(_running_clocks(
        TicketClock.due_at > now - MISSED_LOOKBACK, TicketClock.due_at <= now, TicketClock.name.in_(missed_to),
        _not_alerted(Kind.MISSED))).all()
    # Each clock warned this long before its deadline (working-day warnings: read ahead, checked below).
    windows = []
    for rule in CLOCK_RULES.values():
        if rule.warn_setting is None or not rule.warn_to:
            continue
        ahead = WORKING_DAY_WARN_HORIZON if rule.warn_in_working_days \
            else timedelta(minutes=getattr(policy, rule.warn_setting))
        windows.append(and_(TicketClock.name == rule.name, TicketClock.due_at <= now + ahead))
    soon = db.session.execute(_running_clocks(TicketClock.due_at > now, or_(*windows),
                                              _not_alerted(Kind.DUE_SOON))).all() if windows else []
    if not missed and not soon:
        return 0
    supervisor_ids = [u.id for u in active_supervisors()]
    overrides = None
    alerts = []
    for kind, rows in ((Kind.MISSED, missed), (Kind.DUE_SOON, soon)):
        for ticket_id, name, due_at, number, assignee_id, expert_id in rows:
            rule = CLOCK_RULES[name]
            if kind == Kind.DUE_SOON and rule.warn_in_working_days:
                if overrides is None:
                    today = now.astimezone(tz).date()
                    overrides = load_overrides(today - timedelta(days=40), today + timedelta(days=40))
                if now < rule.warn_at(due_at, policy, tz, overrides):
                    continue
            audience = rule.missed_to if kind == Kind.MISSED else rule.warn_to
            key = f"{kind.value}:{number}:{name.value}:{due_at.isoformat()}"
            params = {"number": number, "clock": name.value, "due_at": due_at.isoformat()}
            for user_id in audience_ids(audience, assignee_id=assignee_id, expert_id=expert_id,
                                        supervisor_ids=supervisor_ids):
                alerts.append({"user_id": user_id, "kind": kind.value, "key": key, "ticket_id": ticket_id,
                               "clock": name.value, "due_at": due_at, "params": params})
    return insert_once(alerts)
