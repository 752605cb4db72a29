"""Background tasks started once the transaction has committed, and never for one rolled back.

The domain names the task (`after_commit_task("deliver_notifications")`); the unit of work (`uow.after_commit`)
starts it after the commit; the application installs the runner that turns a name into a queued worker task
(worker.py). Every task reads its state from the database, so a task started twice finds nothing more to do.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import uow
from .db import db

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
