"""The periodic scan (every minute): deadlines coming up and deadlines missed, each alerted once.

A watermark (`scan_marks`, the time the last scan completed) keeps each minute's work proportional to what is
new: a scan reads the running clocks whose deadline passed, or whose warning time came, since the watermark, plus
the clocks written since (a request entered late, whose warning or deadline already lay behind the watermark; a
restarted clock). The window overlaps the watermark by OVERLAP, so a clock committed just after a scan read past it
is read by the next. A worker that was stopped, a restart or a missed minute widen the window to cover the gap
(up to MISSED_LOOKBACK); a first scan, or a clock that went back, reads the whole look-back as before.

Each read is an anti-join on the alerts already made (by request, kind, clock and deadline, through an index), one
query reads the supervisors, one statement inserts the new alerts, skipping any that exist (the idempotency key,
under a unique constraint), and one writes the watermark with them: the same number of statements for ten open
requests or fifty thousand, and a scan repeated, run by two workers at once or after a restart alerts nobody twice.
A clock restarted with a new deadline (a rescheduled visit) is a new deadline and alerts again. Working-day
warnings (a case analysis) are read over their whole horizon each minute: a few rows, checked in Python.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..core.db import db
from ..core.enums import TicketStatus
from ..core.models import Notification, ScanMark, Ticket, TicketClock
from ..sla.policy import Policy, current_policy
from ..sla.rules import CLOCK_RULES, WORKING_DAY_WARN_HORIZON
from ..sla.workdays import load_overrides
from .notifications import Kind, active_supervisors, audience_ids, insert_once

# A deadline missed longer ago than this when the worker first sees it is not announced any more (after an
# outage the inbox is not flooded with stale alarms; the board still shows them). It also bounds the window of a
# first scan, or of one after a long gap.
MISSED_LOOKBACK = timedelta(hours=2)
# Each window starts this long before the watermark: a clock written (and committed) a little after the scan
# that read past it is read again by the next one; the alerts made skip what was already alerted.
OVERLAP = timedelta(minutes=2)
MARK = "deadlines"
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


def window_start(now: datetime) -> datetime | None:
    """Where this scan's window starts: a little before the last completed scan, at most MISSED_LOOKBACK back;
    None for the whole look-back (no scan yet, or the watermark is after `now`: the clock went back)."""
    mark = db.session.get(ScanMark, MARK)
    if mark is None or mark.scanned_until > now or mark.scanned_until - OVERLAP <= now - MISSED_LOOKBACK:
        return None
    return mark.scanned_until - OVERLAP


def _set_mark(now: datetime) -> None:
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ScanMark).values(name=MARK, scanned_until=now)
    with db.session.no_autoflush:
        db.session.execute(statement.on_conflict_do_update(index_elements=["name"],
                                                           set_={"scanned_until": statement.excluded.scanned_until}))


def scan_deadlines(now: datetime, tz: ZoneInfo, policy: Policy | None = None) -> int:
    """Create the alerts due at `now` (and the watermark, in the caller's transaction); returns how many were new."""
    policy = policy or current_policy()
    if db.session.get_bind().dialect.name == "postgresql":
        # psycopg prepares a statement run 5 times on one connection, and the server's generic plan for these
        # range reads (their times unknown) can be a nested loop over every alert made: 20 s instead of 50 ms.
        # A plan made with this minute's times, for this transaction only.
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    since = window_start(now)
    start = now - MISSED_LOOKBACK if since is None else max(since, now - MISSED_LOOKBACK)
    # Every term of each OR reads one index range: (name, due_at) for the deadlines come since the mark, written_at
    # for the clocks written since (a few), so neither read grows with the number of open requests.
    written = and_(TicketClock.written_at > since, TicketClock.due_at > now - MISSED_LOOKBACK) \
        if since is not None else None
    missed_terms = []
    for rule in CLOCK_RULES.values():
        if rule.missed_to:
            missed_terms.append(and_(TicketClock.name == rule.name, TicketClock.due_at > start,
                                     TicketClock.due_at <= now))
            if written is not None:
                missed_terms.append(and_(TicketClock.name == rule.name, written, TicketClock.due_at <= now))
    missed = db.session.execute(_running_clocks(or_(*missed_terms), _not_alerted(Kind.MISSED))).all()
    # Each clock warned this long before its deadline (working-day warnings: read over their horizon, checked
    # below). A warning whose time came since the mark: a deadline in (mark + ahead, now + ahead].
    soon_terms = []
    for rule in CLOCK_RULES.values():
        if rule.warn_setting is None or not rule.warn_to:
            continue
        if rule.warn_in_working_days:
            soon_terms.append(and_(TicketClock.name == rule.name, TicketClock.due_at > now,
                                   TicketClock.due_at <= now + WORKING_DAY_WARN_HORIZON))
            continue
        ahead = timedelta(minutes=getattr(policy, rule.warn_setting))
        soon_terms.append(and_(TicketClock.name == rule.name,
                               TicketClock.due_at > (now if since is None else max(now, since + ahead)),
                               TicketClock.due_at <= now + ahead))
        if since is not None:
            soon_terms.append(and_(TicketClock.name == rule.name, TicketClock.written_at > since,
                                   TicketClock.due_at > now, TicketClock.due_at <= now + ahead))
    soon = db.session.execute(_running_clocks(or_(*soon_terms), _not_alerted(Kind.DUE_SOON))).all() \
        if soon_terms else []
    _set_mark(now)
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
