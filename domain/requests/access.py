"""Who may see a request and touch it, and finding one by its number."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..core.context import (
    is_assignee,
)
from ..core.db import db
from ..core.enums import (
    Role,
)
from ..core.errors import Forbidden, NotFound
from ..core.models import User
from ..requests.models import Ticket


def can_view(user: User, ticket: Ticket) -> bool:
    if user.has_role(Role.SUPERVISOR, Role.DISPATCHER):
        return True
    if user.role == Role.EXPERT:
        return ticket.expert is not None and ticket.expert.id == user.id
    if user.role == Role.TECHNICIAN:
        return is_assignee(user, ticket)
    return False


def can_download_order(user: User, ticket: Ticket) -> bool:
    """Supervisors and experts any service order; a technician the orders of requests assigned to them."""
    if user.has_role(Role.SUPERVISOR, Role.EXPERT):
        return True
    return user.role == Role.TECHNICIAN and is_assignee(user, ticket)


def get_ticket(number: str, user: User | None = None) -> Ticket:
    ticket = db.session.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()
    if ticket is None:
        raise NotFound("no_request", _l("There is no request %(number)s.", number=number))
    if user is not None and not can_view(user, ticket):
        raise Forbidden("not_allowed", _l("You may not see request %(number)s.", number=number))
    return ticket
