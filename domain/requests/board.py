"""The supervisor board and request search: one filtered, paginated query with a constant number of statements."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.orm import joinedload, selectinload

from ..core.db import db
from ..core.enums import Role, TicketStatus, Urgency
from ..core.models import Customer, Ticket, User
from .workflow import OPEN_STATES

PER_PAGE = 30


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
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


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
        conditions.append(or_(
            _contains(Ticket.number, pattern),
            # Customers are few: match them first, then use the tickets' customer index.
            Ticket.customer_id.in_(select(Customer.id).where(_contains(Customer.name, pattern))),
            _contains(Ticket.device_model_text, pattern),
            Ticket.contact_phone.like(pattern),
            _contains(Ticket.serial_number, pattern),
        ))
    return conditions


def _contains(column, pattern: str):
    """Case-insensitive substring match: SQLite's LIKE already ignores ASCII case; PostgreSQL needs ILIKE.
    Chinese has no case, and a substring match finds it without word splitting."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column.ilike(pattern)
    return column.like(pattern)


BOARD_ORDER = (
    case((Ticket.status == TicketStatus.NEW, 0), else_=1),
    case((Ticket.urgency == Urgency.URGENT, 0), else_=1),
    case((Ticket.next_due_at.is_(None), 1), else_=0),
    Ticket.next_due_at,
    Ticket.created_at.desc(),
    Ticket.id.desc(),
)


def board_page(f: BoardFilter, now: datetime, tz: ZoneInfo) -> BoardPage:
    """Unassigned first, then urgent before normal, then the nearest deadline.

    A constant number of statements however many rows match: the count, the page's ids (the sort handles
    narrow rows only), then those rows with their relations.
    """
    conditions = _conditions(f, now, tz)
    where = and_(true(), *conditions)
    ordered = select(Ticket.id).where(where).order_by(*BOARD_ORDER)
    if f.q.strip():
        # A text search scans the rows: count them in the same pass (a window count) instead of twice.
        page = max(1, f.page)
        found = db.session.execute(ordered.add_columns(func.count().over())
                                   .limit(f.per_page).offset((page - 1) * f.per_page)).all()
        total = found[0][1] if found else None
    else:
        total = None
        found = []
    if total is None:
        total = db.session.execute(select(func.count(Ticket.id)).where(where)).scalar_one()
        page = max(1, min(f.page, -(-total // f.per_page)))
        found = db.session.execute(ordered.limit(f.per_page).offset((page - 1) * f.per_page)).all()
    ids = [row[0] for row in found]
    rows = []
    if ids:
        loaded = db.session.execute(
            select(Ticket).where(Ticket.id.in_(ids))
            .options(joinedload(Ticket.customer), joinedload(Ticket.assignee), joinedload(Ticket.expert),
                     selectinload(Ticket.clocks))
        ).unique().scalars().all()
        by_id = {t.id: t for t in loaded}
        rows = [by_id[i] for i in ids]
    return BoardPage(rows=rows, total=total, page=page, per_page=f.per_page)


@dataclass
class Load:
    user: User
    open_count: int
    urgent_count: int


def technician_load() -> list[Load]:
    """Each active technician's open requests, least loaded first: whom to give the next one to."""
    open_ticket = and_(Ticket.assignee_id == User.id, Ticket.status.in_(OPEN_STATES))
    rows = db.session.execute(
        select(User, func.count(Ticket.id),
               func.coalesce(func.sum(case((Ticket.urgency == Urgency.URGENT, 1), else_=0)), 0))
        .outerjoin(Ticket, open_ticket)
        .where(User.role == Role.TECHNICIAN, User.active.is_(True))
        .group_by(User.id)
        .order_by(func.count(Ticket.id), User.display_name)
    ).all()
    return [Load(user, count, urgent) for user, count, urgent in rows]


def active_users(role: Role) -> list[User]:
    return list(db.session.execute(
        select(User).where(User.role == role, User.active.is_(True)).order_by(User.display_name)).scalars())
