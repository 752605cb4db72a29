"""The request's state machine: which moves are legal, and the audit event every move writes."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..core.audit import record_event
from ..core.enums import TicketStatus as S
from ..core.errors import DomainError
from ..core.labels import STATUS_LABELS
from ..core.models import Ticket, User

# Each state and the states it may move to. A visit may be rescheduled (VISIT_SCHEDULED -> itself);
# reassigning a request does not change its state (see dispatch.assign).
ALLOWED: dict[S, frozenset[S]] = {
    S.NEW: frozenset({S.ASSIGNED, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.CONTACTED, S.CANCELLED}),
    S.CONTACTED: frozenset({S.REMOTE_RESOLVED, S.VISIT_SCHEDULED, S.CANCELLED}),
    S.VISIT_SCHEDULED: frozenset({S.VISIT_SCHEDULED, S.ON_SITE, S.CANCELLED}),
    S.ON_SITE: frozenset({S.SIGNED}),
    S.REMOTE_RESOLVED: frozenset({S.SUBMITTED}),
    S.SIGNED: frozenset({S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.APPROVED, S.RETURNED}),
    S.RETURNED: frozenset({S.SUBMITTED}),
    S.APPROVED: frozenset(),
    S.CANCELLED: frozenset(),
}

# States in which a request is still waiting for the technician's work (it may be (re)assigned).
ASSIGNABLE = frozenset({S.NEW, S.ASSIGNED, S.CONTACTED, S.VISIT_SCHEDULED})
OPEN_STATES = frozenset({S.NEW, S.ASSIGNED, S.CONTACTED, S.VISIT_SCHEDULED, S.ON_SITE})


def can_move(current: S, target: S) -> bool:
    return target in ALLOWED[current]


def refusal(ticket: Ticket, target: S) -> DomainError:
    """The error for a move the state machine does not allow, naming both states."""
    current = ticket.status
    return DomainError(
        "illegal_transition",
        _l("Request %(number)s is \u201c%(current)s\u201d and cannot become \u201c%(target)s\u201d.",
           number=ticket.number, current=STATUS_LABELS[current], target=STATUS_LABELS[target]),
        current=current.value, target=target.value,
    )


def move(ticket: Ticket, target: S, *, actor: User | None, action: str, via: str = "web",
         remote_addr: str | None = None, **data) -> None:
    """Change the state, or refuse with a message naming both states. Writes the audit event."""
    current = ticket.status
    if not can_move(current, target):
        raise refusal(ticket, target)
    ticket.status = target
    record_event(action, actor=actor, ticket=ticket, entity=ticket, from_state=current.value,
                 to_state=target.value, via=via, remote_addr=remote_addr, **data)
