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
A clock restarted with a new deadline (a rescheduled visit) is a new deadline and alerts again.

Warnings are read as a range of deadlines per clock: from the latest deadline the last scan read (a mark per clock,
`deadlines.warned.<clock>`) to the latest one warned by now (`ClockRule.warned_through`: the lead time in minutes,
or the working day before a case analysis, holidays counted). So a working-day warning is read once, when its day
starts, not over its horizon every minute; and a lead time raised in the policy (or a holiday added) reads the
warnings it moved behind the mark at the next scan, while one lowered sends nothing again.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..alerts.models import Notification, ScanMark
from ..core.db import db
from ..core.enums import ClockName, TicketStatus
from ..requests.models import Ticket
from ..sla.models import TicketClock
from ..sla.policy import Policy, current_policy
from ..sla.rules import CLOCK_RULES
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
# + a clock's name: the latest deadline whose warning the last scan read.
WARNED = "deadlines.warned."
MARK_NAMES = [MARK] + [WARNED + rule.name.value for rule in CLOCK_RULES.values() if rule.warn_setting and rule.warn_to]


def _not_alerted(kind: Kind):
    return ~exists().where(Notification.ticket_id == TicketClock.ticket_id, Notification.kind == kind.value,
                           Notification.clock == TicketClock.name, Notification.due_at == TicketClock.due_at)


def _running_clocks(*conditions):
    return (select(TicketClock.ticket_id, TicketClock.name, TicketClock.due_at, Ticket.number, Ticket.assignee_id,
                   Ticket.expert_id)
            .join(Ticket, Ticket.id == TicketClock.ticket_id)
            .where(TicketClock.done_at.is_(None), TicketClock.not_applicable.is_(False),
                   Ticket.status.not_in([TicketStatus.CANCELLED, TicketStatus.CLOSED_UNSIGNED]),
                   # An approved request's clocks have all stopped but its case analysis, which starts then.
                   or_(Ticket.status != TicketStatus.APPROVED, TicketClock.name == ClockName.CASE_ANALYSIS),
                   *conditions))


def _read_marks() -> dict[str, datetime]:
    rows = db.session.execute(select(ScanMark.name, ScanMark.scanned_until).where(ScanMark.name.in_(MARK_NAMES)))
    return dict(rows.all())


def window_start(now: datetime, marks: dict[str, datetime] | None = None) -> datetime | None:
    """Where this scan's window starts: a little before the last completed scan, at most MISSED_LOOKBACK back;
    None for the whole look-back (no scan yet, or the watermark is after `now`: the clock went back)."""
    mark = (_read_marks() if marks is None else marks).get(MARK)
    if mark is None or mark > now or mark - OVERLAP <= now - MISSED_LOOKBACK:
        return None
    return mark - OVERLAP


def _set_marks(marks: dict[str, datetime]) -> None:
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ScanMark).values([{"name": name, "scanned_until": at} for name, at in marks.items()])
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
    marks = _read_marks()
    since = window_start(now, marks)
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
    # The warnings come since the last scan: the deadlines after the latest one it read (its warned-through
    # mark, computed with the lead times and holidays of then) up to the latest one warned by now. A lead time
    # raised since then widens this window over the warnings it moved behind the mark; one lowered narrows it
    # (nothing is sent twice: the anti-join and the keys skip what was alerted). Plus the clocks written since,
    # which also covers a clock committed just after the last scan read its range (no overlap needed here: a
    # day's case analyses, all due at one midnight, are not read again every minute).
    warning_rules = [rule for rule in CLOCK_RULES.values() if rule.warn_setting is not None and rule.warn_to]
    overrides = load_overrides(now.astimezone(tz).date() - timedelta(days=1), date.max) \
        if any(rule.warn_in_working_days for rule in warning_rules) else None
    new_marks = {MARK: now}
    soon_terms = []
    for rule in warning_rules:
        through = rule.warned_through(now, policy, tz, overrides)
        read_through = marks.get(WARNED + rule.name.value) if since is not None else None
        soon_terms.append(and_(TicketClock.name == rule.name,
                               TicketClock.due_at > (now if read_through is None else max(now, read_through)),
                               TicketClock.due_at <= through))
        if since is not None:
            soon_terms.append(and_(TicketClock.name == rule.name, TicketClock.written_at > since,
                                   TicketClock.due_at > now, TicketClock.due_at <= through))
        new_marks[WARNED + rule.name.value] = through
    soon = db.session.execute(_running_clocks(or_(*soon_terms), _not_alerted(Kind.DUE_SOON))).all() \
        if soon_terms else []
    _set_marks(new_marks)
    if not missed and not soon:
        return 0
    supervisor_ids = [u.id for u in active_supervisors()]
    alerts = []
    for kind, rows in ((Kind.MISSED, missed), (Kind.DUE_SOON, soon)):
        for ticket_id, name, due_at, number, assignee_id, expert_id in rows:
            rule = CLOCK_RULES[name]
            audience = rule.missed_to if kind == Kind.MISSED else rule.warn_to
            key = f"{kind.value}:{number}:{name.value}:{due_at.isoformat()}"
            params = {"number": number, "clock": name.value, "due_at": due_at.isoformat()}
            for user_id in audience_ids(audience, assignee_id=assignee_id, expert_id=expert_id,
                                        supervisor_ids=supervisor_ids):
                alerts.append({"user_id": user_id, "kind": kind.value, "key": key, "ticket_id": ticket_id,
                               "clock": name.value, "due_at": due_at, "params": params})
    return insert_once(alerts)
