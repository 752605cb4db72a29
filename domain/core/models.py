"""The whole data model of the service process (SQLAlchemy 2.0 typed models).

Binary content lives in `Blob`, addressed by SHA-256, so one database backup holds
every photo, signature and PDF together with the records that point at them.
Every datetime is stored in UTC (see `types.UTCDateTime`).
"""
from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    DDL,
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    event,
    false,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import Case, Grouping
from werkzeug.security import check_password_hash, generate_password_hash

from .db import Base
from .enums import (
    AnalysisTrigger,
    ArticleStatus,
    Channel,
    ClockName,
    ContactMethod,
    OpStatus,
    PrepKind,
    RemoteOutcome,
    RenderState,
    Resolution,
    ReviewDecision,
    Role,
    TicketStatus,
    Urgency,
)
from .types import utcnow


def enum_type(enum_cls: type[StrEnum]) -> Enum:
    """A portable enum column: a VARCHAR holding the value, no database enum type to migrate."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def new_login_token() -> str:
    return secrets.token_urlsafe(16)


# --- people -------------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    # A supervisor may also administer accounts without a second login.
    is_admin: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(40))
    # Where e-mail alerts go; the kinds of alert the user wants by push and by e-mail (None: the defaults).
    email: Mapped[str | None] = mapped_column(String(254))
    alert_channels: Mapped[dict[str, Any] | None] = mapped_column()
    # Part of the Flask-Login id: rotating it signs the user out everywhere (reset, deactivation).
    login_token: Mapped[str] = mapped_column(String(32), default=new_login_token)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.login_token = new_login_token()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def has_role(self, *roles: Role) -> bool:
        if self.role in roles:
            return True
        return Role.ADMIN in roles and self.is_admin

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    # The sign-in this request runs under (set by accounts.start_session or when a cookie is loaded).
    session_token = None  # not mapped: a plain attribute of the loaded object

    def get_id(self) -> str:
        # "<pk>:<login token>:<sign-in token>": the session cookie and the remember-me cookie both carry it, so
        # ending one sign-in (logout) revokes both, and rotating the login token ends every sign-in.
        return f"{self.id}:{self.login_token}:{self.session_token or ''}"

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class LoginSession(Base):
    """One sign-in: its session cookie and its remember-me cookie stay valid only while this row is not revoked."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True, default=new_login_token)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token for other systems (website form, phone system) that file requests."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


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
    problem: Mapped[str] = mapped_column(Text)

    reported_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime | None]
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    escalated_at: Mapped[datetime | None]
    escalation_reason: Mapped[str | None] = mapped_column(Text)

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
        it had not finished). A rescheduled visit is the same visit with a new time, not a new one."""
        return next((v for v in reversed(self.visits) if v.cancelled_at is None), None)


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
# The trigram operator classes come with the extension (the migration creates it too).
event.listen(Base.metadata, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public").execute_if(dialect="postgresql"))


class TicketClock(Base):
    """One deadline of the policy for one request: started, due, and done (or not applicable)."""

    __tablename__ = "ticket_clocks"
    __table_args__ = (
        # One current clock per rule; superseded ones (a missed preparation before the visit moved) stay on record.
        Index("uq_ticket_clocks_current", "ticket_id", "name", unique=True,
              postgresql_where=text("superseded_at IS NULL"), sqlite_where=text("superseded_at IS NULL")),
        Index("ix_ticket_clocks_name_started", "name", "started_at"),
        # The weekly report counts each clock in the week its deadline falls in.
        Index("ix_ticket_clocks_due_at", "due_at"),
        # A page of requests loads their clocks (all of them, superseded ones too: the partial index above
        # cannot serve that).
        Index("ix_ticket_clocks_ticket_id", "ticket_id"),
        # The deadline scan also reads the clocks written since its last run (a deadline already near or past).
        Index("ix_ticket_clocks_written_at", "written_at"),
        Index("ix_ticket_clocks_name_due", "name", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    name: Mapped[ClockName] = mapped_column(enum_type(ClockName))
    started_at: Mapped[datetime]
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    not_applicable: Mapped[bool] = mapped_column(default=False)
    # The policy's threshold when the clock started (minutes, or working days for a case analysis): a later change
    # of the policy moves neither its deadline nor the threshold it is shown with.
    threshold: Mapped[int | None]
    # Counted Monday to Friday over a year the holiday calendar does not know (and no admin entries): said so.
    calendar_fallback: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Replaced by a new clock for the same rule (the visit moved after this one's deadline had passed).
    superseded_at: Mapped[datetime | None]
    # When the row was last written (server time): the minute scan reads the clocks written since its last run,
    # whose deadline (or warning) may already lie behind its watermark (a request entered late, a restart).
    written_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="clocks")


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


class Visit(Base):
    """An on-site visit agreed with the customer, from preparation to departure."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scheduled_at: Mapped[datetime]
    address: Mapped[str] = mapped_column(String(500))
    agreed_with: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prep_confirmed_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    problem_confirmed_at: Mapped[datetime | None]
    confirmed_problem: Mapped[str | None] = mapped_column(Text)
    customer_confirmed_at: Mapped[datetime | None]
    customer_confirmation: Mapped[str | None] = mapped_column(Text)
    work_recorded_at: Mapped[datetime | None]  # when the cause and the work done were (last) written on site
    precautions_told_at: Mapped[datetime | None]
    departed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    ticket: Mapped[Ticket] = relationship(back_populates="visits")
    technician: Mapped[User] = relationship()
    prep_items: Mapped[list[PrepItem]] = relationship(
        back_populates="visit", order_by="PrepItem.position", cascade="all, delete-orphan"
    )


class PrepItem(Base):
    """One line of the preparation checklist: address, device state, a tool or a spare part."""

    __tablename__ = "prep_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    kind: Mapped[PrepKind] = mapped_column(enum_type(PrepKind))
    label: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    checked: Mapped[bool] = mapped_column(default=False)
    checked_at: Mapped[datetime | None]

    visit: Mapped[Visit] = relationship(back_populates="prep_items")


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


class Blob(Base):
    """Content-addressed binary content: photos, thumbnails, signatures, PDFs."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    note_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("progress_notes.id"))
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    thumb_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    width: Mapped[int]
    height: Mapped[int]
    caption: Mapped[str | None] = mapped_column(String(500))
    taken_at: Mapped[datetime]
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="photos")


class AcceptanceTest(Base):
    """One item of the customer acceptance test, passed or failed."""

    __tablename__ = "acceptance_tests"
    __table_args__ = (UniqueConstraint("ticket_id", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    item: Mapped[str] = mapped_column(String(200))
    passed: Mapped[bool]
    note: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    recorded_at: Mapped[datetime]
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    ticket: Mapped[Ticket] = relationship(back_populates="tests")


class Precaution(Base):
    """What the customer was told to watch out for from now on."""

    __tablename__ = "precautions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    told_at: Mapped[datetime]

    ticket: Mapped[Ticket] = relationship(back_populates="precautions")


class Signature(Base):
    """The customer's sign-off; its existence locks the order."""

    __tablename__ = "signatures"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        # The weekly report's satisfaction: ratings of the orders signed in a week.
        Index("ix_signatures_signed_at_client", "signed_at_client"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    signer_name: Mapped[str] = mapped_column(String(100))
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    png_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    strokes: Mapped[list[Any]] = mapped_column(default=list)
    signed_at_client: Mapped[datetime]
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    device_id: Mapped[str] = mapped_column(String(64))
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    op_id: Mapped[uuid.UUID | None]

    ticket: Mapped[Ticket] = relationship(back_populates="signature")


class ServiceOrder(Base):
    """The rendered service order: its canonical content, the content hash and the PDF blob."""

    __tablename__ = "service_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    kind: Mapped[Resolution] = mapped_column(enum_type(Resolution))
    locale: Mapped[str] = mapped_column(String(10))
    content_json: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    pdf_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    render_state: Mapped[RenderState] = mapped_column(enum_type(RenderState), default=RenderState.PENDING)
    render_attempts: Mapped[int] = mapped_column(default=0)
    render_error: Mapped[str | None] = mapped_column(Text)
    rendered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Part of every customer link (/o/...): raising it revokes the links given so far.
    share_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    ticket: Mapped[Ticket] = relationship(back_populates="service_order")


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[ReviewDecision] = mapped_column(enum_type(ReviewDecision))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()


# --- knowledge base ---------------------------------------------------------------------------

article_sources = Table(
    "kb_article_sources",
    Base.metadata,
    Column("article_id", ForeignKey("kb_articles.id"), primary_key=True),
    Column("ticket_id", ForeignKey("tickets.id"), primary_key=True),
)


class KbArticle(Base):
    """An article of the FAQ manual 《常见问题解决方案手册》."""

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    device_category_id: Mapped[int | None] = mapped_column(ForeignKey("device_categories.id"))
    device_model_id: Mapped[int | None] = mapped_column(ForeignKey("device_models.id"))
    fault_category_id: Mapped[int | None] = mapped_column(ForeignKey("fault_categories.id"))
    symptoms: Mapped[str] = mapped_column(Text)
    solution: Mapped[str] = mapped_column(Text)
    precautions: Mapped[str | None] = mapped_column(Text)
    # Every searchable text of the article (with its model's and fault type's names), lower-cased: search scans
    # one column instead of joining and lower-casing eight for every row (domain/kb.py keeps it current).
    search_text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ArticleStatus] = mapped_column(enum_type(ArticleStatus), default=ArticleStatus.DRAFT)
    revision: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None]

    device_category: Mapped[DeviceCategory | None] = relationship()
    device_model: Mapped[DeviceModel | None] = relationship()
    fault_category: Mapped[FaultCategory | None] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    sources: Mapped[list[Ticket]] = relationship(secondary=article_sources)


class CaseAnalysis(Base):
    """Due within 3 working days for a first-seen fault type or a complex problem."""

    __tablename__ = "case_analyses"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    fault_category_id: Mapped[int | None] = mapped_column(ForeignKey("fault_categories.id"))
    trigger: Mapped[AnalysisTrigger] = mapped_column(enum_type(AnalysisTrigger))
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime]
    summary: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    fix: Mapped[str | None] = mapped_column(Text)
    prevention: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None]
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id"))

    ticket: Mapped[Ticket] = relationship(back_populates="case_analysis")
    article: Mapped[KbArticle | None] = relationship()


# --- sync, audit, policy --------------------------------------------------------------------


class SyncOp(Base):
    """Every op a phone sent, applied or rejected, with its raw body: nothing sent is ever dropped."""

    __tablename__ = "sync_ops"

    id: Mapped[int] = mapped_column(primary_key=True)
    op_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    ticket_number: Mapped[str | None] = mapped_column(String(40))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    client_at: Mapped[datetime | None]
    client_at_raw: Mapped[str | None] = mapped_column(String(64))
    # The phone's raw clock at the act (`at` is corrected by the phone's estimated offset to the server).
    device_at: Mapped[datetime | None]
    # The time the act was recorded at, when the server moved `at` onto a bound (a clock a few minutes off).
    applied_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    body: Mapped[str] = mapped_column(Text)
    body_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[OpStatus] = mapped_column(enum_type(OpStatus))
    code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    replays: Mapped[int] = mapped_column(default=0)
    last_replayed_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Who did what, when, from where: every state change is attributable."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str | None] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    via: Mapped[str] = mapped_column(String(16), default="web")
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    actor: Mapped[User | None] = relationship()


class PolicySetting(Base):
    """An override of one policy threshold; the defaults live in policy.py."""

    __tablename__ = "policy_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CalendarOverride(Base):
    """A date the holiday calendar does not know, marked as working day or holiday by an admin."""

    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(primary_key=True)
    is_workday: Mapped[bool]
    note: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- alerts, mail, background work ----------------------------------------------------------


class Notification(Base):
    """One alert to one person: the in-app inbox row, and the record that it was pushed and mailed.
    `key` is the idempotency key (kind, request, clock, deadline): an alert is created at most once per user and
    key, whatever the number of scans, workers or restarts."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_notifications_user_read", "user_id", "read_at"),
        Index("ix_notifications_pending_delivery", "delivered_at"),
        # The deadline scan skips the deadlines already alerted with one index probe each.
        Index("ix_notifications_clock_alert", "ticket_id", "kind", "clock", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(160))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # A deadline alert's clock and deadline (the scan's anti-join reads them).
    clock: Mapped[str | None] = mapped_column(String(24))
    due_at: Mapped[datetime | None]
    # What the text is made from (clock name, deadline, week...): titles are written in the reader's language.
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    # Set once the push and e-mail channels were handled (sent, queued, or not wanted).
    delivered_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
    ticket: Mapped[Ticket | None] = relationship()


class PushSubscription(Base):
    """A browser's Web Push subscription (RFC 8030): where to post, and the keys to encrypt for (RFC 8291)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_at: Mapped[datetime | None]


class OutboxMail(Base):
    """An e-mail waiting to go out, sent, or failing: kept until sent, retried with backoff, never lost."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # [{"filename", "sha256", "media_type"}]: the files themselves are blobs.
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sent | logged
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class StoredReport(Base):
    """A week's report as delivered on Monday: the PDF and CSV kept, and when it was mailed."""

    __tablename__ = "stored_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(10), unique=True)  # ISO week, "2026-W47"
    pdf_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    csv_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExportJob(Base):
    """A ZIP of service orders built by the worker; the page polls its progress."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    zip_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class ScanMark(Base):
    """The watermark of a periodic scan: the time its last run completed. The minute's deadline scan reads only
    what came due since then (and the clocks written since), so its work follows what is new, not what is open."""

    __tablename__ = "scan_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    scanned_until: Mapped[datetime]



class ManualJob(Base):
    """The FAQ manual as PDF, built by the worker for one selection (a kind of device, or all, in one language);
    the page polls its state, and a second request for the same selection while it is pending joins it."""

    __tablename__ = "manual_jobs"
    __table_args__ = (Index("ix_manual_jobs_selection", "locale", "device_category_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    device_category_id: Mapped[int | None] = mapped_column(ForeignKey("device_categories.id"))
    locale: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    articles: Mapped[int] = mapped_column(default=0)
    pdf_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    device_category: Mapped[DeviceCategory | None] = relationship()
