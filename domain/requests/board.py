"""The supervisor board and request search: one filtered, paginated query with a constant number of statements.

What a page costs does not grow with the number of requests: its rows are read in the board's order from the
index that serves it (`ix_tickets_board_order`, models.py), a search reads the trigram indexes on PostgreSQL, and
the count stops at COUNT_CAP ("more than 1,000": nobody pages through a thousand requests; a filter narrows
them)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select, text, true
from sqlalchemy.orm import joinedload, selectinload

from ..core.db import db
from ..core.enums import Role, TicketStatus, Urgency
from ..core.models import User
from ..requests.models import TICKET_BOARD_ORDER, Customer, Ticket
from .workflow import OPEN_STATES

PER_PAGE = 30
# Matching requests are counted up to this many; beyond it the page says "more than" and pages on without a last.
COUNT_CAP = 1000


@dataclass
class BoardFilter:
    status: TicketStatus | None = None
    urgency: Urgency | None = None
    technician_id: int | None = None   # 0: unassigned only
    expert_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    overdue_only: bool = False
    open_only: bool = False
    q: str = ""
    page: int = 1
    per_page: int = PER_PAGE


@dataclass
class BoardPage:
    rows: list[Ticket]
    total: int  # exact, or COUNT_CAP when `capped`
    page: int
    per_page: int
    capped: bool = False  # more than `total` match
    more: bool = False  # a page follows this one

    @property
    def pages(self) -> int:
        """The last page; while the count is capped, the pages counted so far."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.more if self.capped else self.page < self.pages


def _conditions(f: BoardFilter, now: datetime, tz: ZoneInfo) -> list:
    conditions = []
    if f.status is not None:
        conditions.append(Ticket.status == f.status)
    elif f.open_only:
        conditions.append(Ticket.status.in_(OPEN_STATES))
    if f.urgency is not None:
        conditions.append(Ticket.urgency == f.urgency)
    if f.technician_id == 0:
        conditions.append(Ticket.assignee_id.is_(None))
    elif f.technician_id:
        conditions.append(Ticket.assignee_id == f.technician_id)
    if f.expert_id:
        conditions.append(Ticket.expert_id == f.expert_id)
    if f.date_from:
        conditions.append(Ticket.created_at >= datetime.combine(f.date_from, time.min, tzinfo=tz))
    if f.date_to:
        conditions.append(Ticket.created_at < datetime.combine(f.date_to + timedelta(days=1), time.min, tzinfo=tz))
    if f.overdue_only:
        conditions.append(Ticket.next_due_at < now)
    q = (f.q or "").strip()
    if q:
        pattern = f"%{q.replace('%', '').replace('_', '')}%"
        # Customers are few: their ids are found first (one statement), so that every branch of the search is
        # an index condition (a trigram index each on PostgreSQL, the tickets' customer index).
        customer_ids = db.session.execute(select(Customer.id).where(_contains(Customer.name, pattern))).scalars().all()
        matches = [
            _contains(Ticket.number, pattern),
            _contains(Ticket.device_model_text, pattern),
            Ticket.contact_phone.like(pattern),
            _contains(Ticket.serial_number, pattern),
        ]
        if customer_ids:
            matches.insert(1, Ticket.customer_id.in_(customer_ids))
        # A registered device's asset number (the requests about it, by their device index); the serial number is
        # on the request itself.
        from ..devices.models import Device

        device_ids = db.session.execute(select(Device.id).where(_contains(Device.asset_number, pattern))
                                        .limit(50)).scalars().all()
        if device_ids:
            matches.append(Ticket.device_id.in_(device_ids))
        conditions.append(or_(*matches))
    return conditions


def _contains(column, pattern: str):
    """Case-insensitive substring match: SQLite's LIKE already ignores ASCII case; PostgreSQL needs ILIKE.
    Chinese has no case, and a substring match finds it without word splitting."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column.ilike(pattern)
    return column.like(pattern)


def board_page(f: BoardFilter, now: datetime, tz: ZoneInfo) -> BoardPage:
    """Unassigned first, then urgent before normal, then the nearest deadline (TICKET_BOARD_ORDER).

    A constant number of statements however many rows match: the customers a search names, the count (up to
    COUNT_CAP), the page's ids (read in index order), then those rows with their relations. A search reads the
    ids of its first COUNT_CAP + 1 matches in order instead, in one pass: their number is the count, and the page
    is a slice of them (a search scans what it cannot find in an index, and scanning twice cost twice).
    """
    where = and_(true(), *_conditions(f, now, tz))
    ordered = select(Ticket.id).where(where).order_by(*TICKET_BOARD_ORDER)
    head = None
    if f.q.strip():
        if db.session.get_bind().dialect.name == "postgresql":
            # A plan made for this pattern, always: psycopg prepares a statement it has sent five times, and
            # PostgreSQL's generic plan for it, blind to the pattern, walks the whole order index instead of
            # asking the trigram indexes (70 ms instead of 2 at 50,000 requests).
            db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        head = db.session.execute(ordered.limit(COUNT_CAP + 1)).scalars().all()
        total = len(head)
    else:
        matching = select(Ticket.id).where(where).limit(COUNT_CAP + 1).subquery()
        total = db.session.execute(select(func.count()).select_from(matching)).scalar_one()
    capped = total > COUNT_CAP
    if capped:
        total, page = COUNT_CAP, max(1, f.page)
    else:  # a link past the last page (the list shrank meanwhile) shows the last page rather than nothing
        page = max(1, min(f.page, -(-total // f.per_page)))
    offset = (page - 1) * f.per_page
    if head is not None and (not capped or offset + f.per_page < len(head)):
        found = head[offset:offset + f.per_page + 1]
    else:
        found = db.session.execute(ordered.limit(f.per_page + 1).offset(offset)).scalars().all()
    more, ids = len(found) > f.per_page, found[:f.per_page]
    rows = []
    if ids:
        loaded = db.session.execute(
            select(Ticket).where(Ticket.id.in_(ids))
            .options(joinedload(Ticket.customer), joinedload(Ticket.assignee), joinedload(Ticket.expert),
                     selectinload(Ticket.clocks))
        ).unique().scalars().all()
        by_id = {t.id: t for t in loaded}
        rows = [by_id[i] for i in ids]
    return BoardPage(rows=rows, total=total, page=page, per_page=f.per_page, capped=capped, more=more)


@dataclass
class Load:
    user: User
    open_count: int
    urgent_count: int


def technician_load() -> list[Load]:
    """Each active technician's open requests, least loaded first: whom to give the next one to.

    The open requests are counted per assignee first, from the partial index over open requests alone
    (ix_tickets_open_by_assignee: an index-only scan, in assignee order), then joined to the technicians."""
    urgent = case((Ticket.urgency == Urgency.URGENT, 1), else_=0)
    per_assignee = (select(Ticket.assignee_id, func.count().label("open"), func.sum(urgent).label("urgent"))
                    .where(Ticket.status.in_(OPEN_STATES)).group_by(Ticket.assignee_id).subquery())
    count = func.coalesce(per_assignee.c.open, 0)
    rows = db.session.execute(
        select(User, count, func.coalesce(per_assignee.c.urgent, 0))
        .outerjoin(per_assignee, per_assignee.c.assignee_id == User.id)
        .where(User.role == Role.TECHNICIAN, User.active.is_(True))
        .order_by(count, User.display_name)
    ).all()
    return [Load(user, count, urgent) for user, count, urgent in rows]


def active_users(role: Role) -> list[User]:
    return list(db.session.execute(
        select(User).where(User.role == role, User.active.is_(True)).order_by(User.display_name)).scalars())


# --- the day view: one row per technician --------------------------------------------------------------------


class VisitState:
    """Where a visit of the day stands, in the order a day goes."""

    PLANNED = "planned"      # agreed, not prepared yet
    LATE = "late"            # its time has passed and nobody has arrived
    ON_THE_WAY = "on_the_way"  # "on my way" tapped on the phone (the customer was told)
    ARRIVED = "arrived"
    SIGNED = "signed"        # the customer signed on the technician's phone
    UNSIGNED = "unsigned"    # the customer absent or refusing: recorded, the supervisor decides (or closed so)
    ANOTHER_VISIT = "another_visit"  # the visit ended without the fix: another one follows, its work kept
    LEFT = "left"


@dataclass
class DayVisit:
    visit: object  # domain.fieldwork.models.Visit
    state: str


@dataclass
class LastSeen:
    action: str
    at: datetime
    ticket_number: str | None


@dataclass
class TechnicianDay:
    user: User
    visits: list[DayVisit]
    open_count: int
    urgent_count: int
    last_seen: LastSeen | None


@dataclass
class DayView:
    day: date
    rows: list[TechnicianDay]
    unassigned_urgent: list[Ticket]
    handed_back: list[Ticket]


def visit_state(visit, now: datetime) -> str:
    # The exceptions first: a visit the customer did not sign, or that ended for another, is not simply "left".
    if visit.ended_at is not None:
        return VisitState.ANOTHER_VISIT
    if visit.unsigned_at is not None and visit.ticket.signature is None:
        return VisitState.UNSIGNED
    if visit.departed_at is not None:
        return VisitState.LEFT
    if visit.ticket.signature is not None and visit.arrived_at is not None:
        return VisitState.SIGNED
    if visit.arrived_at is not None:
        return VisitState.ARRIVED
    if visit.on_the_way_at is not None:
        return VisitState.ON_THE_WAY
    return VisitState.LATE if visit.scheduled_at < now else VisitState.PLANNED


def _last_acts(user_ids: list[int], since: datetime) -> dict[int, LastSeen]:
    """Each technician's latest act since `since` (on the phone or on a page), from the audit trail's time index:
    today's events only, however long the trail."""
    from ..core.models import AuditEvent

    if not user_ids:
        return {}
    latest = (select(AuditEvent.actor_id, func.max(AuditEvent.id).label("id"))
              .where(AuditEvent.at >= since, AuditEvent.actor_id.in_(user_ids))
              .group_by(AuditEvent.actor_id).subquery())
    rows = db.session.execute(
        select(AuditEvent.actor_id, AuditEvent.action, AuditEvent.at, Ticket.number)
        .join(latest, latest.c.id == AuditEvent.id)
        .outerjoin(Ticket, Ticket.id == AuditEvent.ticket_id)).all()
    return {actor: LastSeen(action, at, number) for actor, action, at, number in rows}


def day_view(day: date, now: datetime, tz: ZoneInfo) -> DayView:
    """The supervisor's day on one screen: each active technician with the day's visits in time order and their
    last act, and the urgent work nobody has (unassigned, or handed back). A constant number of statements."""
    from ..fieldwork.models import Visit

    start = datetime.combine(day, time.min, tzinfo=tz)
    end = start + timedelta(days=1)
    loads = technician_load()
    visits = db.session.execute(
        select(Visit).where(Visit.scheduled_at >= start, Visit.scheduled_at < end, Visit.cancelled_at.is_(None))
        .options(joinedload(Visit.ticket).joinedload(Ticket.customer),
                 joinedload(Visit.ticket).joinedload(Ticket.signature))
        .order_by(Visit.scheduled_at, Visit.id)).unique().scalars().all()
    by_technician: dict[int, list[DayVisit]] = {}
    for visit in visits:
        if visit.ticket.status.value == "cancelled":
            continue
        by_technician.setdefault(visit.technician_id, []).append(DayVisit(visit, visit_state(visit, now)))
    # Where each one was last seen is a matter of now, whichever day is shown.
    seen = _last_acts([load.user.id for load in loads],
                      datetime.combine(now.astimezone(tz).date(), time.min, tzinfo=tz))
    rows = [TechnicianDay(load.user, by_technician.get(load.user.id, []), load.open_count, load.urgent_count,
                          seen.get(load.user.id)) for load in loads]
    # Busy first (by their first visit), then those with none today, by name.
    rows.sort(key=lambda r: (not r.visits, r.visits[0].visit.scheduled_at if r.visits else now, r.user.display_name))
    waiting = db.session.execute(
        select(Ticket).where(Ticket.status.in_(OPEN_STATES), Ticket.urgency == Urgency.URGENT,
                             Ticket.assignee_id.is_(None))
        .options(joinedload(Ticket.customer)).order_by(Ticket.created_at).limit(20)).scalars().all()
    handed_back = db.session.execute(
        select(Ticket).where(Ticket.status.in_(OPEN_STATES), Ticket.handed_back_at.is_not(None))
        .options(joinedload(Ticket.customer), joinedload(Ticket.assignee))
        .order_by(Ticket.handed_back_at).limit(20)).scalars().all()
    return DayView(day, rows, list(waiting), list(handed_back))


# The audit trail's names of acts done on a page, as the phone's op kinds they match.
_ACT_ALIASES = {"ticket.contact_logged": "contact.made", "ticket.contacted": "contact.made",
                "remote.session": "remote.guided", "ticket.remote_resolved": "remote.resolved",
                "visit.rescheduled": "visit.scheduled", "visit.prepared": "prep.confirmed",
                "ticket.handed_back": "job.handed_back"}


def act_label(action: str):
    """A technician's act as the phone names it ("Arrived", "Signed"...): the op kinds' own labels."""
    from flask_babel import lazy_gettext as _l

    from ..fieldwork.ops import REGISTRY

    kind = REGISTRY.get(_ACT_ALIASES.get(action, action))
    return kind.label if kind is not None else _l("Other activity")
