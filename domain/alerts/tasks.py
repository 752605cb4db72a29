"""The alerts' background work: the minute's deadline scan, delivering alerts (push, mail, robots), the mail, the
group robots' queues, the SMS, and the weekly report.

Each function owns its transactions through the unit of work, short ones: an item is claimed (committed) before it
is sent with no transaction open, and its answer recorded after, so two workers never send one twice and a worker
killed mid-send leaves the claim to expire. worker.py runs them (QUEUED by name, MINUTE every minute).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask_babel import force_locale

from ..core import uow
from ..core.db import db
from ..core.deferred import MinuteStep, QueuedTask, TaskEnv
from ..core.memory import rendered_one
from ..core.settings import MailSettings, Settings
from ..core.types import utcnow
from ..reporting import reports
from . import channels, delivery, mail, push, sms, weekly
from .delivery import claim_pending, deliver
from .scan import scan_deadlines
from .sms_providers import Provider


def scan_due_alerts(env: TaskEnv, now: datetime) -> int:
    with uow.transaction():
        return scan_deadlines(now, env.tz)


def deliver_alerts(settings: Settings) -> int:
    """Claim the alerts not delivered yet (committed first: never delivered twice), then push and queue mail."""
    with uow.transaction():
        claimed = claim_pending(utcnow())
    with uow.transaction():
        deliver(claimed, settings)
    return len(claimed)


def resend_failed_pushes(settings: Settings, now: datetime | None = None, pusher=None) -> int:
    """Send again the pushes the push service did not take (5xx, 429, no answer) whose pause is over: each claimed
    (committed), sent with no transaction open, its answer recorded."""
    now = now or utcnow()
    with uow.reading():
        ids = delivery.due_push_retries(now)
    if not ids:
        return 0
    pusher = pusher or push.pusher_for(settings.push)
    sent = 0
    for retry_id in ids:
        with uow.transaction():
            claimed = delivery.claim_push_retry(retry_id, now, settings.channels.claim_for)
        if not claimed:
            continue
        with uow.transaction():  # an alert no longer worth a push is dropped here
            job = delivery.push_retry_job(retry_id, settings, now)
        if job is None:
            continue
        status = pusher.send(*job)
        with uow.transaction():
            sent += delivery.record_push_retry(retry_id, status, max(now, utcnow()))
    return sent


def send_due_mail(settings: MailSettings, now: datetime | None = None) -> int:
    """Send the queued mail that is due: claimed, then sent with no transaction open, then recorded."""
    now = now or utcnow()
    sent = 0
    with uow.reading():
        ids = mail.due_mail(settings, now)
    for mail_id in ids:
        with uow.transaction():
            claimed = mail.claim(mail_id, settings, now)
        if not claimed:
            continue
        with uow.transaction():  # a mail held back records why; either way the read ends before the server is called
            message = mail.message_or_hold(mail_id, settings, now)
        if message is None:
            continue
        error = mail.try_send(settings, message)
        with uow.transaction():
            sent += mail.record_attempt(mail_id, error, now)
    return sent


def send_robot_messages(settings: Settings, now: datetime | None = None, poster=None,
                        come_back: Callable[[float], None] | None = None) -> int:
    """Post what waits in each robot's queue, within the platform's limit: the robot held by this sender, each
    post's messages taken (committed) before it is made with no transaction open, its answer recorded after. A
    robot at its limit with messages waiting: `come_back(seconds)` is told when it has room again."""
    posted = 0
    now = now or utcnow()
    claim_for = settings.channels.claim_for
    with uow.transaction():
        channels.settle_unconfirmed(now)
    with uow.reading():
        due = channels.channels_due(now)
    wake_at = None
    for channel_id in due:
        with uow.transaction():
            claimed = channels.claim_channel(channel_id, now, claim_for)
        if not claimed:
            continue
        try:
            posted += _post_channel(settings, channel_id, now, claim_for, poster)
            with uow.reading():
                if channels.waiting_counts().get(channel_id):  # at the robot's limit: come back when it has room
                    at = channels.next_room_at(db.session.get(channels.AlertChannel, channel_id), utcnow())
                    wake_at = at if wake_at is None else min(wake_at, at)
        finally:
            with uow.transaction():
                channels.release_channel(channel_id)
    if wake_at is not None and come_back is not None:
        come_back(max((wake_at - utcnow()).total_seconds(), 1))
    return posted


def _post_channel(settings: Settings, channel_id: int, now: datetime, claim_for: timedelta, poster) -> int:
    posted = 0
    with uow.reading(), force_locale(settings.locale):
        plan = channels.plan_posts(db.session.get(channels.AlertChannel, channel_id), now, settings.site.public_url)
    for post in plan:
        with uow.transaction():
            channels.mark_posting(post, utcnow(), claim_for)
        at = max(now, utcnow())  # (a test's clock may run ahead)
        with uow.reading(), force_locale(settings.locale):
            answer = channels.post_message(db.session.get(channels.AlertChannel, channel_id), post.message, at,
                                           poster)
        with uow.transaction():
            channels.record_post(channel_id, post, answer, at)
        posted += answer.outcome == "sent"
        if answer.outcome != "sent":
            break  # rate-limited, refused or down: the rest waits
    return posted


def send_due_sms(settings: Settings, now: datetime | None = None, sender=None) -> int:
    """Send the SMS that are due through SMS_PROVIDER (kept in the outbox while none is set): each claimed
    (committed), sent with no transaction open, its answer recorded."""
    now = now or utcnow()
    provider = Provider.from_settings(settings.sms)
    if provider is None:
        with uow.transaction():
            sms.hold_unsent(now)
        return 0
    claim_for = settings.channels.claim_for
    sent = 0
    with uow.reading():
        ids = sms.due_sms(now)
    for message_id in ids:
        with uow.transaction():
            claimed = sms.claim_sms(message_id, now, claim_for)
        if not claimed:
            continue
        with uow.transaction():  # a number at today's cap is recorded; the read ends before the provider is called
            request = sms.prepare(message_id, provider, settings.sms, settings.tz, utcnow())
        if request is None:
            continue
        answer = sms.send(provider, request, sender)
        with uow.transaction():
            sent += sms.record(message_id, answer, max(now, utcnow()))
    return sent


def deliver_weekly_report(env: TaskEnv, now: datetime) -> bool:
    """Last week's report on Monday 09:00 (TIMEZONE): stored, mailed, announced; once."""
    settings = env.settings
    week = weekly.week_due(now, env.tz)
    with uow.reading():
        stored = weekly.is_stored(week)
    if stored:
        return False
    locale = settings.locale
    with force_locale(locale):
        with uow.reading():  # nothing held while WeasyPrint lays the PDF out
            report, csv_data = weekly.build_report(week, now, env.tz)
        pdf_data = reports.report_pdf(report, company=settings.site.company, templates=env.templates,
                                      locale=locale)
        rendered_one()
        with uow.transaction(write_lock=True):
            return weekly.store_and_send(week, pdf_data, csv_data, settings.mail, now)


def _send_channel_messages(env: TaskEnv) -> int:
    """The group robots' queues and the SMS."""
    come_back = lambda seconds: env.schedule("send_channel_messages", seconds)  # noqa: E731
    return send_robot_messages(env.settings, come_back=come_back) + send_due_sms(env.settings)


QUEUED = (
    QueuedTask("deliver_notifications", lambda env: deliver_alerts(env.settings), retries=2, retry_delay=10),
    QueuedTask("send_mail", lambda env: send_due_mail(env.settings.mail)),
    QueuedTask("send_channel_messages", _send_channel_messages),
)

MINUTE = (
    MinuteStep("alerts", scan_due_alerts),
    MinuteStep("delivered", lambda env, now: deliver_alerts(env.settings)),
    MinuteStep("pushes", lambda env, now: resend_failed_pushes(env.settings, now)),
    MinuteStep("weekly", lambda env, now: int(deliver_weekly_report(env, now))),
    MinuteStep("mailed", lambda env, now: send_due_mail(env.settings.mail, now)),
    MinuteStep("robots", lambda env, now: send_robot_messages(
        env.settings, come_back=lambda seconds: env.schedule("send_channel_messages", seconds))),
    MinuteStep("sms", lambda env, now: send_due_sms(env.settings)),
)
