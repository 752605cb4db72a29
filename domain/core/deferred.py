"""Work started once the current transaction has committed, and never for one rolled back.

The domain names the work (`after_commit("deliver_notifications")`); the application installs the runner that
turns a name into a background task (worker.py). Every such task reads its state from the database, so a task
started twice, or started for a savepoint later rolled back, finds nothing more to do.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from .db import db

_KEY = "after_commit"
_runner: Callable[[str, tuple[Any, ...]], None] | None = None


def install_runner(runner: Callable[[str, tuple[Any, ...]], None] | None) -> None:
    global _runner
    _runner = runner


def after_commit(name: str, *args: Any) -> None:
    """Queue the named task for after the commit of the session's transaction (once per name and arguments)."""
    pending: list = db.session.info.setdefault(_KEY, [])
    if (name, args) not in pending:
        pending.append((name, args))


@event.listens_for(Session, "after_commit")
def _run_deferred(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the work waits for the real commit
        return
    pending = session.info.pop(_KEY, None)
    if not pending or _runner is None:
        return
    for name, args in pending:
        _runner(name, args)


@event.listens_for(Session, "after_soft_rollback")
def _forget_deferred(session: Session, previous_transaction) -> None:
    # Only the whole transaction's rollback forgets the work; a savepoint rolled back (one rejected sync op)
    # leaves the batch's other work queued, and a task started for nothing finds nothing to do.
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)
