"""SMS for what must reach one person: an urgent assignment to the technician, a missed first contact to the
supervisor on duty (the one who assigned the request; every supervisor while nobody has), and the customer's
"received" when the request is entered and "your technician is …" at assignment.

An SMS is a row of `channel_outbox` (transport "sms") under a unique key (`sms:<mobile>:<event key>`): queued once,
sent by the worker through the provider SMS_PROVIDER names (sms_providers.py), kept ("held") while none is set.
Template-based as both providers require: the row holds the template's variables, the code is read at send time
(`sms_templates`, the admin page). Before each send the messages already sent today (TIMEZONE) to that number
with that template are counted: at SMS_DAILY_CAP (Aliyun's 50 per sender, template and number) the message is
not sent that day and is recorded as `limited`, as it is when the provider itself answers its per-number limit
(isv.BUSINESS_LIMIT_CONTROL, LimitExceeded.PhoneNumberDailyLimit). A refusal that retrying cannot mend (a wrong
key, template or number) is `refused`; anything else is retried 1, 2, 4... minutes later, at most 6 hours.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import requests
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from ..core import validation
from ..core.audit import record_event
from ..core.db import db
from ..core.deferred import after_commit_task
from ..core.enums import ClockName, Role, Urgency
from ..core.errors import ValidationError
from ..core.models import User
from ..core.settings import SmsSettings
from ..core.types import utcnow
from ..requests import links
from ..requests.models import Ticket
from ..sla.models import TicketClock
from .channels import MAX_PAUSE, POSTING, QUEUED, SENT, insert_messages, mobile_of
from .models import ChannelMessage, Notification, SmsTemplate
from .notifications import Kind
from .sms_providers import Provider, SmsAnswer, SmsOutcome, SmsRequest

log = logging.getLogger(__name__)

HELD, LIMITED, REFUSED = "held", "limited", "refused"
# Not sent, on purpose: the number replied STOP / 退订; a "received" overtaken by the technician's message.
OPTED_OUT, SUPERSEDED = "opted_out", "superseded"
OPTED_OUT_ANSWER = "not sent: the number opted out (replied STOP / 退订)"
SUPERSEDED_ANSWER = "not sent: the technician's message, queued before this went out, tells the same"
BATCH = 50
HTTP_TIMEOUT = 10


class SmsKind(StrEnum):
    URGENT_ASSIGNED = "urgent_assigned"
    FIRST_CONTACT_MISSED = "first_contact_missed"
    CUSTOMER_RECEIVED = "customer_received"
    CUSTOMER_TECHNICIAN = "customer_technician"
    CUSTOMER_ON_THE_WAY = "customer_on_the_way"
    CUSTOMER_SIGNING_CODE = "customer_signing_code"
    CUSTOMER_SIGNED_COPY = "customer_signed_copy"


# The customer's messages: a number that replied STOP / 退订 gets none of them again (opt_outs.py).
CUSTOMER_KINDS = frozenset({SmsKind.CUSTOMER_RECEIVED, SmsKind.CUSTOMER_TECHNICIAN, SmsKind.CUSTOMER_ON_THE_WAY,
                            SmsKind.CUSTOMER_SIGNED_COPY})
# The customer's messages that carry their tracking page: the template's fixed PUBLIC_URL/c/ and the request's
# short code as the variable `link` (a template's link is approved with it, so only the code may vary).
LINKED_KINDS = frozenset({SmsKind.CUSTOMER_RECEIVED, SmsKind.CUSTOMER_TECHNICIAN, SmsKind.CUSTOMER_SIGNED_COPY})


# Each template's variables, in the order Tencent's positional {1}, {2} take them (Aliyun names them).
TEMPLATE_VARS: dict[SmsKind, tuple[str, ...]] = {
    SmsKind.URGENT_ASSIGNED: ("number", "time"),
    SmsKind.FIRST_CONTACT_MISSED: ("number", "time"),
    SmsKind.CUSTOMER_RECEIVED: ("number", "link"),
    SmsKind.CUSTOMER_TECHNICIAN: ("number", "name", "link"),
    SmsKind.CUSTOMER_ON_THE_WAY: ("number", "name", "time"),
    SmsKind.CUSTOMER_SIGNING_CODE: ("number", "code"),
    SmsKind.CUSTOMER_SIGNED_COPY: ("number", "link"),
}
KIND_LABELS = {
    SmsKind.URGENT_ASSIGNED: _l("Urgent request assigned (to the technician)"),
    SmsKind.FIRST_CONTACT_MISSED: _l("First contact missed (to the supervisor on duty)"),
    SmsKind.CUSTOMER_RECEIVED: _l("Request received (to the customer, when it is entered)"),
    SmsKind.CUSTOMER_TECHNICIAN: _l("Technician named (to the customer, at assignment)"),
    SmsKind.CUSTOMER_ON_THE_WAY: _l("Technician on the way (to the customer, tapped on the phone)"),
    SmsKind.CUSTOMER_SIGNING_CODE: _l("Signing code (to the customer, who confirms their signature with it)"),
    SmsKind.CUSTOMER_SIGNED_COPY: _l("Signed order's copy (to the customer, after signing)"),
}
# The wording to have approved as the template (shown on the admin page and kept with each message); "{url}" is
# the deployment's fixed PUBLIC_URL/c/, written into the template when it is submitted for approval.
TEMPLATE_TEXTS = {
    SmsKind.URGENT_ASSIGNED: _l("Urgent request ${number} is assigned to you: contact the customer by ${time}."),
    SmsKind.FIRST_CONTACT_MISSED: _l("Request ${number}: the customer was not contacted by ${time}."),
    SmsKind.CUSTOMER_RECEIVED: _l("Your request ${number} is received; a technician will contact you soon. "
                                  "Follow it at {url}${link}"),
    SmsKind.CUSTOMER_TECHNICIAN: _l("Request ${number}: your technician is ${name}, who will contact you soon. "
                                    "Follow it at {url}${link}"),
    SmsKind.CUSTOMER_ON_THE_WAY: _l("Request ${number}: ${name} is on the way to you, arriving about ${time}."),
    SmsKind.CUSTOMER_SIGNING_CODE: _l("Your code to confirm the service order of request ${number} is ${code}, "
                                      "valid for 10 minutes. Do not share it."),
    SmsKind.CUSTOMER_SIGNED_COPY: _l("Request ${number}: thank you for signing. Your service order can be downloaded "
                                     "at {url}${link}"),
}
# Defaults that make the messages go out until the approved codes are entered (and in tests).
DEFAULT_CODES = {"aliyun": {SmsKind.URGENT_ASSIGNED: "SMS_900000001", SmsKind.FIRST_CONTACT_MISSED: "SMS_900000002",
                            SmsKind.CUSTOMER_RECEIVED: "SMS_900000003", SmsKind.CUSTOMER_TECHNICIAN: "SMS_900000004",
                            SmsKind.CUSTOMER_ON_THE_WAY: "SMS_900000005",
                            SmsKind.CUSTOMER_SIGNING_CODE: "SMS_900000006",
                            SmsKind.CUSTOMER_SIGNED_COPY: "SMS_900000007"},
                 "tencent": {SmsKind.URGENT_ASSIGNED: "900001", SmsKind.FIRST_CONTACT_MISSED: "900002",
                             SmsKind.CUSTOMER_RECEIVED: "900003", SmsKind.CUSTOMER_TECHNICIAN: "900004",
                             SmsKind.CUSTOMER_ON_THE_WAY: "900005", SmsKind.CUSTOMER_SIGNING_CODE: "900006",
                             SmsKind.CUSTOMER_SIGNED_COPY: "900007"}}
CODE_MAX = 40
VALUE_MAX = 20  # a template variable: a short value (Aliyun allows 35 characters; names are cut)


# --- template codes -----------------------------------------------------------------------------------------


def template_codes(provider_name: str | None) -> dict[SmsKind, str]:
    stored = dict(db.session.execute(select(SmsTemplate.kind, SmsTemplate.code)).all())
    defaults = DEFAULT_CODES.get(provider_name or "aliyun", DEFAULT_CODES["aliyun"])
    return {kind: stored.get(kind.value) or defaults[kind] for kind in SmsKind}


def save_template_codes(codes: Mapping[str, str], actor: User | None) -> list[str]:
    """Store the codes the admin entered (empty: back to the default). Returns the kinds changed."""
    errors = {}
    for kind in SmsKind:
        value = (codes.get(kind.value) or "").strip()
        if len(value) > CODE_MAX or validation.text_problem(value) or not all(c.isalnum() or c in "_-" for c in value):
            errors[kind.value] = _l("A template code has at most %(n)d letters, digits, '_' or '-'.", n=CODE_MAX)
    if errors:
        raise ValidationError(errors)
    stored = {t.kind: t for t in db.session.execute(select(SmsTemplate)).scalars()}
    changed = []
    for kind in SmsKind:
        value = (codes.get(kind.value) or "").strip()
        row = stored.get(kind.value)
        if (row.code if row else "") == value:
            continue
        changed.append(kind.value)
        if not value:
            db.session.delete(row)
        elif row:
            row.code, row.updated_at = value, utcnow()
        else:
            db.session.add(SmsTemplate(kind=kind.value, code=value))
    if changed:
        record_event("sms.templates_changed", actor=actor, kinds=changed)
    return changed


# --- queueing -----------------------------------------------------------------------------------------------


def _short(value: str) -> str:
    return value if len(value) <= VALUE_MAX else value[:VALUE_MAX - 1] + "…"


def sms_row(kind: SmsKind, mobile: str, key: str, variables: dict[str, str], *, ticket_id: int | None,
            now: datetime) -> dict[str, Any]:
    variables = {name: _short(str(variables[name])) for name in TEMPLATE_VARS[kind]}
    return {"transport": "sms", "channel_id": None, "key": f"sms:{mobile}:{key}", "kind": kind.value,
            "ticket_id": ticket_id, "recipient": mobile, "content": {"vars": variables}, "state": QUEUED,
            "attempts": 0, "next_attempt_at": now, "created_at": now}


def _local_time(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%H:%M") if at else ""


def queue_alerts(notes: list[Notification], tz: ZoneInfo) -> int:
    """The SMS the delivered alerts call for: an urgent assignment to the technician, a missed first contact to
    the supervisor on duty. The caller commits."""
    from .delivery import channels_of  # (delivery imports this module)

    wanted = [n for n in notes if (n.kind == Kind.ASSIGNED) or
              (n.kind == Kind.MISSED and n.clock == ClockName.FIRST_CONTACT.value)]
    if not wanted:
        return 0
    tickets = {t.id: t for t in db.session.execute(select(Ticket).where(
        Ticket.id.in_({n.ticket_id for n in wanted if n.ticket_id}))).scalars()}
    users = {u.id: u for u in db.session.execute(select(User).where(
        User.id.in_({n.user_id for n in wanted}))).scalars()}
    now = utcnow()
    rows = []
    for note in wanted:
        ticket, user = tickets.get(note.ticket_id), users[note.user_id]
        mobile = mobile_of(user.phone)
        if ticket is None or mobile is None or not user.active or note.kind not in channels_of(user)["sms"]:
            continue
        if note.kind == Kind.ASSIGNED:
            if ticket.urgency != Urgency.URGENT or ticket.assignee_id != user.id:
                continue
            due = db.session.execute(select(TicketClock.due_at).where(
                TicketClock.ticket_id == ticket.id, TicketClock.name == ClockName.FIRST_CONTACT)).scalar()
            rows.append(sms_row(SmsKind.URGENT_ASSIGNED, mobile, note.key,
                                {"number": ticket.number, "time": _local_time(due, tz)}, ticket_id=ticket.id,
                                now=now))
        else:
            on_duty = ticket.assigned_by_id == user.id if ticket.assigned_by_id else user.role == Role.SUPERVISOR
            if not on_duty:
                continue
            due = datetime.fromisoformat(note.params["due_at"]) if note.params.get("due_at") else note.due_at
            rows.append(sms_row(SmsKind.FIRST_CONTACT_MISSED, mobile, note.key,
                                {"number": ticket.number, "time": _local_time(due, tz)}, ticket_id=ticket.id,
                                now=now))
    created = insert_messages(rows)
    if created:
        after_commit_task("send_channel_messages")
    return created


def queue_customer_sms(ticket: Ticket, kind: SmsKind, *, event: str | None = None,
                       variables: dict[str, str] | None = None) -> bool:
    """A customer's SMS, to the request's contact phone when it is a mobile number: "received" when the request
    is entered, "your technician is …" at each assignment (a reassignment names the new one), "on the way" when
    the technician sets out (`event`: the phone's op, so a replayed op is told once). In the caller's
    transaction. A number that opted out gets the row all the same, kept as not sent (the outbox shows why)."""
    mobile = mobile_of(ticket.contact_phone)
    if mobile is None:
        return False
    if kind == SmsKind.CUSTOMER_TECHNICIAN:
        if ticket.assignee is None or ticket.assigned_at is None:
            return False
        key = f"{kind.value}:{ticket.number}:{ticket.assignee.id}:{ticket.assigned_at.isoformat()}"
        variables = {"number": ticket.number, "name": ticket.assignee.display_name}
    elif event is not None:
        key, variables = f"{kind.value}:{ticket.number}:{event}", {"number": ticket.number, **(variables or {})}
    else:
        key, variables = f"{kind.value}:{ticket.number}", {"number": ticket.number}
    if kind in LINKED_KINDS:
        variables["link"] = links.link_code(ticket)
    row = sms_row(kind, mobile, key, variables, ticket_id=None, now=utcnow())
    pending = [m for m in db.session.new if isinstance(m, ChannelMessage)]
    with db.session.no_autoflush:
        if row["key"] in {m.key for m in pending} or db.session.execute(select(ChannelMessage.id).where(
                ChannelMessage.key == row["key"])).first() is not None:
            return False  # this event was told already
        if opted_out(mobile):
            row["state"], row["last_answer"] = OPTED_OUT, OPTED_OUT_ANSWER
        elif kind == SmsKind.CUSTOMER_TECHNICIAN:
            _supersede_received(ticket, mobile, pending)
    db.session.add(ChannelMessage(**row, ticket=ticket))
    if row["state"] == QUEUED:
        after_commit_task("send_channel_messages")
    return row["state"] == QUEUED


def _supersede_received(ticket: Ticket, mobile: str, pending: list[ChannelMessage]) -> None:
    """The technician's message tells the customer their request is received: a "received" SMS of the same request
    that has not gone out yet (kept while no provider is set, waiting for a retry, or entered and assigned in one
    go) is not sent as well."""
    key = f"sms:{mobile}:{SmsKind.CUSTOMER_RECEIVED.value}:{ticket.number}"
    # Read, then changed through the session (written with the request's other changes at its flush): a write now
    # would take SQLite's write lock in the middle of the request, before its own checks are done.
    with db.session.no_autoflush:
        stored = db.session.execute(select(ChannelMessage).where(ChannelMessage.key == key,
                                                                 ChannelMessage.state.in_([QUEUED, HELD]))).scalars()
        for message in [*pending, *stored]:
            if message.key == key and message.state in (QUEUED, HELD):
                message.state, message.last_answer = SUPERSEDED, SUPERSEDED_ANSWER


def opted_out(mobile: str) -> bool:
    from .models import SmsOptOut

    return db.session.execute(select(SmsOptOut.mobile).where(SmsOptOut.mobile == mobile,
                                                             SmsOptOut.lifted_at.is_(None))).first() is not None


def wording(kind: SmsKind, link_base: str) -> str:
    """The template's wording with this deployment's fixed link (`link_base`: PUBLIC_URL/c/)."""
    return str(TEMPLATE_TEXTS[kind]).replace("{url}", link_base)


def text_of(row: ChannelMessage, link_base: str) -> str:
    """The message as the template words it (the outbox, the log)."""
    text = wording(SmsKind(row.kind), link_base)
    for name, value in (row.content or {}).get("vars", {}).items():
        text = text.replace("${" + name + "}", value)
    return text


# --- sending ------------------------------------------------------------------------------------------------


def http_send(request: SmsRequest) -> tuple[int, bytes]:
    with requests.Session() as session:
        session.trust_env = False
        response = session.post(request.url, data=request.body, headers=request.headers, timeout=HTTP_TIMEOUT,
                                allow_redirects=False)
        return response.status_code, response.content[:20000]


def hold_unsent(now: datetime) -> int:
    """With no SMS_PROVIDER the messages are kept in the outbox, said so once."""
    return db.session.execute(update(ChannelMessage).where(ChannelMessage.transport == "sms",
                                                           ChannelMessage.state == QUEUED)
                              .values(state=HELD, last_answer="SMS_PROVIDER not set: kept until one is")).rowcount


def due_sms(now: datetime) -> list[int]:
    return list(db.session.execute(select(ChannelMessage.id).where(
        ChannelMessage.transport == "sms", ChannelMessage.state.in_([QUEUED, HELD]),
        ChannelMessage.next_attempt_at <= now).order_by(ChannelMessage.id).limit(BATCH)).scalars())


def claim_sms(message_id: int, now: datetime, claim_for: timedelta) -> bool:
    return bool(db.session.execute(update(ChannelMessage).where(
        ChannelMessage.id == message_id, ChannelMessage.state.in_([QUEUED, HELD]),
        ChannelMessage.next_attempt_at <= now).values(state=POSTING, next_attempt_at=now + claim_for)).rowcount)


def sent_today(mobile: str, kind: str, now: datetime, tz: ZoneInfo) -> int:
    """The messages of this template sent to this number since midnight (TIMEZONE): the provider counts so."""
    midnight = datetime.combine(now.astimezone(tz).date(), time(), tz)
    return db.session.execute(select(func.count(ChannelMessage.id)).where(
        ChannelMessage.transport == "sms", ChannelMessage.recipient == mobile, ChannelMessage.kind == kind,
        ChannelMessage.state == SENT, ChannelMessage.sent_at >= midnight)).scalar_one()


def prepare(message_id: int, provider: Provider, settings: SmsSettings, tz: ZoneInfo,
            now: datetime) -> SmsRequest | None:
    """The signed request for a claimed message, or None when it is not to go out (recorded): the number opted
    out, or today's cap for the number is reached."""
    row = db.session.get(ChannelMessage, message_id)
    if SmsKind(row.kind) in CUSTOMER_KINDS and opted_out(row.recipient):  # opted out since it was queued
        row.state, row.last_answer = OPTED_OUT, OPTED_OUT_ANSWER
        return None
    cap = settings.daily_cap
    if sent_today(row.recipient, row.kind, now, tz) >= cap:
        row.state, row.last_answer = LIMITED, f"daily cap reached: {cap} of this template to this number today"
        return None
    kind = SmsKind(row.kind)
    code = template_codes(provider.name)[kind]
    return provider.request(row.recipient, code, dict(row.content["vars"]), TEMPLATE_VARS[kind], str(row.id), now)


def send(provider: Provider, request: SmsRequest, sender=None) -> SmsAnswer:
    try:
        status, raw = (sender or http_send)(request)
    except (requests.RequestException, OSError) as error:
        return SmsAnswer(SmsOutcome.RETRY, type(error).__name__, "the SMS provider could not be reached")
    return provider.read(status, raw)


def record(message_id: int, answer: SmsAnswer, now: datetime) -> bool:
    row = db.session.get(ChannelMessage, message_id)
    row.attempts += 1
    row.last_answer = answer.describe()
    if answer.outcome == SmsOutcome.SENT:
        row.state, row.sent_at = SENT, now
        if row.kind == SmsKind.CUSTOMER_SIGNING_CODE:  # a code is kept hashed only (signing_codes): not in the outbox
            row.content = {"vars": {**row.content["vars"], "code": "******"}}
        return True
    if answer.outcome == SmsOutcome.LIMITED:
        row.state = LIMITED
    elif answer.outcome == SmsOutcome.REFUSED:
        row.state = REFUSED
        log.error("SMS %s refused by the provider: %s", message_id, answer.describe())
    else:
        row.state = QUEUED
        row.next_attempt_at = now + min(timedelta(minutes=2 ** max(row.attempts - 1, 0)), MAX_PAUSE)
    return False


def describe_provider(settings: SmsSettings) -> str:
    provider = Provider.from_settings(settings)
    if provider is None:
        return _("No SMS provider (SMS_PROVIDER): messages are kept in the outbox.")
    return _("%(provider)s, sender name %(sign)s", provider={"aliyun": _("Aliyun SMS"),
                                                              "tencent": _("Tencent Cloud SMS")}[provider.name],
             sign=provider.sign_name or "—")
