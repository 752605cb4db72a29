"""The customer's tracking link (/c/<token>): signed, it names the request and the request's tracking generation;
it expires with the share-link rules (SHARE_LINK_DAYS) and raising the generation revokes every link given."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from ..core.audit import record_event
from ..core.db import db
from ..core.enums import Resolution, TicketStatus
from ..core.site import Site
from ..requests import links
from ..requests.models import Ticket
from ..requests.workflow import CLOSED


def _serializer(site: Site) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(site.secret_key, salt="request-track")


def tracking_token(ticket: Ticket, site: Site) -> str:
    return _serializer(site).dumps({"n": ticket.number, "g": ticket.tracking_generation or 0})


def tracking_path(ticket: Ticket, site: Site) -> str:
    return "/c/" + tracking_token(ticket, site)


def tracking_url(ticket: Ticket, site: Site) -> str:
    """The link a message to the customer (SMS, e-mail) carries."""
    return site.link(tracking_path(ticket, site))


def ticket_for_token(token: str, site: Site, now: datetime) -> Ticket | None:
    """The request a tracking link names, or None when the link is forged, expired or revoked (the page says the
    same for all three)."""
    if not token or len(token) > 300:
        return None
    if "." not in token:  # the short form an SMS carries (requests/links.py); a signed token always has dots
        return _ticket_for_code(token, site, now)
    try:
        data, signed_at = _serializer(site).loads(token, return_timestamp=True)
    except (BadSignature, UnicodeError, ValueError):
        return None
    if (now - signed_at).total_seconds() > site.share_link_days * 86400:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str) or not isinstance(data.get("g"), int):
        return None
    ticket = db.session.execute(select(Ticket).where(Ticket.number == data["n"])).scalar_one_or_none()
    if ticket is None or data["g"] != (ticket.tracking_generation or 0):
        return None
    return ticket


def _ticket_for_code(code: str, site: Site, now: datetime) -> Ticket | None:
    """A short code has no date of its own: it works while the request is open and SHARE_LINK_DAYS after it
    closed (a signed token's days run from when it was given)."""
    ticket = links.ticket_for_code(code)
    if ticket is None:
        return None
    ended = ticket.closed_at or ticket.cancelled_at
    if ended is not None and (now - ended).total_seconds() > site.share_link_days * 86400:
        return None
    return ticket


def revoke_tracking_links(ticket: Ticket, ctx) -> None:
    """Every tracking link given so far stops working (the signed tokens and the short code); the request's next
    link is a new one."""
    ticket.tracking_generation = (ticket.tracking_generation or 0) + 1
    links.forget_code(ticket)
    record_event("ticket.tracking_links_revoked", actor=ctx.actor, ticket=ticket, entity=ticket, via=ctx.via,
                 remote_addr=ctx.remote_addr, generation=ticket.tracking_generation)


# --- what the customer sees -----------------------------------------------------------------------------------

SERVICE_OVER = {TicketStatus.REMOTE_RESOLVED, TicketStatus.SIGNED, TicketStatus.SUBMITTED, TicketStatus.APPROVED,
                TicketStatus.RETURNED}


@dataclass
class Step:
    at: datetime
    text: str


# A customer rates the service once it is over for them, and also when it was closed without their signature:
# absent or refusing, theirs is the voice the review most needs.
RATEABLE = SERVICE_OVER | {TicketStatus.CLOSED_UNSIGNED}


def service_over(ticket: Ticket) -> bool:
    """The service is over for the customer: signed on site, or solved remotely (a review after it is internal)."""
    return ticket.status in SERVICE_OVER


def handed_back(ticket: Ticket) -> bool:
    """The technician gave the job back (ill, stuck) and it waits to be reassigned."""
    return ticket.handed_back_at is not None and ticket.status not in CLOSED


def technician_shown(ticket: Ticket) -> str | None:
    """The technician the page names: nobody while the request is being passed to another one."""
    return ticket.assignee.display_name if ticket.assignee and not handed_back(ticket) else None


def state_words(ticket: Ticket, tz=None) -> str:
    """Where the request stands, in plain words for the customer. The exception paths (the service order not
    signed, another visit needed, the job being passed to another technician, closed without the signature) say
    so honestly, never with internal data: no technician's reason, no supervisor, no deadline."""
    from ..fieldwork.unsigned import pending_decision
    from ..requests.visits import awaiting_next_visit

    name = ticket.assignee.display_name if ticket.assignee else ""
    visit = ticket.current_visit
    status = ticket.status
    if status == TicketStatus.CLOSED_UNSIGNED:
        return str(_l("Closed without your signature: the work on site was done, but the service order was not "
                      "signed. If anything is still wrong, please call customer service."))
    if status == TicketStatus.CANCELLED:
        return str(_l("This request was closed."))
    if service_over(ticket):
        if ticket.resolution == Resolution.REMOTE or status == TicketStatus.REMOTE_RESOLVED:
            return str(_l("Solved remotely. Thank you for your patience."))
        return str(_l("Done: the repair is finished and you signed the service order."))
    if handed_back(ticket):
        return str(_l("Your request is being passed to another technician: we will contact you shortly."))
    if status == TicketStatus.ON_SITE and pending_decision(ticket) is not None:
        return str(_l("The service order could not be signed: we are deciding the next step and will contact "
                      "you."))
    if awaiting_next_visit(ticket) is not None:
        return str(_l("Another visit is needed: we will agree a time with you."))
    if status == TicketStatus.VISIT_SCHEDULED and visit is not None and ticket.earlier_visits \
            and visit.on_the_way_at is None:
        return str(_l("Another visit is agreed: %(name)s comes at the agreed time.", name=name))
    if status == TicketStatus.ON_SITE:
        return str(_l("%(name)s is on site with you.", name=name))
    if status == TicketStatus.VISIT_SCHEDULED and visit is not None and visit.on_the_way_at is not None \
            and visit.expected_arrival_at is not None:
        from ..alerts.customer import arrival_words

        when = arrival_words(visit.expected_arrival_at, visit.on_the_way_at, tz) if tz is not None else \
            visit.expected_arrival_at.strftime("%H:%M")
        return str(_l("%(name)s is on the way, arriving about %(time)s.", name=name, time=when))
    if status == TicketStatus.VISIT_SCHEDULED and visit is not None:
        return str(_l("A visit is agreed: %(name)s comes at the agreed time.", name=name))
    if status == TicketStatus.CONTACTED:
        return str(_l("%(name)s is working on it with you.", name=name))
    if status == TicketStatus.ASSIGNED:
        return str(_l("%(name)s, technical support, will contact you shortly.", name=name))
    return str(_l("Received: customer service is passing it to a technician."))


def timeline(ticket: Ticket, tz) -> list[Step]:
    """The customer's timeline: what happened to their request, in plain words; nothing internal (no notes, no
    clocks, no review)."""
    from ..core.types import in_zone

    def local(value: datetime) -> str:
        return in_zone(value, tz).strftime("%m-%d %H:%M")

    name = ticket.assignee.display_name if ticket.assignee else ""
    steps = [Step(ticket.reported_at, str(_l("Request received")))]
    if ticket.assigned_at and ticket.assignee:
        steps.append(Step(ticket.assigned_at, str(_l("Assigned to %(name)s", name=name))))
    if ticket.first_contact_at:
        steps.append(Step(ticket.first_contact_at, str(_l("%(name)s contacted you", name=name))))
    for visit in ticket.visits:
        if visit.cancelled_at is None:
            steps.append(Step(visit.created_at, str(_l("Visit agreed for %(when)s", when=local(visit.scheduled_at)))))
        if visit.on_the_way_at and visit.expected_arrival_at and visit.cancelled_at is None:
            steps.append(Step(visit.on_the_way_at, str(_l("%(name)s on the way, arriving about %(time)s", name=name,
                                                          time=in_zone(visit.expected_arrival_at, tz)
                                                          .strftime("%H:%M")))))
        if visit.arrived_at:
            steps.append(Step(visit.arrived_at, str(_l("Technician arrived"))))
        if visit.unsigned_at:
            steps.append(Step(visit.unsigned_at, str(_l("The service order was not signed"))))
        if visit.ended_at:
            steps.append(Step(visit.ended_at, str(_l("Another visit is needed"))))
    if ticket.remote_resolved_at:
        steps.append(Step(ticket.remote_resolved_at, str(_l("Solved remotely"))))
    if ticket.signature is not None:
        steps.append(Step(ticket.signature.signed_at, str(_l("You signed the service order"))))
    if handed_back(ticket):
        steps.append(Step(ticket.handed_back_at, str(_l("Being passed to another technician"))))
    if ticket.cancelled_at:
        steps.append(Step(ticket.cancelled_at, str(_l("Closed"))))
    if ticket.status == TicketStatus.CLOSED_UNSIGNED and ticket.closed_at:
        steps.append(Step(ticket.closed_at, str(_l("Closed without your signature"))))
    return sorted(steps, key=lambda step: step.at)


# --- the rating afterwards ------------------------------------------------------------------------------------

MAX_COMMENT = 1000


def follow_up_rating(ticket: Ticket):
    from .models import FollowUpRating

    return db.session.execute(select(FollowUpRating).where(FollowUpRating.ticket_id == ticket.id)
                              ).scalar_one_or_none()


def may_rate(ticket: Ticket) -> bool:
    return ticket.status in RATEABLE and follow_up_rating(ticket) is None


def rate(ticket: Ticket, rating_text: str, comment: str, *, now: datetime, remote_addr: str | None):
    """The customer's rating afterwards: once, 1 to 5, an optional comment. Raises ValidationError or
    DomainError("already_rated")."""
    from ..core.errors import Conflict, DomainError, ValidationError
    from ..core.validation import parse_int, text_problem
    from .models import FollowUpRating

    if ticket.status not in RATEABLE:
        raise DomainError("not_yet", _l("You can rate the service once it is over."))
    if follow_up_rating(ticket) is not None:
        raise Conflict("already_rated", _l("You already rated this service. Thank you!"))
    rating = parse_int(rating_text or "", minimum=1, maximum=5)
    errors = {}
    if rating is None:
        errors["rating"] = _l("Choose 1 to 5 stars.")
    comment = (comment or "").strip()
    if text_problem(comment):
        errors["comment"] = _l("The comment contains characters that cannot be stored.")
    elif len(comment) > MAX_COMMENT:
        errors["comment"] = _l("At most %(count)d characters.", count=MAX_COMMENT)
    if errors:
        raise ValidationError(errors)
    row = FollowUpRating(ticket_id=ticket.id, rating=rating, comment=comment or None, rated_at=now,
                         remote_addr=remote_addr)
    db.session.add(row)
    record_event("ticket.rated_afterwards", actor=None, ticket=ticket, entity=ticket, via="web",
                 remote_addr=remote_addr, rating=rating)
    return row
