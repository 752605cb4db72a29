"""Group robots as alert channels: which alerts go to which robot, the robot's queue, and sending it within the
platform's limit.

An alert delivered (delivery.deliver) becomes one row per robot that announces its kind in `channel_outbox`, under
a unique key (`robot:<channel>:<alert key>`): queued once whatever the number of deliveries, workers or restarts.
The worker sends each robot's queue oldest first, holding the robot (`claimed_until`) so two workers never
interleave its posts, and never posts more than the platform's ~20 a minute (`recent_posts`, the times of its
last posts): when more wait than the minute allows, the last post of the minute folds all that waits into one
digest (as much as fits the platform's size; the rest waits for the next minute). Nothing is dropped.

The platform's answer decides (robots.read_answer): sent; rate-limited (the robot is left alone for the block the
platform announces, then what waits goes out, digested); a refused signature or token (the robot is marked failing,
its messages kept, and the admins told in their inbox); anything else or no answer (retried 1, 2, 4... minutes
later, at most 6 hours). A message whose post was made but whose answer was never recorded (the worker killed
in between) is tried again after CLAIM_FOR: at least once in that one case, exactly once otherwise.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..core import validation
from ..core.audit import record_event
from ..core.db import db
from ..core.deferred import after_commit_task
from ..core.enums import Role
from ..core.errors import NotFound, ValidationError
from ..core.models import User
from ..core.settings import Settings
from ..core.types import utcnow
from ..sla.policy import current_policy
from .models import AlertChannel, ChannelMessage, Notification
from .notifications import KIND_LABELS, Kind, notify, title_and_body
from .robots import (
    BLOCKED_FOR,
    PER_MINUTE,
    TEXT_LIMIT,
    WECOM_TEXT_LIMIT,
    Answer,
    Message,
    Outcome,
    Platform,
    check_webhook,
    payload,
    read_answer,
    signed_request,
)

log = logging.getLogger(__name__)

QUEUED, SENT, DIGESTED, HELD = "queued", "sent", "digested", "held"
# Taken for a post; left so by a worker killed before the answer was recorded, it becomes UNCONFIRMED: the platform
# most likely has it (the request had left), so it is not sent again by itself (nothing twice); the outbox shows it
# with "try again now" for an admin who finds it missing in the group.
POSTING, UNCONFIRMED = "posting", "unconfirmed"
OK, FAILING = "ok", "failing"
# The kinds a group can be told of, and what a robot added without a choice announces.
ROBOT_KINDS = [Kind.NEW_REQUEST, Kind.ASSIGNED, Kind.DUE_SOON, Kind.MISSED, Kind.ESCALATED, Kind.SUBMITTED,
               Kind.RETURNED, Kind.UNSIGNED, Kind.FOLLOWUP]
DEFAULT_KINDS = [Kind.NEW_REQUEST.value, Kind.ASSIGNED.value, Kind.DUE_SOON.value, Kind.MISSED.value]
# Who is @mentioned: whoever must act (the assignee, the expert), not the supervisors the group is for.
MENTIONED_ROLES = {Role.TECHNICIAN, Role.EXPERT}
NAME_MAX = 100
WINDOW = timedelta(seconds=60)
CLAIM_FOR = timedelta(minutes=2)
MAX_PAUSE = timedelta(hours=6)
HTTP_TIMEOUT = 10
MOBILE_RE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")


def mobile_of(phone: str | None) -> str | None:
    """The mainland mobile number in a phone field ("138 0013 8000", "+86-13800138000"), or None."""
    if not phone:
        return None
    match = MOBILE_RE.match(re.sub(r"[\s\-()]", "", phone))
    return match.group(1) if match else None


# --- the robots an admin connects ---------------------------------------------------------------------------


def _check_name(name: str | None, platform: str) -> str:
    name = (name or "").strip()
    if len(name) > NAME_MAX or validation.text_problem(name):
        raise ValidationError({"name": _l("A name of at most %(n)d characters.", n=NAME_MAX)})
    return name or platform


def _check_kinds(kinds: list[str] | None) -> list[str]:
    if kinds is None:
        return list(DEFAULT_KINDS)
    offered = {k.value for k in ROBOT_KINDS}
    unknown = [k for k in kinds if k not in offered]
    if unknown or not kinds:
        raise ValidationError({"kinds": _l("Choose at least one of the alerts offered.")})
    return [k.value for k in ROBOT_KINDS if k.value in kinds]


def add_channel(platform: str, webhook_url: str, *, secret: str | None, kinds: list[str] | None,
                name: str | None, hosts_setting: tuple[str, ...], actor: User | None, via: str = "web") -> AlertChannel:
    url, secret = check_webhook(platform, webhook_url, secret, hosts_setting)
    channel = AlertChannel(platform=platform, name=_check_name(name, platform), webhook_url=url, secret=secret,
                           kinds=_check_kinds(kinds), recent_posts=[])
    db.session.add(channel)
    db.session.flush()
    record_event("channel.added", actor=actor, entity=channel, via=via, platform=platform, kinds=channel.kinds)
    return channel


def update_channel(channel: AlertChannel, *, webhook_url: str, secret: str | None, keep_secret: bool,
                   kinds: list[str], name: str | None, active: bool, hosts_setting: tuple[str, ...],
                   actor: User | None) -> None:
    """A changed robot starts afresh: a failing one is tried again and its kept messages go out."""
    url, new_secret = check_webhook(channel.platform, webhook_url, channel.secret if keep_secret else secret,
                                    hosts_setting)
    channel.webhook_url, channel.secret = url, new_secret
    channel.kinds, channel.name, channel.active = _check_kinds(kinds), _check_name(name, channel.platform), active
    _restore(channel)
    record_event("channel.changed", actor=actor, entity=channel, kinds=channel.kinds, active=active)


def _restore(channel: AlertChannel) -> None:
    if channel.state == FAILING:
        channel.state = OK
    db.session.execute(update(ChannelMessage).where(ChannelMessage.channel_id == channel.id,
                                                    ChannelMessage.state == HELD)
                       .values(state=QUEUED, next_attempt_at=utcnow()))
    after_commit_task("send_channel_messages")


def remove_channel(channel: AlertChannel, actor: User | None) -> None:
    record_event("channel.removed", actor=actor, entity=channel, platform=channel.platform)
    db.session.delete(channel)


def get_channel(channel_id: int) -> AlertChannel:
    channel = db.session.get(AlertChannel, channel_id) if 0 < channel_id < 2**31 else None
    if channel is None:
        raise NotFound("no_channel", _l("No such robot."))
    return channel


def list_channels() -> list[AlertChannel]:
    return list(db.session.execute(select(AlertChannel).order_by(AlertChannel.id)).scalars())


def waiting_counts() -> dict[int, int]:
    from sqlalchemy import func

    rows = db.session.execute(select(ChannelMessage.channel_id, func.count()).where(
        ChannelMessage.transport == "robot", ChannelMessage.state.in_([QUEUED, HELD]))
        .group_by(ChannelMessage.channel_id))
    return dict(rows.all())


# --- from alerts to the robots' queues ----------------------------------------------------------------------


def insert_messages(rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    created = 0
    for start in range(0, len(rows), 200):
        statement = insert(ChannelMessage).values(rows[start:start + 200]) \
            .on_conflict_do_nothing(index_elements=["key"]).returning(ChannelMessage.id)
        with db.session.no_autoflush:
            created += len(db.session.execute(statement).all())
    return created


def queue_alerts(notes: list[Notification], settings: Settings) -> int:
    """One message per robot and alert (its key, not its reader: a deadline told to three supervisors is one
    message in their group), in the deployment's language, @mentioning whoever must act. The caller commits."""
    channels = [c for c in list_channels() if c.active]
    if not channels or not notes:
        return 0
    by_key: dict[str, Notification] = {}
    for note in notes:
        by_key.setdefault(note.key, note)
    wanted = {key: note for key, note in by_key.items() if any(note.kind in c.kinds for c in channels)}
    if not wanted:
        return 0
    # Everyone the alert went to (all its rows, claimed in this batch or not), to mention those who must act.
    readers: dict[str, list[User]] = {}
    for key, user in db.session.execute(select(Notification.key, User).join(User, User.id == Notification.user_id)
                                        .where(Notification.key.in_(list(wanted)), User.active.is_(True))
                                        .order_by(User.id)).all():
        readers.setdefault(key, []).append(user)
    from .delivery import channels_of  # (delivery imports this module)

    tz, policy = settings.tz, current_policy()
    public_url = settings.site.public_url
    now = utcnow()
    rows = []
    with force_locale(settings.locale):
        for key, note in wanted.items():
            title, body = title_and_body(note, tz=tz, policy=policy)
            number = (note.params or {}).get("number")
            url = f"{public_url}/dispatch/requests/{number}" if number else f"{public_url}/notifications/"
            mentions = [[mobile, user.display_name] for user in readers.get(key, [])
                        if user.role in MENTIONED_ROLES and note.kind in channels_of(user)["robot"]
                        and (mobile := mobile_of(user.phone))]
            content = {"title": title, "body": body, "url": url, "mentions": mentions}
            for channel in channels:
                if note.kind in channel.kinds:
                    rows.append({"transport": "robot", "channel_id": channel.id, "key": f"robot:{channel.id}:{key}",
                                 "kind": note.kind, "ticket_id": note.ticket_id, "recipient": None,
                                 "content": content, "state": QUEUED, "attempts": 0, "next_attempt_at": now,
                                 "created_at": now})
    created = insert_messages(rows)
    if created:
        after_commit_task("send_channel_messages")
    return created


# --- sending ------------------------------------------------------------------------------------------------


Poster = Callable[[str, bytes], tuple[int, bytes]]


class _Session(requests.Session):
    def __init__(self):
        super().__init__()
        self.trust_env = False  # no proxy from the environment between us and the platform


_session: _Session | None = None


def http_post(url: str, data: bytes) -> tuple[int, bytes]:
    """POST the JSON body (no redirects followed: the checked host is the one called). Raises OSError-like
    requests errors when the platform cannot be reached."""
    global _session
    if _session is None:
        _session = _Session()
    response = _session.post(url, data=data, headers={"Content-Type": "application/json; charset=utf-8"},
                             timeout=HTTP_TIMEOUT, allow_redirects=False)
    return response.status_code, response.content[:20000]


def post_message(channel: AlertChannel, message: Message, now: datetime, poster: Poster | None = None) -> Answer:
    """Post one message to the robot and read the platform's answer (no database)."""
    platform = Platform(channel.platform)
    body = payload(platform, message, open_label=_("Open in the app"), more_label=_("Read the rest:"))
    url, data = signed_request(platform, channel.webhook_url, channel.secret, body, now)
    try:
        status, raw = (poster or http_post)(url, data)
    except (requests.RequestException, OSError) as error:
        # Named without the URL: its query holds the robot's token and signature.
        host = urlsplit(channel.webhook_url).hostname
        return Answer(Outcome.ERROR, None, f"{type(error).__name__}: {host} could not be reached")
    return read_answer(platform, status, raw)


def _recent(channel: AlertChannel, now: datetime) -> list[str]:
    since = now - WINDOW
    return [t for t in (channel.recent_posts or []) if datetime.fromisoformat(t) > since]


def budget(channel: AlertChannel, now: datetime) -> int:
    """How many posts the robot may still take in the minute ending now."""
    if channel.blocked_until is not None and channel.blocked_until > now:
        return 0
    return max(PER_MINUTE - len(_recent(channel, now)), 0)


def _note_post(channel: AlertChannel, now: datetime) -> None:
    channel.recent_posts = (_recent(channel, now) + [now.isoformat()])[-PER_MINUTE:]


def channels_due(now: datetime) -> list[int]:
    return list(db.session.execute(
        select(ChannelMessage.channel_id).distinct().join(AlertChannel)
        .where(ChannelMessage.transport == "robot", ChannelMessage.state == QUEUED,
               ChannelMessage.next_attempt_at <= now, AlertChannel.active.is_(True), AlertChannel.state == OK,
               or_(AlertChannel.blocked_until.is_(None), AlertChannel.blocked_until <= now))
        .order_by(ChannelMessage.channel_id)).scalars())


def claim_channel(channel_id: int, now: datetime, claim_for: timedelta = CLAIM_FOR) -> bool:
    """Hold the robot for one sender (the caller commits)."""
    return bool(db.session.execute(update(AlertChannel).where(
        AlertChannel.id == channel_id, or_(AlertChannel.claimed_until.is_(None), AlertChannel.claimed_until <= now))
        .values(claimed_until=now + claim_for)).rowcount)


def release_channel(channel_id: int) -> None:
    db.session.execute(update(AlertChannel).where(AlertChannel.id == channel_id).values(claimed_until=None))


@dataclass
class Post:
    ids: list[int]  # the first carries the post; the others are folded into it (a digest)
    message: Message


def _digest_line(content: dict[str, Any]) -> str:
    return f"- {content['title']}" + (f": {content['body']}" if content.get("body") else "")


def plan_posts(channel: AlertChannel, now: datetime, public_url: str) -> list[Post]:
    """What to post now: each waiting message alone while the minute allows, and when more wait than that, the
    minute's last post folds the rest into one digest (as many as fit; the others wait for the next minute)."""
    room = budget(channel, now)
    if room <= 0:
        return []
    if channel.blocked_until is not None:  # the platform refused us for speed: one digest first, then as usual
        room = 1
    waiting = db.session.execute(select(ChannelMessage).where(
        ChannelMessage.channel_id == channel.id, ChannelMessage.state == QUEUED,
        ChannelMessage.next_attempt_at <= now).order_by(ChannelMessage.id).limit(2000)).scalars().all()
    if len(waiting) <= room:
        return [Post([m.id], _as_message(m.content)) for m in waiting]
    posts = [Post([m.id], _as_message(m.content)) for m in waiting[:room - 1]]
    rest = waiting[room - 1:]
    limit = (WECOM_TEXT_LIMIT if channel.platform == Platform.WECOM else TEXT_LIMIT[Platform(channel.platform)]) \
        - 600
    lines, ids, mentions, size = [], [], {}, 0
    for m in rest:
        line = _digest_line(m.content)
        mention_size = sum(len(mobile) + len(name) + 6 for mobile, name in m.content.get("mentions", [])
                           if mobile not in mentions)
        if ids and size + len(line.encode()) + 1 + mention_size > limit:
            break
        lines.append(line)
        ids.append(m.id)
        size += len(line.encode()) + 1 + mention_size
        for mobile, name in m.content.get("mentions", []):
            mentions.setdefault(mobile, name)
    if len(ids) == 1:
        posts.append(Post(ids, _as_message(rest[0].content)))
    else:
        title = _("%(n)d alerts (the robot's limit of %(limit)d a minute was reached)", n=len(ids),
                  limit=PER_MINUTE)
        posts.append(Post(ids, Message(title, "\n".join(lines), f"{public_url}/notifications/",
                                       [(k, v) for k, v in mentions.items()])))
    return posts


def _as_message(content: dict[str, Any]) -> Message:
    return Message(content.get("title", ""), content.get("body", ""), content.get("url", ""),
                   [(m, n) for m, n in content.get("mentions", [])])


def mark_posting(post: Post, now: datetime, claim_for: timedelta = CLAIM_FOR) -> None:
    """Taken for this post (committed before it is made)."""
    db.session.execute(update(ChannelMessage).where(ChannelMessage.id.in_(post.ids))
                       .values(state=POSTING, next_attempt_at=now + claim_for))


def settle_unconfirmed(now: datetime) -> int:
    """Posts a killed worker left without an answer: unconfirmed, never sent again by themselves."""
    return db.session.execute(update(ChannelMessage).where(ChannelMessage.state == POSTING,
                                                           ChannelMessage.next_attempt_at <= now)
                              .values(state=UNCONFIRMED, last_answer="no answer recorded: the worker stopped while "
                                                                     "posting")).rowcount


def next_room_at(channel: AlertChannel, now: datetime) -> datetime:
    """When the robot can take a post again."""
    if channel.blocked_until is not None and channel.blocked_until > now:
        return channel.blocked_until
    recent = sorted(datetime.fromisoformat(t) for t in _recent(channel, now))
    return recent[0] + WINDOW if len(recent) >= PER_MINUTE else now


def pause_after(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_PAUSE)


def record_post(channel_id: int, post: Post, answer: Answer, now: datetime) -> Answer:
    """The post's outcome on the robot and its messages (the caller commits)."""
    channel = db.session.get(AlertChannel, channel_id)
    rows = db.session.execute(select(ChannelMessage).where(ChannelMessage.id.in_(post.ids))).scalars().all()
    carrier = post.ids[0]
    channel.last_answer = answer.describe()
    _note_post(channel, now)
    for row in rows:
        row.attempts += 1
        row.last_answer = answer.describe()
        if answer.outcome == Outcome.SENT:
            row.state, row.sent_at = (SENT if row.id == carrier else DIGESTED), now
            row.digest_id = None if row.id == carrier else carrier
        elif answer.outcome == Outcome.RATE_LIMITED:
            row.state, row.next_attempt_at = QUEUED, now + timedelta(seconds=BLOCKED_FOR[Platform(channel.platform)])
        elif answer.outcome == Outcome.BAD_SIGNATURE:
            row.state = HELD
        else:
            row.state, row.next_attempt_at = QUEUED, now + pause_after(row.attempts)
    if answer.outcome == Outcome.SENT:
        channel.blocked_until = None
    if answer.outcome == Outcome.RATE_LIMITED:
        channel.blocked_until = now + timedelta(seconds=BLOCKED_FOR[Platform(channel.platform)])
        log.warning("robot %s rate-limited (%s): waiting until %s", channel.id, answer.describe(),
                    channel.blocked_until)
    elif answer.outcome == Outcome.BAD_SIGNATURE:
        mark_failing(channel, answer, now)
    elif answer.outcome == Outcome.ERROR:
        log.warning("robot %s did not take message %s: %s", channel.id, carrier, answer.describe())
    return answer


def mark_failing(channel: AlertChannel, answer: Answer, now: datetime) -> None:
    """The platform refused the signature or the token: nothing more is sent, what waits is kept, the admins are
    told once (per failure)."""
    db.session.execute(update(ChannelMessage).where(ChannelMessage.channel_id == channel.id,
                                                    ChannelMessage.state == QUEUED).values(state=HELD))
    if channel.state == FAILING:
        return
    channel.state = FAILING
    log.error("robot %s (%s) refused: %s", channel.id, channel.platform, answer.describe())
    admins = db.session.execute(select(User.id).where(User.active.is_(True),
                                                      or_(User.role == Role.ADMIN, User.is_admin.is_(True)))
                                ).scalars().all()
    notify(admins, Kind.CHANNEL_FAILING, f"{channel.id}:{now.isoformat()}", channel=channel.name,
           platform=channel.platform, answer=answer.describe()[:300], channel_id=channel.id)


def send_test(channel: AlertChannel, settings: Settings, now: datetime,
              poster: Poster | None = None) -> Answer:
    """Post a test message at once and return the platform's answer (counted against the robot's minute). A robot
    that was failing and now answers is restored. The caller commits."""
    public_url = settings.site.public_url
    with force_locale(settings.locale):
        message = Message(_("Test message from %(company)s", company=settings.site.company),
                          _("Alerts will reach this group: %(kinds)s.",
                            kinds=", ".join(str(KIND_LABELS[Kind(k)]) for k in channel.kinds)),
                          f"{public_url}/")
        answer = post_message(channel, message, now, poster)
    channel.last_answer = answer.describe()
    _note_post(channel, now)
    if answer.outcome == Outcome.SENT and channel.state == FAILING:
        _restore(channel)
    elif answer.outcome == Outcome.BAD_SIGNATURE:
        mark_failing(channel, answer, now)
    return answer


def outbox_rows(limit: int = 200) -> list[ChannelMessage]:
    """What an administrator sees: unsent first, then the latest sent."""
    return list(db.session.execute(select(ChannelMessage).order_by(
        ChannelMessage.state.in_([SENT, DIGESTED]), ChannelMessage.id.desc()).limit(limit)).scalars())


def retry_now(message_id: int) -> None:
    db.session.execute(update(ChannelMessage).where(ChannelMessage.id == message_id,
                                                    ChannelMessage.state.in_([QUEUED, UNCONFIRMED]))
                       .values(state=QUEUED, next_attempt_at=utcnow()))
    after_commit_task("send_channel_messages")
