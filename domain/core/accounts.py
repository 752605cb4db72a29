"""User accounts: creation, sign-in checks, deactivation and password resets."""
from __future__ import annotations

import re
import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select, update

from . import models
from .audit import record_event
from .db import db
from .enums import Role
from .errors import Conflict, DomainError, NotFound
from .locales import SUPPORTED_LOCALES
from .models import LoginSession, User, new_login_token
from .types import utcnow

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 8


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def validate_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise DomainError(
            "weak_password",
            _l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
        )


def find_user(username: str) -> User | None:
    name = normalise_username(username)
    return db.session.execute(select(User).where(func.lower(User.username) == name)).scalar_one_or_none()


def create_user(
    username: str,
    password: str,
    role: Role | str,
    *,
    display_name: str | None = None,
    is_admin: bool = False,
    phone: str | None = None,
    actor: User | None = None,
    via: str = "web",
) -> User:
    name = normalise_username(username)
    if not USERNAME_RE.match(name):
        raise DomainError(
            "bad_username",
            _l("A username has 2 to 64 characters: lower-case letters, digits, dot, dash, underscore."),
        )
    try:
        role = Role(role)
    except ValueError:
        raise DomainError("bad_role", _l("Unknown role: %(role)s", role=role)) from None
    validate_password(password)
    if find_user(name) is not None:
        raise Conflict("username_taken", _l("The username %(name)s is already taken.", name=name))
    user = User(
        username=name,
        display_name=(display_name or "").strip() or name,
        role=role,
        is_admin=is_admin or role == Role.ADMIN,
        phone=phone,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record_event("user.created", actor=actor, entity=user, via=via, username=name, role=role.value)
    return user


_dummy_hash: str | None = None


def _check_dummy_password(password: str) -> None:
    """Hash the password against a dummy hash made the same way as real ones: an unknown username then takes as
    long to refuse as a wrong password (usernames cannot be found by timing)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = models.generate_password_hash(secrets.token_hex(16))
    models.check_password_hash(_dummy_hash, password)


def authenticate(username: str, password: str) -> User:
    """The user, or a DomainError saying why not (the same message for unknown user and bad password)."""
    user = find_user(username)
    if user is None:
        _check_dummy_password(password or "")
        raise DomainError("bad_credentials", _l("Wrong username or password."))
    if not user.check_password(password or ""):
        raise DomainError("bad_credentials", _l("Wrong username or password."))
    if not user.active:
        raise DomainError(
            "inactive", _l("This account has been deactivated. Ask your supervisor or the administrator.")
        )
    user.last_login_at = utcnow()
    return user


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no_user", _l("No such user."))
    return user


def set_active(user: User, active: bool, *, actor: User) -> None:
    if user.id == actor.id and not active:
        raise DomainError("self_deactivate", _l("You cannot deactivate your own account."))
    if user.active == active:
        return
    user.active = active
    if not active:
        # Ends every session and remember-me cookie of that user.
        user.login_token = new_login_token()
    record_event("user.activated" if active else "user.deactivated", actor=actor, entity=user)


def reset_password(user: User, password: str, *, actor: User | None, via: str = "web") -> None:
    validate_password(password)
    user.set_password(password)
    record_event("user.password_reset", actor=actor, entity=user, via=via)


def update_user(user: User, *, display_name: str, role: Role | str, is_admin: bool, phone: str | None,
                actor: User) -> None:
    role = Role(role)
    if user.id == actor.id and not (role == Role.ADMIN or is_admin):
        raise DomainError("self_demote", _l("You cannot remove your own administrator rights."))
    old = user.role.value
    user.display_name = display_name.strip() or user.username
    user.role = role
    user.is_admin = is_admin or role == Role.ADMIN
    user.phone = phone or None
    record_event("user.updated", actor=actor, entity=user, from_state=old, to_state=role.value)


def set_locale(user: User, locale: str) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise DomainError("bad_locale", _l("Unsupported language."))
    user.locale = locale


def create_api_token(name: str, user: User, *, actor: User | None = None, via: str = "cli") -> tuple[str, object]:
    """A bearer token for another system acting as `user`; the plain token is shown once, only its hash is kept."""
    import hashlib
    import secrets

    from .models import ApiToken

    plain = "fs_" + secrets.token_urlsafe(32)
    token = ApiToken(name=name.strip()[:100] or "token", user=user,
                     token_sha256=hashlib.sha256(plain.encode()).hexdigest())
    db.session.add(token)
    record_event("api_token.created", actor=actor, entity=user, via=via, name=token.name)
    return plain, token


def user_for_api_token(plain: str) -> User | None:
    import hashlib

    from .models import ApiToken

    digest = hashlib.sha256(plain.encode()).hexdigest()
    token = db.session.execute(select(ApiToken).where(ApiToken.token_sha256 == digest,
                                                      ApiToken.revoked_at.is_(None))).scalar_one_or_none()
    if token is None or not token.user.active:
        return None
    token.last_used_at = utcnow()
    return token.user


# --- sign-ins ------------------------------------------------------------------------------------------------


def start_session(user: User, remote_addr: str | None = None) -> LoginSession:
    """A new sign-in: its token goes into the session and remember-me cookies (through user.get_id())."""
    login = LoginSession(user_id=user.id, remote_addr=(remote_addr or "")[:64] or None)
    db.session.add(login)
    db.session.flush()
    user.session_token = login.token
    return login


# The user alone, its sign-in checked by the query; built once (every request asks, and building it cost a third
# of an empty request's time).
_SESSION_USER = (select(User).join(LoginSession, LoginSession.user_id == User.id)
                 .where(User.id == bindparam("user_id"), LoginSession.token == bindparam("token"),
                        LoginSession.revoked_at.is_(None)))


def session_user(user_id: int, login_token: str, session_token: str) -> User | None:
    """The user of a cookie, while its sign-in is not revoked and its login token not rotated."""
    user = db.session.execute(_SESSION_USER, {"user_id": user_id, "token": session_token}).scalar_one_or_none()
    if user is None or user.login_token != login_token or not user.active:
        return None
    user.session_token = session_token
    return user


def end_session(user: User) -> None:
    """Logout: this sign-in's session and remember-me cookies stop working everywhere, now."""
    if user.session_token:
        db.session.execute(update(LoginSession).where(LoginSession.token == user.session_token,
                                                      LoginSession.revoked_at.is_(None))
                           .values(revoked_at=utcnow()))
