"""In-app notifications: created once per user and idempotency key, read in the reader's language."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..alerts.models import Notification
from ..core.db import db
from ..core.deferred import after_commit_task
from ..core.enums import ClockName, Role
from ..core.errors import NotFound
from ..core.labels import clock_labels
from ..core.models import User
from ..core.types import utcnow
from ..requests.models import Ticket
from ..sla.policy import Policy, current_policy
from ..sla.rules import Audience

INBOX_SIZE = 50


class Kind(StrEnum):
    ASSIGNED = "assigned"            # a request assigned to you
    NEW_REQUEST = "new_request"      # a new request waits for assignment
    DUE_SOON = "due_soon"            # a deadline is near
    MISSED = "missed"                # a deadline passed
    ESCALATED = "escalated"          # a request escalated to you
    SUBMITTED = "submitted"          # an order waits for review
    RETURNED = "returned"            # your order came back from review
    WEEKLY_REPORT = "weekly_report"  # last week's report is out
    UNREACHABLE = "unreachable"      # the customer has not been reached after several attempts
    HANDED_BACK = "handed_back"      # a technician handed a job back: reassign it
    UNSIGNED = "unsigned"            # the customer is absent or refuses to sign: decide (another visit, close)
    FOLLOWUP = "followup"            # a visit ended, another is needed (parts to order): schedule the next one
    CHANNEL_FAILING = "channel_failing"  # a group robot refuses our messages (signature, token)
    CUSTOMER_REPORT = "customer_report"  # a customer reported a fault online: customer service forwards it
    SEAL_FAILING = "seal_failing"    # an order could not be sealed (the key, or the time-stamping authority)


KIND_LABELS = {
    Kind.ASSIGNED: _l("New assignment"),
    Kind.NEW_REQUEST: _l("New request to assign"),
    Kind.DUE_SOON: _l("Deadline soon"),
    Kind.MISSED: _l("Deadline missed"),
    Kind.ESCALATED: _l("Escalated to you"),
    Kind.SUBMITTED: _l("Order submitted for review"),
    Kind.RETURNED: _l("Order returned"),
    Kind.WEEKLY_REPORT: _l("Weekly report"),
    Kind.UNREACHABLE: _l("Customer not reached"),
    Kind.HANDED_BACK: _l("Job handed back"),
    Kind.UNSIGNED: _l("Customer did not sign"),
    Kind.FOLLOWUP: _l("Another visit needed"),
    Kind.CHANNEL_FAILING: _l("A group robot refuses messages"),
    Kind.CUSTOMER_REPORT: _l("Fault reported online by a customer"),
    Kind.SEAL_FAILING: _l("Company seal failing"),
}


# Who each kind can reach: the events below (a request is assigned to a technician, escalated to an expert) and the
# clocks' rules (sla/rules.py: the assignee, the supervisors, the expert). A user's alert settings offer these only.
KIND_ROLES: dict[Kind, frozenset[Role]] = {
    Kind.ASSIGNED: frozenset({Role.TECHNICIAN}),
    Kind.NEW_REQUEST: frozenset({Role.SUPERVISOR}),
    Kind.DUE_SOON: frozenset({Role.TECHNICIAN, Role.SUPERVISOR, Role.EXPERT}),
    Kind.MISSED: frozenset({Role.TECHNICIAN, Role.SUPERVISOR, Role.EXPERT}),
    Kind.ESCALATED: frozenset({Role.EXPERT}),
    Kind.SUBMITTED: frozenset({Role.SUPERVISOR}),
    Kind.RETURNED: frozenset({Role.TECHNICIAN}),
    Kind.WEEKLY_REPORT: frozenset({Role.SUPERVISOR}),
    Kind.UNREACHABLE: frozenset({Role.SUPERVISOR}),
    Kind.HANDED_BACK: frozenset({Role.SUPERVISOR}),
    Kind.UNSIGNED: frozenset({Role.SUPERVISOR}),
    # Whoever plans the visits: the supervisors, and customer service, who agrees times with the customer.
    Kind.FOLLOWUP: frozenset({Role.SUPERVISOR, Role.DISPATCHER}),
    Kind.CHANNEL_FAILING: frozenset({Role.ADMIN}),
    Kind.CUSTOMER_REPORT: frozenset({Role.DISPATCHER, Role.SUPERVISOR}),
    # The admins (the supervisors where there is no admin account): the seal's key or time-stamping authority.
    Kind.SEAL_FAILING: frozenset({Role.ADMIN, Role.SUPERVISOR}),
}


def kinds_for(user: User) -> dict[Kind, Any]:
    """The kinds of alert that can reach this user (by role), with their labels."""
    return {kind: label for kind, label in KIND_LABELS.items() if user.role in KIND_ROLES[kind]}


def active_supervisors() -> list[User]:
    with db.session.no_autoflush:  # reading them must not write the caller's pending changes early
        return list(db.session.execute(
            select(User).where(User.role == Role.SUPERVISOR, User.active.is_(True)).order_by(User.id)).scalars())


def audience_ids(audience: Iterable[Audience], *, assignee_id: int | None, expert_id: int | None,
                 supervisor_ids: list[int]) -> set[int]:
    """The users an alert goes to; a request nobody holds yet goes to the supervisors instead."""
    ids: set[int] = set()
    for who in audience:
        if who == Audience.ASSIGNEE:
            ids.update([assignee_id] if assignee_id else supervisor_ids)
        elif who == Audience.SUPERVISORS:
            ids.update(supervisor_ids)
        elif who == Audience.EXPERT and expert_id:
            ids.add(expert_id)
    return ids


def insert_once(rows: list[dict[str, Any]]) -> int:
    """Insert notifications, skipping any whose (user, key) exists: one statement whatever the number.
    Returns how many were new; delivery (push, e-mail) is started after the commit."""
    if not rows:
        return 0
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    values = [{"params": {}, "ticket_id": None, "clock": None, "due_at": None, "created_at": now, **row}
              for row in rows]
    created = 0
    for start in range(0, len(values), 500):  # a bounded statement (SQLite limits its parameters)
        statement = insert(Notification).values(values[start:start + 500]) \
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
        # No autoflush: the caller's pending changes (an assignment's version check) flush at its commit, where
        # a concurrent change becomes the caller's Conflict, not an error here.
        with db.session.no_autoflush:  # (RETURNING: the drivers' rowcount for this statement differs)
            created += len(db.session.execute(statement.returning(Notification.id)).all())
    if created:
        after_commit_task("deliver_notifications")
    return created


def notify(user_ids: Iterable[int], kind: Kind, key: str, *, ticket: Ticket | None = None,
           **params: Any) -> int:
    """Alert these users of an event of the process, in the caller's transaction. The rows are added to the
    session, written with the caller's other changes at its commit (no write taken early: on SQLite that would
    hold the database's write lock for the rest of the request). An event's key carries its time, so the same
    event is never alerted twice."""
    if ticket is not None:
        params.setdefault("number", ticket.number)
    notes = [Notification(user_id=uid, kind=kind.value, key=f"{kind.value}:{key}", ticket=ticket, params=params)
             for uid in sorted(set(user_ids))]
    db.session.add_all(notes)
    if notes:
        after_commit_task("deliver_notifications")
    return len(notes)


# --- events of the process: alerted at once -------------------------------------------------------------


def request_entered(ticket: Ticket) -> None:
    if ticket.assignee_id is None and ticket.assignee is None:
        notify([u.id for u in active_supervisors()], Kind.NEW_REQUEST, f"{ticket.number}", ticket=ticket,
               text=ticket.problem[:120])


def customer_reported(ticket: Ticket) -> None:
    """A customer's own report (report page, QR label): customer service and the supervisors at once, since the
    15-minute intake clock already runs."""
    with db.session.no_autoflush:
        desk = list(db.session.execute(select(User.id).where(User.role.in_([Role.DISPATCHER, Role.SUPERVISOR]),
                                                             User.active.is_(True))).scalars())
    notify(desk, Kind.CUSTOMER_REPORT, f"{ticket.number}", ticket=ticket, text=ticket.problem[:120])


def request_assigned(ticket: Ticket) -> None:
    notify([ticket.assignee.id], Kind.ASSIGNED, f"{ticket.number}:{ticket.assigned_at.isoformat()}",
           ticket=ticket, text=ticket.problem[:120])
    # "Waits for assignment" is no longer true: the supervisors' inboxes stop counting it as news. Read without
    # flushing (the assignment's version check belongs to the commit) and written with the caller's changes.
    if ticket.id is not None:
        with db.session.no_autoflush:
            waiting = db.session.execute(select(Notification).where(
                Notification.ticket_id == ticket.id, Notification.kind == Kind.NEW_REQUEST.value,
                Notification.read_at.is_(None))).scalars().all()
        for note in waiting:
            note.read_at = ticket.assigned_at


def request_escalated(ticket: Ticket) -> None:
    notify([ticket.expert.id], Kind.ESCALATED, f"{ticket.number}:{ticket.escalated_at.isoformat()}",
           ticket=ticket, text=(ticket.escalation_reason or "")[:120])


def order_submitted(ticket: Ticket, at: datetime) -> None:
    notify([u.id for u in active_supervisors()], Kind.SUBMITTED, f"{ticket.number}:{at.isoformat()}",
           ticket=ticket)


def order_returned(ticket: Ticket, at: datetime, comment: str) -> None:
    if ticket.assignee is not None:
        notify([ticket.assignee.id], Kind.RETURNED, f"{ticket.number}:{at.isoformat()}", ticket=ticket,
               text=comment[:200])


def customer_unreachable(ticket: Ticket, attempts: int, at: datetime) -> None:
    """The technician has tried `attempts` times in a row without reaching the customer: the supervisors decide
    (another number, the desk calls, a visit anyway)."""
    notify([u.id for u in active_supervisors()], Kind.UNREACHABLE, f"{ticket.number}:{attempts}", ticket=ticket,
           attempts=attempts, at=at.isoformat(), technician=ticket.assignee.display_name if ticket.assignee else "")


def job_handed_back(ticket: Ticket, at: datetime) -> None:
    notify([u.id for u in active_supervisors()], Kind.HANDED_BACK, f"{ticket.number}:{at.isoformat()}",
           ticket=ticket, text=(ticket.handback_reason or "")[:200],
           technician=ticket.assignee.display_name if ticket.assignee else "")


def signature_missing(ticket: Ticket, visit: Any) -> None:
    """The customer is absent or refuses to sign: the supervisors decide (another visit, or close unsigned)."""
    notify([u.id for u in active_supervisors()], Kind.UNSIGNED, f"{ticket.number}:{visit.unsigned_at.isoformat()}",
           ticket=ticket, situation=visit.unsigned_kind.value, text=(visit.unsigned_reason or "")[:200],
           technician=ticket.assignee.display_name if ticket.assignee else "")


def followup_needed(ticket: Ticket, visit: Any, actor: User | None) -> None:
    """A visit ended with another one to follow (parts to order, the customer absent): the supervisors and customer
    service are told at once, with the reason, to get the next visit scheduled. Not the one who asked for it."""
    with db.session.no_autoflush:
        desk = list(db.session.execute(select(User.id).where(User.role.in_([Role.SUPERVISOR, Role.DISPATCHER]),
                                                             User.active.is_(True))).scalars())
    notify([uid for uid in desk if actor is None or uid != actor.id], Kind.FOLLOWUP,
           f"{ticket.number}:{visit.ended_at.isoformat()}", ticket=ticket, text=(visit.end_reason or "")[:200],
           technician=ticket.assignee.display_name if ticket.assignee else "")


# --- reading --------------------------------------------------------------------------------------------


def title_and_body(note: Notification, *, tz: ZoneInfo, policy: Policy) -> tuple[str, str]:
    """The alert's words in the current locale (titles are written when read, not when created)."""
    p = note.params or {}
    number = p.get("number", "")
    clock = ""
    if p.get("clock") in {c.value for c in ClockName}:
        clock = clock_labels(policy)[ClockName(p["clock"])]
    due = datetime.fromisoformat(p["due_at"]).astimezone(tz).strftime("%m-%d %H:%M") if p.get("due_at") else ""
    text = p.get("text", "")
    kind = note.kind
    if kind == Kind.ASSIGNED:
        return _("%(number)s assigned to you", number=number), text
    if kind == Kind.NEW_REQUEST:
        return _("New request %(number)s waits for assignment", number=number), text
    if kind == Kind.CUSTOMER_REPORT:
        return _("%(number)s reported online: check it and forward it to the technical team", number=number), text
    if kind == Kind.DUE_SOON:
        return _("%(number)s: deadline soon", number=number), _("%(clock)s: due at %(due)s", clock=clock, due=due)
    if kind == Kind.MISSED:
        return _("%(number)s: deadline missed", number=number), _("%(clock)s: was due at %(due)s", clock=clock,
                                                                    due=due)
    if kind == Kind.ESCALATED:
        return _("%(number)s escalated to you", number=number), text
    if kind == Kind.SUBMITTED:
        return _("%(number)s submitted for review", number=number), ""
    if kind == Kind.RETURNED:
        return _("%(number)s returned to you", number=number), text
    if kind == Kind.UNREACHABLE:
        return (_("%(number)s: customer not reached after %(n)s attempts", number=number, n=p.get("attempts", "")),
                _("%(name)s could not reach the customer: decide how to go on.", name=p.get("technician", "")))
    if kind == Kind.HANDED_BACK:
        return _("%(number)s handed back by %(name)s: reassign it", number=number, name=p.get("technician", "")), text
    if kind == Kind.UNSIGNED:
        title = _("%(number)s: the customer refuses to sign", number=number) if p.get("situation") == "refused" \
            else _("%(number)s: the customer is not there to sign", number=number)
        return title, _("%(name)s: %(reason)s. Decide: another visit, or close without a signature.",
                        name=p.get("technician", ""), reason=text)
    if kind == Kind.FOLLOWUP:
        return (_("%(number)s needs another visit: get it scheduled", number=number),
                _("%(name)s: %(reason)s", name=p.get("technician", ""), reason=text))
    if kind == Kind.WEEKLY_REPORT:
        return _("Weekly report %(week)s", week=p.get("week", "")), _("The report is stored and was sent to "
                                                                      "customer service.")
    if kind == Kind.CHANNEL_FAILING:
        return _("Robot %(name)s refuses messages", name=p.get("channel", "")), \
            _("The platform answered %(answer)s. Its messages are kept until the robot is fixed on the admin "
              "page.", answer=p.get("answer", ""))
    if kind == Kind.SEAL_FAILING:
        return (_("%(number)s could not be sealed", number=number),
                _("The order is rendered and kept; the worker keeps trying. Check the seal's key and the "
                  "time-stamping authority (TSA_URL). Last error: %(error)s", error=text))
    return str(KIND_LABELS.get(kind, kind)), text


def as_item(note: Notification, *, tz: ZoneInfo, policy: Policy) -> dict[str, Any]:
    title, body = title_and_body(note, tz=tz, policy=policy)
    return {"id": note.id, "kind": note.kind, "ticket": (note.params or {}).get("number"), "title": title,
            "body": body, "created_at": note.created_at.isoformat(),
            "read_at": note.read_at.isoformat() if note.read_at else None}


def unread_count(user: User) -> int:
    return db.session.execute(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))).scalar_one()


def inbox(user: User, *, tz: ZoneInfo, limit: int = INBOX_SIZE) -> dict[str, Any]:
    """The user's newest notifications and the number unread."""
    notes = db.session.execute(select(Notification).where(Notification.user_id == user.id)
                               .order_by(Notification.id.desc()).limit(limit)).scalars().all()
    policy = current_policy()
    return {"items": [as_item(n, tz=tz, policy=policy) for n in notes], "unread": unread_count(user)}


def mark_read(user: User, notification_id: int, now: datetime | None = None) -> Notification:
    note = db.session.get(Notification, notification_id) if 0 < notification_id < 2**31 else None
    if note is None or note.user_id != user.id:
        raise NotFound("no_notification", _l("No such notification."))
    if note.read_at is None:
        note.read_at = now or utcnow()
    return note


def mark_all_read(user: User, now: datetime | None = None) -> None:
    db.session.execute(update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
                       .values(read_at=now or utcnow()))
