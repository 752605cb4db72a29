"""Accounts, sign-in sessions, API tokens, stored blobs and the audit trail (SQLAlchemy 2.0 typed models).

Binary content lives in `Blob`, addressed by SHA-256, so one database backup holds every photo, signature and
PDF together with the records that point at them. Every datetime is stored in UTC (see `types.UTCDateTime`).
Each package keeps its own models beside its rules; `domain/__init__.py` imports them all, so that every
relationship finds its class whatever was imported first.
"""
from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Enum,
    ForeignKey,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .db import Base
from .enums import (
    Role,
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


class Blob(Base):
    """Content-addressed binary content: photos, thumbnails, signatures, PDFs."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
