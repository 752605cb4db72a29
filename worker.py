"""The background worker: Huey on an embedded SQLite queue in the instance folder (nothing to install), or on
Redis when HUEY_REDIS_URL is set (several app servers share one queue).

    flask worker                       # the consumer in the foreground (make run starts one beside the server)

Tasks are kicks: each reads what is due from the database (orders without a PDF, alerts not yet delivered,
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


def _tz(app: Flask):
    from zoneinfo import ZoneInfo

    return ZoneInfo(app.config["TIMEZONE"])


# --- tasks ------------------------------------------------------------------------------------------------


@huey.task(retries=2, retry_delay=30)
def render_orders() -> int:
    """Render every order still without a PDF (now and with backoff after a failure)."""
    from domain.core.types import utcnow
    from domain.documents.orders import orders_to_render, render_detached

    rendered = 0
    with task_context():
        for order_id in orders_to_render(utcnow()):
            rendered += bool(render_detached(order_id))
    return rendered


@huey.task(retries=2, retry_delay=10)
def deliver_notifications() -> int:
    """Push and e-mail the alerts not delivered yet."""
    from domain.alerts.delivery import deliver_pending

    with task_context() as app:
        return deliver_pending(app.config)


@huey.task()
def send_mail() -> int:
    """Send the queued mail that is due (a failure is retried later with backoff, never dropped)."""
    from domain.alerts.mail import send_due

    with task_context() as app:
        return send_due(app.config)


def tick(now=None) -> dict[str, int]:
    """The minute's work, in the order it matters: alerts due, their delivery, PDFs, mail, the weekly report."""
    from domain.alerts.delivery import deliver_pending
    from domain.alerts.mail import send_due
    from domain.alerts.scan import scan_deadlines
    from domain.alerts.weekly import deliver_weekly_report
    from domain.core.db import db
    from domain.core.types import utcnow
    from domain.documents.orders import orders_to_render, render_detached

    done: dict[str, int] = {}
    with task_context() as app:
        now = now or utcnow()
        done["alerts"] = scan_deadlines(now, _tz(app))
        db.session.commit()
        done["delivered"] = deliver_pending(app.config)
        done["rendered"] = sum(bool(render_detached(i)) for i in orders_to_render(now))
        done["weekly"] = int(deliver_weekly_report(now, app.config))
        db.session.commit()
        done["mailed"] = send_due(app.config, now=now)
    return done


@huey.periodic_task(crontab(minute="*"))
def minute_tick() -> dict[str, int]:
    return tick()


TASKS: dict[str, Callable[..., Any]] = {
    "render_orders": render_orders,
    "deliver_notifications": deliver_notifications,
    "send_mail": send_mail,
}


def run_consumer(app: Flask, *, workers: int, max_tasks: int | None) -> None:
    """The consumer in the foreground. Workers are processes, recycled after `max_tasks` tasks: WeasyPrint
    keeps native memory it never returns, so a long-lived renderer only grows."""
    from huey.consumer_options import ConsumerConfig

    set_worker_app(app)
    config = ConsumerConfig(workers=workers, worker_type="process", periodic=True, max_tasks=max_tasks,
                            check_worker_health=True, health_check_interval=1, flush_locks=True)
    config.setup_logger()
    consumer = huey.create_consumer(**config.values)
    consumer.run()
