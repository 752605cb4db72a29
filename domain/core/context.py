"""Who acts, from where and when: the context every domain action receives, and the checks on it that every
feature shares (is the actor the request's assignee, is a time the phone sent plausible)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from . import validation
from .errors import Forbidden, ValidationError
from .models import User
from .site import Site
from .types import utcnow

if TYPE_CHECKING:  # the core names them; the packages above it define them (one-way imports: docs/design.md)
    from ..requests.models import Ticket
    from ..sla.policy import Policy

# How a Context built without a policy gets the one in force: installed by domain/sla/policy.py (the core sits below
# the package that owns the policy and imports nothing from it).
_policy_provider: Callable[[], Policy] | None = None


def provide_policy(provider: Callable[[], Policy]) -> None:
    global _policy_provider
    _policy_provider = provider

# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=2)
# A phone's time this close outside its server-set bounds (the request's entry, the arrival, now) is a clock
# error, not a false act: it is moved onto the bound and both times are kept (SyncOp.client_at, applied_at).
CLOCK_TOLERANCE = timedelta(minutes=10)
MAX_TEXT = 5000
# What a time may not precede, as checked_time's messages name it.
AFTER_CONTACT = _l("the first contact with the customer")
AFTER_SCHEDULING = _l("the visit was scheduled")
AFTER_ARRIVAL = _l("your arrival on site")


@dataclass
class Context:
    """Who acts, from where, at what time, under which policy."""

    actor: User
    tz: ZoneInfo
    now: datetime = field(default_factory=utcnow)
    via: str = "web"
    remote_addr: str | None = None
    policy: Policy | None = None
    # This deployment's settings (company, PUBLIC_URL, ...) for the documents an action makes; see site.py.
    site: Site | None = None
    # Times moved onto their bounds by checked_time: (field, time given, time used), for the op's record.
    adjusted: list[tuple[str, datetime, datetime]] = field(default_factory=list)

    def rules(self) -> Policy:
        if self.policy is None:
            if _policy_provider is None:
                raise RuntimeError("no policy provider: import domain (domain/sla/policy.py installs it)")
            self.policy = _policy_provider()
        return self.policy

    def settings(self) -> Site:
        if self.site is None:
            from . import site

            self.site = site.current()
        return self.site


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


def checked_time(at: datetime | None, ctx: Context, field_name: str, *, not_before: datetime | None = None,
                 after=None) -> datetime:
    """A time the user or the phone gave for an act, within its bounds: not after now, not before `not_before`
    (`after` says what that bound is, for the message). Within CLOCK_TOLERANCE outside a bound it is moved onto
    the bound (a phone clock a few minutes off never loses work); further out it is refused."""
    given = at or ctx.now
    used = given
    if given > ctx.now:
        if given > ctx.now + CLOCK_TOLERANCE:
            raise ValidationError({field_name: _l("This time is in the future.")})
        used = ctx.now
    if not_before is not None and used < not_before:
        if not_before - used > CLOCK_TOLERANCE:
            raise ValidationError({field_name: _l("This time is before %(event)s.",
                                                  event=after or _l("the request was entered"))})
        used = not_before
    if used != given and at is not None:
        ctx.adjusted.append((field_name, given, used))
    return used
