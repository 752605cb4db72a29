"""The policy's clocks for one request: started, due, done; and their state at a given moment.

A clock row is written when its rule starts to apply (the intake clock at entry, first contact at entry,
the remote-fix clock at first contact...), closed when the rule is met, and marked not applicable when
the process takes another path. Boards and reports read these rows with plain SQL.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core.enums import ClockName, ClockState, TicketStatus
from ..requests.models import Ticket
from ..sla.models import TicketClock


@dataclass(frozen=True)
class ClockView:
    name: ClockName
    due_at: datetime | None
    done_at: datetime | None
    state: ClockState
    started_at: datetime | None = None
    threshold: int | None = None  # the policy's threshold when it started (None: started before it was kept)
    calendar_fallback: bool = False  # counted Monday to Friday: the holiday calendar did not know the year

    def remaining(self, now: datetime) -> timedelta | None:
        """Time left (negative when overdue) while the clock runs; None once it stopped."""
        if self.due_at is None or self.done_at is not None or self.state == ClockState.NOT_APPLICABLE:
            return None
        return self.due_at - now

    def as_dict(self) -> dict:
        return {
            "name": self.name.value,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "done_at": self.done_at.isoformat() if self.done_at else None,
            "state": self.state.value,
        }


def clock_state(clock: TicketClock, now: datetime) -> ClockState:
    if clock.not_applicable:
        return ClockState.NOT_APPLICABLE
    if clock.done_at is not None:
        return ClockState.MET if clock.done_at <= clock.due_at else ClockState.MISSED
    # Past its deadline and still open: already missed, whatever happens next.
    return ClockState.MISSED if now > clock.due_at else ClockState.PENDING


def current_clocks(ticket: Ticket) -> list[TicketClock]:
    """The clocks in force (superseded ones stay on record for the report, not on the request)."""
    return [c for c in ticket.clocks if c.superseded_at is None]


def next_running(ticket: Ticket) -> TicketClock | None:
    """The running clock due first, for lists; a cancelled request, or one closed unsigned, has none (its missed
    clocks stay missed)."""
    if ticket.cancelled_at is not None or ticket.status == TicketStatus.CLOSED_UNSIGNED:
        return None
    running = [c for c in current_clocks(ticket) if c.done_at is None and not c.not_applicable]
    return min(running, key=lambda c: c.due_at) if running else None


def ticket_clocks(ticket: Ticket, now: datetime) -> list[ClockView]:
    """Every clock of the policy for this request, in process order (absent ones not applicable)."""
    by_name = {c.name: c for c in current_clocks(ticket)}
    views = []
    for name in ClockName:
        clock = by_name.get(name)
        if clock is None:
            views.append(ClockView(name, None, None, ClockState.NOT_APPLICABLE))
        else:
            views.append(ClockView(name, clock.due_at, clock.done_at, clock_state(clock, now), clock.started_at,
                                   clock.threshold, clock.calendar_fallback))
    return views


def _find(ticket: Ticket, name: ClockName) -> TicketClock | None:
    return next((c for c in ticket.clocks if c.name == name and c.superseded_at is None), None)


def start_clock(ticket: Ticket, name: ClockName, started_at: datetime, due_at: datetime,
                threshold: int | None = None, calendar_fallback: bool = False) -> TicketClock:
    """Start (or restart, e.g. a rescheduled visit) a clock, with the policy's threshold it runs under.

    A clock restarted after its deadline passed unmet was missed: it stays on record (superseded) and a new clock
    runs for the new time, so that moving a visit never erases a missed preparation from the report."""
    clock = _find(ticket, name)
    if clock is not None and clock.done_at is None and not clock.not_applicable and clock.due_at < started_at:
        clock.superseded_at = started_at
        clock = None
    if clock is None:
        clock = TicketClock(name=name, started_at=started_at, due_at=due_at)
        ticket.clocks.append(clock)
    else:
        clock.started_at, clock.due_at = started_at, due_at
        clock.done_at, clock.not_applicable = None, False
    clock.threshold, clock.calendar_fallback = threshold, calendar_fallback
    refresh_next_due(ticket)
    return clock


def supersede_finished_clock(ticket: Ticket, name: ClockName, at: datetime) -> None:
    """A finished clock (met, missed and done, not applicable) stays on record as it ended, no longer in force: the
    rule starts afresh (a second visit's preparation)."""
    clock = _find(ticket, name)
    if clock is not None and (clock.done_at is not None or clock.not_applicable):
        clock.superseded_at = at
        refresh_next_due(ticket)


def stop_clock(ticket: Ticket, name: ClockName, done_at: datetime) -> TicketClock | None:
    """Record the moment the rule was met. The first stop counts; a later one changes nothing."""
    clock = _find(ticket, name)
    if clock is not None and clock.done_at is None and not clock.not_applicable:
        clock.done_at = done_at
    refresh_next_due(ticket)
    return clock


def drop_clock(ticket: Ticket, name: ClockName, at: datetime | None = None) -> None:
    """The process took another path: this rule no longer applies (e.g. no remote fix when a visit is needed).
    Given `at` (a cancellation), a clock already past its deadline stays missed: never calling must not score
    better than calling late."""
    clock = _find(ticket, name)
    if clock is not None and clock.done_at is None and (at is None or clock.due_at >= at):
        clock.not_applicable = True
    refresh_next_due(ticket)


def refresh_next_due(ticket: Ticket) -> None:
    running = next_running(ticket)
    ticket.next_due_at = running.due_at if running is not None else None
