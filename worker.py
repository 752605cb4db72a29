"""The background worker: Huey on an embedded SQLite queue in the instance folder (nothing to install), or on
Redis when HUEY_REDIS_URL is set (several app servers share one queue).

    flask worker                       # the consumer in the foreground (make run starts one beside the server)

Tasks are kicks: each reads what is due from the database (orders without a PDF or the seal, alerts not yet delivered,
mail not yet sent, last week's report not yet stored), so a task started twice does the work once, and work
whose task was lost (the worker killed mid-task) is found again by the minute tick.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey

log = logging.getLogger(__name__)


def make_huey() -> Huey:
    """The queue from the environment (the same settings the app reads)."""
    redis_url = os.environ.get("HUEY_REDIS_URL")
    if redis_url:
        return RedisHuey("fieldservice", url=redis_url)
    instance = Path(os.environ.get("INSTANCE_PATH") or Path(__file__).resolve().parent / "instance")
    instance.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("fieldservice", filename=str(instance / "huey.db"))


huey = make_huey()
_worker_app: Flask | None = None


def configure(app: Flask) -> None:
    """Called by the app factory: tests run tasks at once (HUEY_IMMEDIATE); the domain's after-commit hook
    enqueues the named tasks."""
    from domain.core.deferred import install_runner

    immediate = bool(app.config.get("HUEY_IMMEDIATE"))
    huey.immediate = immediate
    if not immediate and isinstance(huey, SqliteHuey):
        # The queue beside this app's database settings: the instance folder the app was created with.
        filename = str(Path(app.instance_path) / "huey.db")
        if huey.storage_kwargs.get("filename") != filename:
            huey.storage_kwargs = {**huey.storage_kwargs, "filename": filename}
            huey.storage = huey.create_storage()
    install_runner(enqueue)


def set_worker_app(app: Flask) -> None:
    global _worker_app
    _worker_app = app


@contextmanager
def task_context():
    """A fresh application context (and so a fresh database session) for one task: inside a request in
    immediate mode, the request's own app; in the worker, the worker's app."""
    global _worker_app
    if has_app_context():
        app = current_app._get_current_object()
    else:
        if _worker_app is None:
            from app import create_app

            _worker_app = create_app()
        app = _worker_app
    with app.app_context():
        from domain.core.db import db

        try:
            yield app
        finally:
            db.session.remove()


def enqueue(name: str, args: tuple[Any, ...] = ()) -> None:
    task = TASKS.get(name)
    if task is None:
        log.error("unknown task %s", name)
        return
    try:
        task(*args)
    except Exception:  # noqa: BLE001 - a queue that is down must not fail the request that committed
        log.exception("could not start task %s; the minute tick will find the work", name)


# --- the memory budget of a task process ---------------------------------------------------------------------
#
# WeasyPrint (Pango, fontconfig, HarfBuzz) keeps ~235 KB of native memory per PDF that the process never returns.
# A task process measures its size once warmed up (after WARMUP_RENDERS renders: fonts and caches loaded), and
# stops rendering once it grew `WORKER_MAX_GROWTH` percent (8) over it: the task at hand hands what is left to the
# queue, the process exits after it and the consumer starts a fresh one. 8% leaves room for the one render
# between two checks, so a process never passes 10%. WORKER_MAX_TASKS recycles as well, after that many tasks.

WARMUP_RENDERS = 3
_memory = {"renders": 0, "warm": None, "growth": None}


def rss_bytes() -> int:
    """This process's resident size (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def set_growth_limit(percent: int | None) -> None:
    """Called in the worker (`flask worker`): web processes are recycled by gunicorn's --max-requests."""
    _memory["growth"] = percent / 100 if percent else None


def rendered_one() -> None:
    """Count a PDF rendered in this process; the size after WARMUP_RENDERS is its warmed-up size."""
    _memory["renders"] += 1
    if _memory["renders"] == WARMUP_RENDERS:
        _memory["warm"] = rss_bytes()


def over_memory_budget() -> bool:
    warm, growth = _memory["warm"], _memory["growth"]
    return bool(warm and growth) and rss_bytes() > warm * (1 + growth)


def _tz(app: Flask):
    from zoneinfo import ZoneInfo

    return ZoneInfo(app.config["TIMEZONE"])


# --- the work: each function owns its transactions (short ones, none held while rendering or sending) -----


def render_pending_orders(now=None) -> int:
    """Render every order still without a PDF (at once after signing, with backoff after a failure)."""
    from domain.core import uow
    from domain.core.db import take_write_lock
    from domain.core.types import utcnow
    from domain.documents.orders import orders_to_render, prepare_render, run_render, store_render

    rendered = 0
    ids = orders_to_render(now or utcnow())
    uow.rollback()
    for order_id in ids:
        job = prepare_render(order_id)
        uow.rollback()  # the read ends here: no transaction (no SQLite write lock) while WeasyPrint works
        if job is None:
            continue
        pdf, error = run_render(job)
        rendered_one()
        take_write_lock()
        rendered += bool(store_render(job, pdf, error))
        uow.commit()
        if over_memory_budget() and order_id != ids[-1]:
            # The rest goes to a fresh process: this one exits after the task (RecyclingWorker).
            log.info("render process grew past its budget (%d MB): handing over", rss_bytes() >> 20)
            enqueue("render_orders")
            break
    return rendered


def seal_pending_orders(now=None) -> int:
    """Seal every rendered order still without the company seal whose try is due, holding no transaction while
    pyHanko and the time-stamping authority work. When one fails for the authority or the key, the others due now
    are recorded as failed with the same reason rather than each waiting out the authority's timeout."""
    from domain.core import uow
    from domain.core.db import take_write_lock
    from domain.core.site import current as current_site
    from domain.core.types import utcnow
    from domain.documents.orders import orders_to_seal, prepare_seal, run_seal, store_seal

    now = now or utcnow()
    site = current_site()
    sealed = 0
    ids = orders_to_seal(now)
    uow.rollback()
    failure = None
    for order_id in ids:
        job = prepare_seal(order_id)
        uow.rollback()
        if job is None:
            continue
        result, error = (None, failure) if failure else run_seal(job, site)
        failure = failure or error
        take_write_lock()
        sealed += bool(store_seal(job, result, error, now))
        uow.commit()
    return sealed


def deliver_alerts(config) -> int:
    """Claim the alerts not delivered yet (committed first: never delivered twice), then push and queue mail."""
    from domain.alerts.delivery import claim_pending, deliver
    from domain.core import uow
    from domain.core.types import utcnow

    claimed = claim_pending(utcnow())
    uow.commit()
    deliver(claimed, config)
    uow.commit()
    return len(claimed)


def send_due_mail(config, now=None) -> int:
    """Send the queued mail that is due: claimed, then sent with no transaction open, then recorded."""
    from domain.alerts import mail
    from domain.core import uow
    from domain.core.types import utcnow

    now = now or utcnow()
    sent = 0
    ids = mail.due_mail(config, now)
    uow.rollback()
    for mail_id in ids:
        claimed = mail.claim(mail_id, config, now)
        uow.commit()
        if not claimed:
            continue
        message = mail.message_or_hold(mail_id, config, now)
        if message is None:
            uow.commit()
            continue
        uow.rollback()
        error = mail.try_send(config, message)
        sent += mail.record_attempt(mail_id, error, now)
        uow.commit()
    return sent


def send_robot_messages(config, now=None, poster=None) -> int:
    """Post what waits in each robot's queue, within the platform's limit: the robot held by this sender, each
    post's messages taken (committed) before it is made with no transaction open, its answer recorded after."""
    from datetime import timedelta

    from domain.alerts import channels
    from domain.core import uow
    from domain.core.types import utcnow

    posted = 0
    now = now or utcnow()
    claim_for = timedelta(seconds=int(config.get("CHANNEL_CLAIM_SECONDS") or 120))
    if channels.settle_unconfirmed(now):
        uow.commit()
    due = channels.channels_due(now)
    uow.rollback()
    wake_at = None
    public_url = (config.get("PUBLIC_URL") or "").rstrip("/")
    for channel_id in due:
        if not channels.claim_channel(channel_id, now, claim_for):
            uow.rollback()
            continue
        uow.commit()
        try:
            channel = db_get(channels.AlertChannel, channel_id)
            with _default_locale(config):
                plan = channels.plan_posts(channel, now, public_url)
            for post in plan:
                channels.mark_posting(post, utcnow(), claim_for)
                uow.commit()
                channel = db_get(channels.AlertChannel, channel_id)
                at = max(now, utcnow())  # (a test's clock may run ahead)
                with _default_locale(config):
                    answer = channels.post_message(channel, post.message, at, poster)
                uow.rollback()
                channels.record_post(channel_id, post, answer, at)
                uow.commit()
                posted += answer.outcome == "sent"
                if answer.outcome != "sent":
                    break  # rate-limited, refused or down: the rest waits
            channel = db_get(channels.AlertChannel, channel_id)
            if channels.waiting_counts().get(channel_id):  # at the robot's limit: come back when it has room
                at = channels.next_room_at(channel, utcnow())
                wake_at = at if wake_at is None else min(wake_at, at)
        finally:
            uow.rollback()
            channels.release_channel(channel_id)
            uow.commit()
    if wake_at is not None and not huey.immediate:
        delay = max((wake_at - utcnow()).total_seconds(), 1)
        send_channel_messages.schedule(delay=delay)
    return posted


def send_due_sms(config, now=None, sender=None) -> int:
    """Send the SMS that are due through SMS_PROVIDER (kept in the outbox while none is set): each claimed
    (committed), sent with no transaction open, its answer recorded."""
    from datetime import timedelta

    from domain.alerts import sms
    from domain.alerts.sms_providers import Provider
    from domain.core import uow
    from domain.core.types import utcnow

    now = now or utcnow()
    provider = Provider.from_config(config)
    if provider is None:
        held = sms.hold_unsent(now)
        uow.commit() if held else uow.rollback()
        return 0
    claim_for = timedelta(seconds=int(config.get("CHANNEL_CLAIM_SECONDS") or 120))
    sent = 0
    ids = sms.due_sms(now)
    uow.rollback()
    for message_id in ids:
        claimed = sms.claim_sms(message_id, now, claim_for)
        uow.commit()
        if not claimed:
            continue
        request = sms.prepare(message_id, provider, config, utcnow())
        if request is None:  # the number's cap for today: recorded
            uow.commit()
            continue
        uow.rollback()
        answer = sms.send(provider, request, sender)
        sent += sms.record(message_id, answer, max(now, utcnow()))
        uow.commit()
    return sent


@contextmanager
def _default_locale(config):
    from flask_babel import force_locale

    with force_locale(config.get("BABEL_DEFAULT_LOCALE") or "zh_CN"):
        yield


def deliver_weekly_report(config, now) -> bool:
    """Last week's report on Monday 09:00 (TIMEZONE): stored, mailed, announced; once."""
    from zoneinfo import ZoneInfo

    from flask_babel import force_locale

    from domain.alerts import weekly
    from domain.core import uow
    from domain.core.db import take_write_lock
    from domain.reporting import reports

    tz = ZoneInfo(config["TIMEZONE"])
    week = weekly.week_due(now, tz)
    if weekly.is_stored(week):
        uow.rollback()
        return False
    from flask import current_app

    locale = config.get("BABEL_DEFAULT_LOCALE") or "zh_CN"
    with force_locale(locale):
        report, csv_data = weekly.build_report(week, now, tz)
        uow.rollback()  # nothing held while WeasyPrint lays the PDF out
        pdf_data = reports.report_pdf(report, company=config["COMPANY_NAME"], templates=current_app.jinja_env,
                                      locale=locale)
        rendered_one()
        take_write_lock()
        delivered = weekly.store_and_send(week, pdf_data, csv_data, config, now)
    uow.commit()
    return delivered


# --- tasks ------------------------------------------------------------------------------------------------


@huey.task(retries=2, retry_delay=30)
def render_orders() -> int:
    with task_context():
        return render_pending_orders()


@huey.task()
def seal_orders() -> int:
    # No Huey retries: a failed seal is recorded on the order and retried by the minute tick with its backoff.
    with task_context():
        return seal_pending_orders()


@huey.task(retries=2, retry_delay=10)
def deliver_notifications() -> int:
    with task_context() as app:
        return deliver_alerts(app.config)


@huey.task()
def send_mail() -> int:
    with task_context() as app:
        return send_due_mail(app.config)


@huey.task()
def send_channel_messages() -> int:
    """The group robots' queues and the SMS."""
    with task_context() as app:
        return send_robot_messages(app.config) + send_due_sms(app.config)


def build_export_zip(job_id: int, tz) -> str:
    """The ZIP of an archive selection, with its progress written as it goes (the page polls it)."""
    import io
    import zipfile

    from domain.core import uow
    from domain.core.types import utcnow
    from domain.documents import archive

    job = archive.claim_export(job_id, utcnow())
    if job is None:
        uow.rollback()
        return "nothing"
    ids = archive.export_order_ids(job, tz)
    job.total, job.done = len(ids), 0
    uow.commit()
    buffer, missing = io.BytesIO(), []
    try:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zip_file:
            for done, order_id in enumerate(ids, start=1):
                number = archive.add_to_zip(zip_file, order_id)
                if number:
                    missing.append(number)
                if done % 20 == 0 or done == len(ids):
                    archive.export_progress(job_id, done, utcnow())  # the lease renewed with the progress
                    uow.commit()
            if missing:
                zip_file.writestr("MISSING.txt", "\n".join(missing) + "\n")
    except Exception as error:  # noqa: BLE001 - the page says it failed instead of spinning forever
        log.exception("export %s failed", job_id)
        uow.rollback()
        archive.finish_export(job_id, None, f"{type(error).__name__}: {error}"[:500])
        uow.commit()
        return "failed"
    archive.finish_export(job_id, buffer.getvalue())
    uow.commit()
    return "done"


def db_get(model, ident):
    from domain.core.db import db

    return db.session.get(model, ident)


@huey.task(retries=1, retry_delay=30)
def build_export(job_id: int) -> str:
    with task_context() as app:
        return build_export_zip(job_id, _tz(app))


def build_manual_pdf(job_id: int, app: Flask) -> str:
    """The FAQ manual of one selection: the job marked running (a short write), its HTML read, then WeasyPrint with
    no transaction open, then the PDF stored."""
    from domain.core import uow
    from domain.core.db import take_write_lock
    from domain.knowledge import kb

    take_write_lock()
    claimed = kb.claim_manual(job_id)
    uow.commit()
    if not claimed:
        return "nothing"
    articles = 0
    try:
        html, articles = kb.manual_job_html(job_id, company=app.config["COMPANY_NAME"], tz=_tz(app),
                                            templates=app.jinja_env)
        uow.rollback()  # the read ends here: nothing held while WeasyPrint lays the manual out
        pdf, error = kb.manual_pdf(html), None
        rendered_one()
    except Exception as failure:  # noqa: BLE001 - the page says it failed instead of spinning forever
        log.exception("manual %s failed", job_id)
        uow.rollback()
        pdf, error = None, f"{type(failure).__name__}: {failure}"[:500]
    take_write_lock()
    kb.finish_manual(job_id, pdf, error, articles)
    uow.commit()
    return "done" if pdf is not None else "failed"


@huey.task(retries=1, retry_delay=30)
def build_manual(job_id: int) -> str:
    with task_context() as app:
        return build_manual_pdf(job_id, app)


def tick(now=None) -> dict[str, int]:
    """The minute's work: alerts due, their delivery, PDFs, the weekly report, mail. A step that fails is logged
    and rolled back; the others still run (and the next minute tries it again)."""
    from domain.alerts.scan import scan_deadlines
    from domain.core import uow
    from domain.core.types import utcnow

    done: dict[str, int] = {}
    with task_context() as app:
        now = now or utcnow()

        def scan() -> int:
            created = scan_deadlines(now, _tz(app))
            uow.commit()
            return created

        def requeue(find_lost: Callable[[Any], list[int]], task: str) -> int:
            lost = find_lost(now)
            uow.rollback()
            for job_id in lost:
                enqueue(task, (job_id,))
            return len(lost)

        from domain.documents.archive import lost_export_jobs
        from domain.knowledge.kb import lost_manual_jobs

        steps = {"alerts": scan, "delivered": lambda: deliver_alerts(app.config),
                 "rendered": lambda: render_pending_orders(now), "sealed": lambda: seal_pending_orders(now),
                 "weekly": lambda: int(deliver_weekly_report(app.config, now)),
                 "mailed": lambda: send_due_mail(app.config, now),
                 "robots": lambda: send_robot_messages(app.config), "sms": lambda: send_due_sms(app.config),
                 "manuals": lambda: requeue(lost_manual_jobs, "build_manual"),
                 "exports": lambda: requeue(lost_export_jobs, "build_export")}
        for name, step in steps.items():
            try:
                done[name] = step()
            except Exception:  # noqa: BLE001 - one failing step must not stop the others
                log.exception("minute tick: %s failed", name)
                uow.rollback()
                done[name] = 0
    return done


@huey.periodic_task(crontab(minute="*"))
def minute_tick() -> dict[str, int]:
    return tick()


TASKS: dict[str, Callable[..., Any]] = {
    "render_orders": render_orders,
    "seal_orders": seal_orders,
    "deliver_notifications": deliver_notifications,
    "send_mail": send_mail,
    "send_channel_messages": send_channel_messages,
    "build_export": build_export,
    "build_manual": build_manual,
}


def _recycling_consumer_class():
    from huey.consumer import Consumer, Worker, WorkerRecycle

    class RecyclingWorker(Worker):
        """Huey's worker, which also ends its process after a task once the process grew past its memory
        budget (the consumer's health check starts a fresh one, as after WORKER_MAX_TASKS)."""

        def loop(self, now=None):
            super().loop(now)
            if over_memory_budget():
                self._logger.info("Worker grew to %d MB, past its budget: recycling.", rss_bytes() >> 20)
                raise WorkerRecycle()

    class RecyclingConsumer(Consumer):
        worker_class = RecyclingWorker

    return RecyclingConsumer


def lower_priority(nice: int) -> None:
    """Lower this process's CPU priority by `nice`, and, when it leads a session of its own (a service manager's
    unit, `setsid`), that session's too. Where Linux groups processes by session (autogroup, on by default) a
    process's nice ranks it only within its session: a worker alone in its own took as much CPU as all the web
    servers together. A session it shares (a terminal, `make run`) keeps its priority: lowering it would lower
    the web server and the shell beside the worker."""
    os.nice(nice)
    if os.getsid(0) != os.getpid():
        return
    try:
        with open("/proc/self/autogroup", "w") as group:
            group.write(str(nice))
    except OSError:  # not Linux, or no autogroup: the process's nice is all there is
        pass


POLL_MAX = 1.0  # seconds: the longest pause of an idle consumer between two reads of the queue


def run_consumer(app: Flask, *, workers: int, max_tasks: int | None, max_growth: int | None = None,
                 nice: int = 0) -> None:
    """The consumer in the foreground. Workers are processes, recycled after `max_tasks` tasks and once grown
    `max_growth` percent over their warmed-up size: WeasyPrint keeps native memory it never returns, so a
    long-lived renderer only grows. `nice` lowers the CPU priority of the consumer and its processes: on a
    machine shared with the web servers, a burst of renders waits for the phones' answers, not the reverse."""
    from huey.consumer_options import ConsumerConfig

    if nice > 0:
        lower_priority(nice)
    set_worker_app(app)
    set_growth_limit(max_growth)
    # An idle consumer polls the SQLite queue at most POLL_MAX seconds apart (Huey's default backs off to 10 s): an
    # alert queued after a quiet spell reaches its robot, phone or SMS within about a second, not ten.
    config = ConsumerConfig(workers=workers, worker_type="process", periodic=True, max_tasks=max_tasks,
                            check_worker_health=True, health_check_interval=1, flush_locks=True,
                            max_delay=POLL_MAX)
    config.setup_logger()
    consumer = _recycling_consumer_class()(huey, **config.values)
    consumer.run()
