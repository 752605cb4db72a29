"""Delivering alerts beyond the inbox: Web Push to the user's browsers and e-mail, as each user chose."""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from types import SimpleNamespace

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from ..alerts.models import Notification, PushRetry, PushSubscription
from ..core import validation
from ..core.db import db
from ..core.enums import Role
from ..core.errors import ValidationError
from ..core.models import User
from ..core.settings import Settings
from ..core.types import utcnow
from ..sla.policy import current_policy
from . import channels, mail, push, sms
from .notifications import Kind, kinds_for, title_and_body

log = logging.getLogger(__name__)
BATCH = 500

# Without a choice of their own: every alert by push, and by e-mail what must not be missed; an @mention in the
# group robot's message whenever one announces the alert; an SMS for an urgent assignment and a missed deadline.
DEFAULT_CHANNELS: dict[str, list[str]] = {
    "push": [k.value for k in Kind],
    "email": [Kind.MISSED.value, Kind.RETURNED.value, Kind.WEEKLY_REPORT.value, Kind.UNREACHABLE.value,
              Kind.HANDED_BACK.value, Kind.UNSIGNED.value, Kind.FOLLOWUP.value],
    "robot": [k.value for k in Kind],
    "sms": [Kind.ASSIGNED.value, Kind.MISSED.value],
}
# The kinds an SMS exists for, by role (sms.py: an urgent assignment to the technician, a missed first contact to
# the supervisor on duty), and who a robot's message @mentions (channels.MENTIONED_ROLES: whoever must act).
SMS_KINDS = {Role.TECHNICIAN: frozenset({Kind.ASSIGNED}), Role.SUPERVISOR: frozenset({Kind.MISSED})}
CHANNELS = ("push", "email", "robot", "sms")


def channels_of(user: User) -> dict[str, set[str]]:
    chosen = user.alert_channels or {}
    return {channel: set(chosen.get(channel, default)) for channel, default in DEFAULT_CHANNELS.items()}


def offered(user: User) -> dict[str, set[str]]:
    """Per channel, the kinds it can carry to this user (the inbox always has every kind)."""
    kinds = {k.value for k in kinds_for(user)}
    robot = {k.value for k in channels.ROBOT_KINDS} if user.role in channels.MENTIONED_ROLES else set()
    by_sms = {k.value for k in SMS_KINDS.get(user.role, ())}
    return {"push": kinds, "email": kinds, "robot": kinds & robot, "sms": kinds & by_sms}


def save_channels(user: User, push_kinds: list[str], email_kinds: list[str], robot_kinds: list[str] | None = None,
                  sms_kinds: list[str] | None = None) -> None:
    """The user's choice for the kinds that can reach them; the others keep what they were (a role changed back
    finds its choices again)."""
    chosen = {"push": push_kinds, "email": email_kinds, "robot": robot_kinds, "sms": sms_kinds}
    can, current = offered(user), channels_of(user)
    user.alert_channels = {channel: sorted(current[channel] if chosen[channel] is None else
                                           (current[channel] - can[channel]) | (set(chosen[channel]) & can[channel]))
                           for channel in CHANNELS}


def set_mobile(user: User, text: str) -> None:
    """The user's own mobile number (the robots' @mention, the alert SMS): a mainland mobile, +86 optional, stored
    as its 11 digits; empty clears it."""
    text = (text or "").strip()
    if not text:
        user.phone = None
        return
    mobile = channels.mobile_of(text) if len(text) <= 40 and not validation.text_problem(text) else None
    if mobile is None:
        raise ValidationError({"phone": _l("A mainland mobile number: 11 digits starting with 1, +86 optional "
                                           "(e.g. 138 0013 8000).")})
    user.phone = mobile


def path_for(user: User, note: Notification) -> str:
    """Where opening the alert leads (a tap on the push, "Open" in the inbox): the job on a technician's phone, the
    request page for everyone else."""
    number = (note.params or {}).get("number")
    if note.kind == Kind.WEEKLY_REPORT:
        return "/reports/delivered"
    if note.kind == Kind.CHANNEL_FAILING:
        return "/admin/channels"
    if not number:
        return "/notifications/"
    if user.role.value == "technician":
        return f"/field/#/job/{number}"
    if note.kind == Kind.FOLLOWUP:  # the request page's "another visit needed" banner: who schedules, reassign
        return f"/dispatch/requests/{number}#next-visit"
    return f"/dispatch/requests/{number}"


def link_for(user: User, note: Notification, public_url: str) -> str:
    return public_url.rstrip("/") + path_for(user, note)


def claim_pending(now: datetime) -> list[int]:
    """Take the alerts not delivered yet (the caller commits): two workers never deliver one twice."""
    ids = db.session.execute(select(Notification.id).where(Notification.delivered_at.is_(None))
                             .order_by(Notification.id).limit(BATCH)).scalars().all()
    if not ids:
        return []
    return list(db.session.execute(update(Notification).where(Notification.id.in_(ids),
                                                              Notification.delivered_at.is_(None))
                                   .values(delivered_at=now).returning(Notification.id)).scalars())


def _push_payload(note: Notification, title: str, body: str, url: str) -> dict:
    return {"title": title, "body": body, "url": url, "tag": f"{note.kind}:{note.id}", "id": note.id}


def _retry_later(note: Notification, again: list[tuple[int, int | None]]) -> None:
    if again:
        now = utcnow()
        db.session.add_all(PushRetry(notification_id=note.id, subscription_id=subscription_id, attempts=1,
                                     next_attempt_at=now + push.retry_pause(1), last_status=status)
                           for subscription_id, status in again)


def deliver(claimed: list[int], settings: Settings, *, pusher: push.Pusher | None = None) -> int:
    """Push the claimed alerts and queue their mail, as each user chose, and their messages to the group robots
    that announce their kind; drop the subscriptions the push service says are gone. The caller commits. Returns
    the number of pushes sent."""
    if not claimed:
        return 0
    notes = db.session.execute(select(Notification).where(Notification.id.in_(claimed))
                               .order_by(Notification.id)).scalars().all()
    user_ids = {n.user_id for n in notes}
    users = {u.id: u for u in db.session.execute(select(User).where(User.id.in_(user_ids))).scalars()}
    subscriptions: dict[int, list[PushSubscription]] = defaultdict(list)
    for s in db.session.execute(select(PushSubscription).where(PushSubscription.user_id.in_(user_ids))).scalars():
        subscriptions[s.user_id].append(s)
    tz = settings.tz
    policy = current_policy()
    if pusher is None and any(subscriptions.values()):
        pusher = push.pusher_for(settings.push)
    gone: set[int] = set()
    sent = 0
    for note in notes:
        user = users[note.user_id]
        if not user.active:
            continue
        wanted = channels_of(user)
        with force_locale(user.locale or "zh_CN"):
            title, body = title_and_body(note, tz=tz, policy=policy)
        url = link_for(user, note, settings.site.public_url)
        live = [s for s in subscriptions[user.id] if s.id not in gone]
        if note.kind in wanted["push"] and live and pusher is not None:
            pushed, dropped, again = push.push_to(pusher, live, _push_payload(note, title, body, url))
            sent += pushed
            gone.update(dropped)
            _retry_later(note, again)
        if note.kind in wanted["email"] and user.email:
            mail.queue_mail(f"alert.{note.kind}", [user.email], title, f"{body}\n\n{url}\n")
    channels.queue_alerts(list(notes), settings)
    sms.queue_alerts(list(notes), settings.tz)
    if gone:
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
        log.info("dropped %d push subscriptions the push service says are gone", len(gone))
    return sent


# --- pushes sent again (the push service answered 5xx or 429, or was not reached) ------------------------------


def due_push_retries(now: datetime, limit: int = BATCH) -> list[int]:
    return list(db.session.execute(select(PushRetry.id).where(PushRetry.next_attempt_at <= now)
                                   .order_by(PushRetry.next_attempt_at, PushRetry.id).limit(limit)).scalars())


def claim_push_retry(retry_id: int, now: datetime, hold_for) -> bool:
    """Held by this sender until `now + hold_for` (the caller commits): two workers never send one twice, and a
    worker killed mid-send leaves it to be tried again after the hold."""
    return bool(db.session.execute(update(PushRetry).where(PushRetry.id == retry_id, PushRetry.next_attempt_at <= now)
                                   .values(next_attempt_at=now + hold_for)).rowcount)


def push_retry_job(retry_id: int, settings: Settings, now: datetime):
    """(the subscription, the payload) to send again, or None when it is no longer worth it: the alert is older than
    the push's time to live, or its user turned push off or left (the row is removed; the inbox keeps the alert)."""
    retry = db.session.get(PushRetry, retry_id)
    if retry is None:
        return None
    note = db.session.get(Notification, retry.notification_id)
    subscription = db.session.get(PushSubscription, retry.subscription_id)
    user = db.session.get(User, note.user_id)
    fresh = (now - note.created_at).total_seconds() < push.PUSH_TTL
    if not (fresh and user.active and note.kind in channels_of(user)["push"]):
        db.session.delete(retry)
        return None
    with force_locale(user.locale or "zh_CN"):
        title, body = title_and_body(note, tz=settings.tz, policy=current_policy())
    # A copy, not the row: the push is sent after this transaction ends.
    target = SimpleNamespace(id=subscription.id, endpoint=subscription.endpoint, p256dh=subscription.p256dh,
                             auth=subscription.auth)
    return target, _push_payload(note, title, body, link_for(user, note, settings.site.public_url))


def record_push_retry(retry_id: int, status: int | None, now: datetime) -> bool:
    """Sent (True): the row goes; the subscription gone (404/410): it goes, and the row with it; otherwise tried
    again after a longer pause, or given up after push.PUSH_RETRIES tries."""
    retry = db.session.get(PushRetry, retry_id)
    if retry is None:
        return False
    if status in (404, 410):
        db.session.execute(delete(PushSubscription).where(PushSubscription.id == retry.subscription_id))
        return False
    if status is not None and 200 <= status < 300:
        db.session.get(PushSubscription, retry.subscription_id).last_sent_at = now
        db.session.delete(retry)
        return True
    retry.attempts += 1
    retry.last_status = status
    if not push.worth_retrying(status) or retry.attempts > push.PUSH_RETRIES:
        log.warning("push for alert %s given up after %d tries (last answer %s)", retry.notification_id,
                    retry.attempts, status)
        db.session.delete(retry)
        return False
    retry.next_attempt_at = now + push.retry_pause(retry.attempts)
    return False
