"""The request's state machine: which moves are legal, and the audit event every move writes."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..core.audit import record_event
from ..core.enums import TicketStatus as S
from ..core.errors import DomainError
from ..core.labels import STATUS_LABELS
from ..core.models import User
from ..requests.models import Ticket

# Each state and the states it may move to. A visit may be rescheduled (VISIT_SCHEDULED -> itself);
# reassigning a request does not change its state (see assignment.assign).
ALLOWED: dict[S, frozenset[S]] = {
    S.NEW: frozenset({S.ASSIGNED, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.CONTACTED, S.CANCELLED}),
    S.CONTACTED: frozenset({S.REMOTE_RESOLVED, S.VISIT_SCHEDULED, S.CANCELLED}),
    S.VISIT_SCHEDULED: frozenset({S.VISIT_SCHEDULED, S.ON_SITE, S.CANCELLED}),
    # Unsigned: back to scheduling for another visit, or closed without a signature (the supervisor's decision).
    S.ON_SITE: frozenset({S.SIGNED, S.CONTACTED, S.CLOSED_UNSIGNED}),
    S.REMOTE_RESOLVED: frozenset({S.SUBMITTED}),
    S.SIGNED: frozenset({S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.APPROVED, S.RETURNED}),
    S.RETURNED: frozenset({S.SUBMITTED}),
    S.APPROVED: frozenset(),
    S.CANCELLED: frozenset(),
    S.CLOSED_UNSIGNED: frozenset(),
}

# States in which a request is still waiting for the technician's work (it may be (re)assigned).
ASSIGNABLE = frozenset({S.NEW, S.ASSIGNED, S.CONTACTED, S.VISIT_SCHEDULED})
OPEN_STATES = frozenset({S.NEW, S.ASSIGNED, S.CONTACTED, S.VISIT_SCHEDULED, S.ON_SITE})
# A contact with the customer may be logged from assignment until the visit.
CONTACTABLE = frozenset({S.ASSIGNED, S.CONTACTED, S.VISIT_SCHEDULED})
# A service order exists (signed on site or solved remotely) and waits for the write-up and submission.
SUBMITTABLE = frozenset({S.REMOTE_RESOLVED, S.SIGNED, S.RETURNED})
# Closed for good: nothing more happens to the request, not even an escalation.
CLOSED = frozenset({S.APPROVED, S.CANCELLED, S.CLOSED_UNSIGNED})


def can_move(current: S, target: S) -> bool:
    return target in ALLOWED[current]


def available_actions(ticket: Ticket, user: User) -> frozenset[str]:
    """What `user` may do next to `ticket` from the request page, by name: the pages ask this instead of listing
    states. The domain functions check the same rules again when the action is sent."""
    from ..core.context import is_assignee
    from ..core.enums import Role

    status, actions = ticket.status, set()
    if is_assignee(user, ticket):
        if status in CONTACTABLE:
            actions.add("contact")
        if status == S.CONTACTED:  # remote guidance and a remote fix follow the first contact
            actions |= {"remote", "resolve", "schedule_visit"}
        if status == S.VISIT_SCHEDULED:
            actions.add("reschedule_visit")
            visit = ticket.current_visit
            if visit is not None and visit.prep_confirmed_at is None:
                actions.add("prepare")
        if status in SUBMITTABLE:
            actions.add("submit")
    if user.has_role(Role.SUPERVISOR):
        if status not in CLOSED:
            actions.add("escalate")
        if status in ASSIGNABLE:
            actions.add("assign")
        if status in ASSIGNABLE and can_move(status, S.CANCELLED):  # on site: only the unsigned decision closes
            actions.add("cancel")
        if status == S.ON_SITE and ticket.signature is None:
            from ..fieldwork.unsigned import pending_decision

            actions.add("decide_unsigned" if pending_decision(ticket) is not None else "another_visit")
        if status == S.SUBMITTED:
            actions.add("review")
    return frozenset(actions)


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
