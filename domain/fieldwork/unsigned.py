"""A visit that cannot end with the customer's signature (issue 24). The policy says the technician may not leave
unsigned; when the customer is not there or refuses to sign, the technician records it (absent or refused, the
reason, optionally a photo), the supervisors are alerted at once, and a supervisor decides on the request page:
another visit (back to scheduling, the work done kept) or the request closed without a signature, with a reason.
Recording it is what lets the technician leave the site (flow.py's `may_leave`)."""
from __future__ import annotations

import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l

from ..alerts import notifications as alerts
from ..core.audit import record_event
from ..core.context import AFTER_ARRIVAL, Context, checked_time, require_assignee
from ..core.enums import Role, SignatureMissing, TicketStatus, UnsignedDecision
from ..core.errors import DomainError, Forbidden, ValidationError
from ..fieldwork.models import Visit
from ..requests import workflow
from ..requests.models import Ticket
from ..sla.clocks import drop_clock
from . import flow, followup

# The technician's reason (and the supervisor's): a few sentences, refused beyond this (the phone's field stops here).
REASON_MAX = 1000


def _reason(text: str | None, field: str, message) -> str:
    text = (text or "").strip()
    if not text:  # blank in a way the flow's trimming does not see (a control character)
        raise ValidationError({field: message})
    if len(text) > REASON_MAX:
        raise ValidationError({field: _l("At most %(n)d characters.", n=REASON_MAX)})
    return text


def record_missing_signature(ticket: Ticket, ctx: Context, *, situation: SignatureMissing, reason: str,
                             photo_id: uuid.UUID | None, at: datetime) -> Visit:
    """The customer is absent or refuses to sign, recorded at the op's time on the visit; the supervisors are
    alerted at once (once: the flow refuses a second record on the same visit, a replay never reaches here)."""
    require_assignee(ctx, ticket)
    flow.enforce(ticket, "signature.missing", data={"reason": reason, "situation": situation.value})
    visit = ticket.current_visit
    if ticket.status != TicketStatus.ON_SITE or visit is None:
        raise DomainError("not_on_site", _l("Record your arrival at the customer's site first."))
    reason = _reason(reason, "reason", _l("Say why the customer cannot sign."))
    visit.unsigned_at = checked_time(at, ctx, "at", not_before=visit.arrived_at, after=AFTER_ARRIVAL)
    visit.unsigned_kind, visit.unsigned_reason, visit.unsigned_photo_id = situation, reason, photo_id
    record_event("signature.missing", actor=ctx.actor, ticket=ticket, entity=ticket, via=ctx.via,
                 remote_addr=ctx.remote_addr, situation=situation.value, reason=reason[:500],
                 photo=str(photo_id) if photo_id else None)
    alerts.signature_missing(ticket, visit)
    return visit


def pending_decision(ticket: Ticket) -> Visit | None:
    """The visit whose missing signature waits for the supervisor's decision (none once the customer signed after
    all, the visit ended for another, or the request closed)."""
    visit = ticket.current_visit
    if visit is None or visit.unsigned_at is None or visit.decision is not None:
        return None
    return visit if ticket.status == TicketStatus.ON_SITE and ticket.signature is None else None


def decide(ticket: Ticket, ctx: Context, *, decision: str | None, reason: str | None) -> Visit:
    """The supervisor's decision: another visit (the reason is optional: the technician's stands), or the request
    closed without a signature (the reason is required, kept as the request's closing reason)."""
    if not ctx.actor.has_role(Role.SUPERVISOR):
        raise Forbidden("not_allowed", _l("Only a supervisor decides on a missing signature."))
    visit = pending_decision(ticket)
    if visit is None:
        raise DomainError("nothing_to_decide", _l("Nothing waits for a decision on %(number)s: the customer signed, "
                                                  "or it was decided already.", number=ticket.number))
    try:
        chosen = UnsignedDecision(decision or "")
    except ValueError:
        raise ValidationError({"decision": _l("Choose: another visit, or close without a signature.")}) from None
    if chosen == UnsignedDecision.CLOSE:
        text = _reason(reason, "reason", _l("Give the reason for closing without the customer's signature."))
    else:
        text = (reason or "").strip()[:REASON_MAX]
    visit.decision, visit.decision_reason, visit.decided_at, visit.decided_by = chosen, text or None, ctx.now, \
        ctx.actor
    if chosen == UnsignedDecision.REVISIT:
        followup.another_visit(ticket, ctx, reason=text or visit.unsigned_reason or "", at=ctx.now,
                               action="visit.revisit_decided")
        return visit
    # Closed, not cancelled: the work was done and stays on record; the status says the customer never signed
    # (enums.TicketStatus.CLOSED_UNSIGNED), the reason is the visit's `decision_reason`.
    workflow.move(ticket, TicketStatus.CLOSED_UNSIGNED, actor=ctx.actor, action="ticket.closed_unsigned",
                  via=ctx.via, remote_addr=ctx.remote_addr, reason=text[:500])
    ticket.closed_at = ctx.now
    for clock in list(ticket.clocks):
        drop_clock(ticket, clock.name, at=ctx.now)  # a deadline already passed stays missed
    return visit
