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
from huey.storage import SqliteStorage

from domain.alerts import tasks as alerts_tasks
from domain.core.deferred import QueuedTask, TaskEnv
from domain.core.memory import over_memory_budget, rss_bytes, set_growth_limit
from domain.core.settings import APP_KEY as SETTINGS_KEY
from domain.documents import tasks as documents_tasks
from domain.knowledge import tasks as knowledge_tasks

log = logging.getLogger(__name__)


class KickQueueStorage(SqliteStorage):
    """The embedded queue, its commits not waiting for the disk (SQLite's WAL with synchronous=NORMAL, not FULL).
    A task is a kick, the database the record of what is due (module docstring): a kick lost to a power cut is
    found again by the minute tick, and the queue file stays consistent. Waiting for the disk cost each queued task
    0.46 ms at the median and up to 6 ms on this machine's disk, inside the request that queued it (a signing batch
    queues two), against 0.06 ms."""

    def _create_connection(self):
        connection = super()._create_connection()
        connection.execute("pragma synchronous=NORMAL")
        return connection


def make_huey() -> Huey:
    """The queue from the environment (the same settings the app reads)."""
    redis_url = os.environ.get("HUEY_REDIS_URL")
    if redis_url:
        return RedisHuey("fieldservice", url=redis_url)
    instance = Path(os.environ.get("INSTANCE_PATH") or Path(__file__).resolve().parent / "instance")
    instance.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("fieldservice", filename=str(instance / "huey.db"), storage_class=KickQueueStorage)


huey = make_huey()
_worker_app: Flask | None = None

# What each package declares in its tasks.py: the tasks run by name, and the minute's steps in this order.
QUEUED = documents_tasks.QUEUED + alerts_tasks.QUEUED + knowledge_tasks.QUEUED
MINUTE = documents_tasks.MINUTE + alerts_tasks.MINUTE + knowledge_tasks.MINUTE


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
    install_runner(lambda name, args: enqueue(name, args))  # (looked up at each call: tests watch `enqueue`)


def set_worker_app(app: Flask) -> None:
    global _worker_app
    _worker_app = app


@contextmanager
def task_context():
    """A fresh application context (and so a fresh database session) for one task: inside a request in
    immediate mode, the request's own app; in the worker, the app the worker was started with."""
    if has_app_context():
        app = current_app._get_current_object()
    elif _worker_app is not None:
        app = _worker_app
    else:
        raise RuntimeError("no app for the worker's task: start it with `flask worker` (or call set_worker_app)")
    with app.app_context():
        from domain.core.db import db

        try:
            yield app
        finally:
            db.session.remove()


def task_env(app: Flask) -> TaskEnv:
    """The app's typed settings (built once by the app factory, domain/core/settings.py) for the task."""
    return TaskEnv(settings=app.extensions[SETTINGS_KEY], schedule=_schedule)


def _schedule(name: str, delay: float) -> None:
    """Run the named task again after `delay` seconds (not in immediate mode: the tests' clock is their own)."""
    if not huey.immediate and name in TASKS:
        TASKS[name].schedule(delay=delay)


def enqueue(name: str, args: tuple[Any, ...] = ()) -> None:
    task = TASKS.get(name)
    if task is None:
        log.error("unknown task %s", name)
        return
    try:
        task(*args)
    except Exception:  # noqa: BLE001 - a queue that is down must not fail the request that committed
        log.exception("could not start task %s; the minute tick will find the work", name)


def _queued(declared: QueuedTask):
    def run(*args: Any) -> Any:
        with task_context() as app:
            return declared.run(task_env(app), *args)

    run.__name__ = run.__qualname__ = declared.name
    return huey.task(retries=declared.retries, retry_delay=declared.retry_delay, name=declared.name)(run)


TASKS: dict[str, Callable[..., Any]] = {declared.name: _queued(declared) for declared in QUEUED}


def tick(now=None) -> dict[str, int]:
    """The minute's work, each package's steps in turn (documents, alerts, knowledge). A step that fails is logged
    and rolled back; the others still run (and the next minute tries it again)."""
    from domain.core import uow
    from domain.core.types import utcnow

    done: dict[str, int] = {}
    with task_context() as app:
        now = now or utcnow()
        env = task_env(app)
        for step in MINUTE:
            try:
                with uow.reading():  # a step owns its transactions; whatever a failing one left open goes with it
                    done[step.name] = step.run(env, now)
            except Exception:  # noqa: BLE001 - one failing step must not stop the others
                log.exception("minute tick: %s failed", step.name)
                done[step.name] = 0
    return done


@huey.periodic_task(crontab(minute="*"))
def minute_tick() -> dict[str, int]:
    return tick()


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
# How soon a task process that ended (recycled for its memory, every few renders of photos) is replaced: Huey's
# health check starts a fresh one. At 1 s a burst of 107 orders lost about a third of its time to empty slots.
HEALTH_CHECK_S = 0.2


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
                            check_worker_health=True, health_check_interval=HEALTH_CHECK_S, flush_locks=True,
                            max_delay=POLL_MAX)
    config.setup_logger()
    consumer = _recycling_consumer_class()(huey, **config.values)
    documents_tasks.before_workers_start()  # in this process, before it forks the workers: they inherit it
    consumer.run()
