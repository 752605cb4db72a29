"""Background tasks started once the transaction has committed, and never for one rolled back.

The domain names the task (`after_commit_task("deliver_notifications")`); the unit of work (`uow.after_commit`)
starts it after the commit; the application installs the runner that turns a name into a queued worker task
(worker.py). Every task reads its state from the database, so a task started twice finds nothing more to do.

Each package declares its tasks beside its rules, in `domain/<package>/tasks.py` (QUEUED: tasks run by name;
MINUTE: the steps of the minute tick); worker.py only runs them. A task owns its transactions through the unit of
work (`uow.transaction()`, `uow.reading()`), short ones, none held while it renders, seals or sends.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

from . import uow
from .db import db
from .settings import Settings

_runner: Callable[[str, tuple[Any, ...]], None] | None = None


def install_runner(runner: Callable[[str, tuple[Any, ...]], None] | None) -> None:
    global _runner
    _runner = runner


@dataclass(frozen=True)
class _StartTask:
    name: str
    args: tuple[Any, ...] = ()

    def __call__(self) -> None:
        if _runner is not None:
            _runner(self.name, self.args)


def after_commit_task(name: str, *args: Any) -> None:
    """Start the named worker task after the commit (once per name and arguments in a transaction)."""
    job = _StartTask(name, args)
    if job not in db.session.info.get(uow.QUEUE_KEY, []):
        uow.after_commit(job)


def start_task(name: str, *args: Any) -> None:
    """Start the named worker task now, outside any transaction's outcome: a task handing the rest of its work to a
    fresh process, the minute tick queueing a job whose task was lost."""
    if _runner is not None:
        _runner(name, args)


def requeue_lost(find_lost: Callable[[datetime], list[int]], name: str, now: datetime) -> int:
    """Queue the named task again for each job `find_lost(now)` finds (queued long ago, or running past its lease):
    the minute tick's recovery of a worker killed mid-job."""
    with uow.reading():
        lost = find_lost(now)
    for job_id in lost:
        start_task(name, job_id)
    return len(lost)


# --- what each package declares in its tasks.py (worker.py turns them into queued tasks and the minute's steps) --


@dataclass(frozen=True)
class TaskEnv:
    """What a task may read of the deployment: its typed settings (domain/core/settings.py, with the print
    templates in `settings.site`), and how to come back later (the worker schedules the named task after `delay`
    seconds; in tests, nothing)."""
    settings: Settings
    schedule: Callable[[str, float], None] = lambda name, delay: None

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.site.tz

    @property
    def templates(self) -> Environment | None:
        return self.settings.site.templates


@dataclass(frozen=True)
class QueuedTask:
    """A task the queue runs by name (`after_commit_task(name)`, `start_task(name)`), with Huey's retries."""
    name: str
    run: Callable[..., Any]  # run(env, *args)
    retries: int = 0
    retry_delay: int = 0


@dataclass(frozen=True)
class MinuteStep:
    """One step of the minute tick: run(env, now) returns how many things it did; a step that fails is rolled back
    and logged, and the next minute tries again."""
    name: str
    run: Callable[[TaskEnv, datetime], int]
