"""Who acts, from where and when: the context every domain action receives, and the checks on it that every
feature shares (is the actor the request's assignee, is a time the phone sent plausible)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from ..sla.policy import Policy, current_policy
from . import validation
from .errors import Forbidden, ValidationError
from .models import Ticket, User
from .types import utcnow

# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=2)
MAX_TEXT = 5000


@dataclass
class Context:
    """Who acts, from where, at what time, under which policy."""

    actor: User
    tz: ZoneInfo
    now: datetime = field(default_factory=utcnow)
    via: str = "web"
    remote_addr: str | None = None
    policy: Policy | None = None

    def rules(self) -> Policy:
        if self.policy is None:
            self.policy = current_policy()
        return self.policy


def is_assignee(user: User, ticket: Ticket) -> bool:
    # Compare through the relationship: the foreign key is only set at the next flush.
    return ticket.assignee is not None and ticket.assignee.id == user.id


def require_assignee(ctx: Context, ticket: Ticket) -> None:
    if not is_assignee(ctx.actor, ticket):
        raise Forbidden("not_assignee", _l("Request %(number)s is not assigned to you.", number=ticket.number))


def parse_client_time(value: Any, tz: ZoneInfo) -> datetime | None:
    """An ISO 8601 time; without an offset it is taken as the company's local time."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed if validation.time_in_range(parsed) else None  # year 1 or 9999 overflows once shifted


def checked_time(at: datetime | None, ctx: Context, field_name: str, *, not_before: datetime | None = None) -> datetime:
    at = at or ctx.now
    if at > ctx.now + CLOCK_SKEW:
        raise ValidationError({field_name: _l("This time is in the future.")})
    if not_before is not None and at < not_before:
        raise ValidationError({field_name: _l("This time is before the request was entered.")})
    return min(at, ctx.now)
