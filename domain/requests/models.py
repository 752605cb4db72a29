"""A request and what it is about: the customer, the device catalog, fault categories, numbering, contacts,
remote sessions and progress notes; the board's indexes beside the columns they serve."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    DDL,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    case,
    event,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import Case, Grouping

from ..core.db import Base
from ..core.enums import (
    Channel,
    ContactMethod,
    RemoteOutcome,
    Resolution,
    TicketStatus,
    Urgency,
)
from ..core.models import User, enum_type
from ..core.types import utcnow

if TYPE_CHECKING:  # relationships name these classes; domain/__init__.py imports every models module
    from ..devices.models import Device
    from ..documents.models import CaseAnalysis, Review, ServiceOrder
    from ..fieldwork.models import AcceptanceTest, Photo, Precaution, Signature, Visit
    from ..sla.models import TicketClock

# --- customers and devices ----------------------------------------------------------------


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    contact_person: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40), index=True)
    address: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeviceCategory(Base):
    """Camera, audio mixer, video switcher...; carries the templates a visit starts from."""

    __tablename__ = "device_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(default=0)
    # Lists of {"zh": ..., "en": ...}
    acceptance_tests: Mapped[list[Any]] = mapped_column(default=list)
    suggested_tools: Mapped[list[Any]] = mapped_column(default=list)
    suggested_spares: Mapped[list[Any]] = mapped_column(default=list)
    precaution_templates: Mapped[list[Any]] = mapped_column(default=list)

    models: Mapped[list[DeviceModel]] = relationship(back_populates="category")


class DeviceModel(Base):
    __tablename__ = "device_models"
    __table_args__ = (UniqueConstraint("brand", "model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("device_categories.id"))
    brand: Mapped[str] = mapped_column(String(80))
    model: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)

    category: Mapped[DeviceCategory] = relationship(back_populates="models")

    @property
    def label(self) -> str:
        return f"{self.brand} {self.model}"


class FaultCategory(Base):
    """The managed list of fault types, per device category."""

    __tablename__ = "fault_categories"
    __table_args__ = (UniqueConstraint("device_category_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_category_id: Mapped[int] = mapped_column(ForeignKey("device_categories.id"))
    code: Mapped[str] = mapped_column(String(60))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    device_category: Mapped[DeviceCategory] = relationship()


# --- the request (ticket) -----------------------------------------------------------------


class TicketSequence(Base):
    """The last number handed out per year; incremented by an atomic upsert (see numbering.py)."""

    __tablename__ = "ticket_sequences"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(default=0)


class Ticket(Base):
    """One customer request and everything its handling records (the service order's subject)."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_urgency_created", "status", "urgency", "created_at"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[TicketStatus] = mapped_column(enum_type(TicketStatus), default=TicketStatus.NEW)
    urgency: Mapped[Urgency] = mapped_column(enum_type(Urgency))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # Snapshots taken at intake: the order shows what was true then, even if the customer record changes.
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(500))
    # Where the customer's copy of the signed order is sent (optional: given at intake or at signing).
    customer_email: Mapped[str | None] = mapped_column(String(254))
    device_model_id: Mapped[int | None] = mapped_column(ForeignKey("device_models.id"))
    device_category_id: Mapped[int | None] = mapped_column(ForeignKey("device_categories.id"))
    device_model_text: Mapped[str] = mapped_column(String(200))
    serial_number: Mapped[str | None] = mapped_column(String(100))
    # The registered device (domain/devices) the request is about, when it is in the register; the text fields
    # above keep what was said at intake either way.
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    problem: Mapped[str] = mapped_column(Text)
    # The customer's tracking link (/c/<token>) carries this generation: raising it revokes every link given.
    tracking_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # The short form of that link (/c/<code>) for SMS, whose approved templates take the code as a variable, never
    # a link: given when a message first needs it (requests/links.py), cleared when the links are revoked.
    link_code: Mapped[str | None] = mapped_column(String(12), unique=True, index=True)

    reported_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime | None]
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    escalated_at: Mapped[datetime | None]
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    # The technician handed the job back (sick, stuck): it waits for the supervisor to reassign it.
    handed_back_at: Mapped[datetime | None]
    handback_reason: Mapped[str | None] = mapped_column(Text)

    first_contact_at: Mapped[datetime | None]
    resolution: Mapped[Resolution | None] = mapped_column(enum_type(Resolution))
    remote_resolved_at: Mapped[datetime | None]
    order_filled_at: Mapped[datetime | None]
    service_ended_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    # The service order's own fields (what the technician writes up).
    cause: Mapped[str | None] = mapped_column(Text)
    work_done: Mapped[str | None] = mapped_column(Text)
    # Internal fields, amendable after a review returns the order; never part of what the customer signed.
    fault_category_id: Mapped[int | None] = mapped_column(ForeignKey("fault_categories.id"))
    is_complex: Mapped[bool] = mapped_column(default=False)
    root_cause: Mapped[str | None] = mapped_column(Text)
    solution_summary: Mapped[str | None] = mapped_column(Text)
    parts_used: Mapped[str | None] = mapped_column(Text)

    # The earliest deadline of a running clock: boards sort and filter on it without a join.
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)

    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Optimistic locking: two supervisors assigning at once cannot both win silently.
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}

    customer: Mapped[Customer] = relationship()
    device_model: Mapped[DeviceModel | None] = relationship()
    device_category: Mapped[DeviceCategory | None] = relationship()
    device: Mapped[Device | None] = relationship()
    fault_category: Mapped[FaultCategory | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    assigned_by: Mapped[User | None] = relationship(foreign_keys=[assigned_by_id])
    expert: Mapped[User | None] = relationship(foreign_keys=[expert_id])
    contacts: Mapped[list[ContactAttempt]] = relationship(
        back_populates="ticket", order_by="ContactAttempt.at"
    )
    remote_sessions: Mapped[list[RemoteSession]] = relationship(
        back_populates="ticket", order_by="RemoteSession.started_at"
    )
    visits: Mapped[list[Visit]] = relationship(back_populates="ticket", order_by="Visit.scheduled_at")
    notes: Mapped[list[ProgressNote]] = relationship(
        back_populates="ticket", order_by="ProgressNote.written_at"
    )
    photos: Mapped[list[Photo]] = relationship(back_populates="ticket", order_by="Photo.taken_at")
    tests: Mapped[list[AcceptanceTest]] = relationship(
        back_populates="ticket", order_by="AcceptanceTest.position"
    )
    precautions: Mapped[list[Precaution]] = relationship(
        back_populates="ticket", order_by="Precaution.position"
    )
    signature: Mapped[Signature | None] = relationship(back_populates="ticket")
    service_order: Mapped[ServiceOrder | None] = relationship(back_populates="ticket")
    reviews: Mapped[list[Review]] = relationship(back_populates="ticket", order_by="Review.created_at")
    case_analysis: Mapped[CaseAnalysis | None] = relationship(back_populates="ticket")
    clocks: Mapped[list[TicketClock]] = relationship(back_populates="ticket", order_by="TicketClock.started_at")

    @property
    def is_locked(self) -> bool:
        """A signed order: what the customer signed can no longer change."""
        return self.signature is not None

    @property
    def current_visit(self) -> Visit | None:
        """The visit the request is at: the latest one not called off (a cancelled request calls off the visit
        it had not finished) nor ended for another visit to follow. A rescheduled visit is the same visit with a
        new time, not a new one."""
        return next((v for v in reversed(self.visits) if v.cancelled_at is None and v.ended_at is None), None)

    @property
    def earlier_visits(self) -> list[Visit]:
        """The visits that ended for another one to follow (their work stays on the request)."""
        return [v for v in self.visits if v.ended_at is not None]


def _constant(value: str | int):
    # Written into the SQL, not bound: the database matches an ORDER BY to an index's expressions only when the
    # constants are the same constants.
    return literal_column(f"'{value}'" if isinstance(value, str) else str(value))


# The supervisor board's order (domain/requests/board.py): unassigned first, urgent before normal, the nearest
# deadline first (none last), then the newest. Declared beside the index that serves it: a board page reads its
# rows from this index in order and stops after the page, instead of sorting every request.
TICKET_BOARD_ORDER = (
    case((Ticket.status == _constant(TicketStatus.NEW.value), _constant(0)), else_=_constant(1)),
    case((Ticket.urgency == _constant(Urgency.URGENT.value), _constant(0)), else_=_constant(1)),
    case((Ticket.next_due_at.is_(None), _constant(1)), else_=_constant(0)),
    Ticket.next_due_at,
    Ticket.created_at.desc(),
    Ticket.id.desc(),
)
# PostgreSQL wants each expression of an index in parentheses (a Grouping). The columns the expressions and the
# usual filters read are included: PostgreSQL then answers from the index alone (an index-only scan), without
# visiting each request's row on the way to page 100.
Index("ix_tickets_board_order", *(Grouping(key) if isinstance(key, Case) else key for key in TICKET_BOARD_ORDER),
      postgresql_include=["status", "urgency", "assignee_id"])


# Each technician's open requests (the board's load column: whom to give the next one to), read from this index
# alone (status included: PostgreSQL reads only the index when it holds every column the query names). The states
# are workflow.OPEN_STATES (tests/test_board_indexes.py checks they agree).
TICKET_OPEN_STATES_SQL = ("new", "assigned", "contacted", "visit_scheduled", "on_site")
_open = Ticket.status.in_([_constant(state) for state in TICKET_OPEN_STATES_SQL])
Index("ix_tickets_open_by_assignee", Ticket.assignee_id, Ticket.urgency, Ticket.status, postgresql_where=_open,
      sqlite_where=_open)


def _trigram_index(name: str, column) -> Index:
    """A trigram index (PostgreSQL's pg_trgm, GIN) serving `ILIKE '%...%'` on the column; nothing on SQLite.
    The operator class is named with its schema: the extension lives in `public`, and a database whose
    search_path leaves it out (the tests' private schemas) still finds it."""
    return Index(name, column, postgresql_using="gin",
                 postgresql_ops={column.name: "public.gin_trgm_ops"}).ddl_if(dialect="postgresql")


# The board's search: a substring of the number, the customer's name, the device, the phone or the serial.
_trigram_index("ix_tickets_number_trgm", Ticket.number)
_trigram_index("ix_tickets_device_model_text_trgm", Ticket.device_model_text)
_trigram_index("ix_tickets_contact_phone_trgm", Ticket.contact_phone)
_trigram_index("ix_tickets_serial_number_trgm", Ticket.serial_number)
_trigram_index("ix_customers_name_trgm", Customer.name)
# The trigram operator classes come with the extension (the migration creates it too). Two schemas built at once in a
# database without it (the tests' workers on a new server) would both create it and one fail on the catalog's unique
# name: a lock held to the end of the transaction makes the second wait, then find it there.
event.listen(Base.metadata, "before_create",
             DDL("SELECT pg_advisory_xact_lock(hashtext('create extension pg_trgm'))").execute_if(dialect="postgresql"))
event.listen(Base.metadata, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public").execute_if(dialect="postgresql"))


class ContactAttempt(Base):
    """The technician reaching (or trying to reach) the customer; the first success ends the contact clock."""

    __tablename__ = "contact_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    method: Mapped[ContactMethod] = mapped_column(enum_type(ContactMethod))
    reached: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="contacts")
    user: Mapped[User] = relationship()


class RemoteSession(Base):
    """Remote guidance: by phone or screen sharing, step by step."""

    __tablename__ = "remote_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    method: Mapped[ContactMethod] = mapped_column(enum_type(ContactMethod))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[RemoteOutcome] = mapped_column(enum_type(RemoteOutcome))
    steps: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship(back_populates="remote_sessions")
    technician: Mapped[User] = relationship()


class ProgressNote(Base):
    """A progress note; its id is the uuid the phone made, so a replay cannot create a second one."""

    __tablename__ = "progress_notes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    shown_to_customer: Mapped[bool] = mapped_column(default=False)
    written_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="notes")
    author: Mapped[User] = relationship()
