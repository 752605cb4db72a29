"""The unit of work: one owner of the transaction per request or command (as Indico's request handler and
cosmicpython's unit of work).

Nothing in a view or a domain action commits. The owner (the web request, see `blueprints/core/transaction.py`,
or a CLI command) calls `commit()` once at the end, or `rollback()` on any error. A concurrent change to a
request (its optimistic-lock version moved: SQLAlchemy's StaleDataError) becomes the 409 `changed_meanwhile`
Conflict here and only here. Work that must only happen once the data is safe (rendering a service order's PDF,
later a notification) is queued with `after_commit` and dropped on rollback. `attempt` runs one domain action
inside a savepoint, so that a refused action leaves nothing half-written in the request's transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from .db import JOINED_KEY, db, drop_joined, joined_count, take_write_lock, transaction_aborted
from .errors import Conflict

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE_KEY = "after_commit"


def after_commit(job: Callable[[], object]) -> None:
    """Run `job` after the current transaction commits (never if it rolls back). A job runs in its own small
    transaction, committed after it; a failing job is logged and rolled back, the committed work stays. A job
    must look its data up again (by number or id): what it was queued for may have been rolled back since."""
    db.session.info.setdefault(QUEUE_KEY, []).append(job)


def _stale(numbers: list[str]) -> Conflict:
    return Conflict("changed_meanwhile",
                    _l("Request %(number)s was changed by someone else meanwhile. Nothing was changed; "
                       "check it and try again.", number=", ".join(numbers) or "-"))


def _dirty_request_numbers() -> list[str]:
    # Requests are the only versioned rows (an optimistic-lock version column): a stale write is always one of the
    # changed requests, named by their number.
    return sorted({obj.number for obj in db.session.dirty
                   if obj.__mapper__.version_id_col is not None and getattr(obj, "number", None)})


def flush() -> None:
    """Write pending changes now; a stale request version becomes the Conflict (the transaction, or the
    savepoint it happened in, is rolled back first: the session must be usable to word the message)."""
    numbers = _dirty_request_numbers()
    try:
        db.session.flush()
    except StaleDataError:
        savepoint = db.session().get_nested_transaction()
        if savepoint is not None:
            savepoint.rollback()
        else:
            rollback()
        raise _stale(numbers) from None


class TransactionAborted(RuntimeError):
    """A statement failed and its error went unseen: the database has aborted the transaction."""


def commit() -> None:
    """Commit the transaction, then run the jobs queued for after it. Raises Conflict (after rolling back)
    when a request was changed concurrently, TransactionAborted when the database already gave it up."""
    numbers = _dirty_request_numbers()
    try:
        _refuse_aborted()
        db.session.commit()
    except StaleDataError:
        rollback()
        raise _stale(numbers) from None
    except BaseException:
        rollback()
        raise
    db.session.info.pop(JOINED_KEY, None)
    _run_after_commit()


def _refuse_aborted() -> None:
    """PostgreSQL aborts a transaction at its first failed statement, and the COMMIT of an aborted transaction
    rolls it back without an error (psycopg does not raise either). Were a failure ever caught and not raised on,
    the request would answer as if stored what was lost: it fails instead (a phone sends its batch again)."""
    session = db.session()
    if not session.in_transaction():
        return
    if transaction_aborted(session.connection().connection.dbapi_connection):
        log.error("the transaction was aborted by a failed statement whose error was not raised: rolled back")
        raise TransactionAborted("the database aborted this transaction; nothing was stored")


def rollback() -> None:
    """Undo the transaction and drop the work queued for after it."""
    db.session.info.pop(QUEUE_KEY, None)
    db.session.info.pop(JOINED_KEY, None)
    db.session.rollback()


def _run_after_commit() -> None:
    while jobs := db.session.info.pop(QUEUE_KEY, None):
        for job in jobs:
            try:
                job()
                db.session.commit()
            except Exception:  # noqa: BLE001 - the committed work must stand whatever a follow-up does
                log.exception("after-commit job %r failed", job)
                db.session.info.pop(QUEUE_KEY, None)
                db.session.rollback()


@contextmanager
def transaction(*, write_lock: bool = False) -> Iterator[None]:
    """Own a transaction outside a web request (a CLI command, a worker task's step): commit at the end, roll back
    on any error. `write_lock` takes SQLite's write lock first (a step that reads then writes, beside other writers,
    must not meet a lock it cannot upgrade)."""
    try:
        if write_lock:
            take_write_lock()
        yield
    except BaseException:
        rollback()
        raise
    commit()


@contextmanager
def reading() -> Iterator[None]:
    """A read that ends with the block (rolled back, whatever happens): a worker task reads what it needs, then
    renders, seals or sends with no transaction open (no SQLite write lock, no PostgreSQL snapshot held)."""
    try:
        yield
    finally:
        rollback()


@contextmanager
def savepoint() -> Iterator[None]:
    """The block's writes kept only if it ends normally: if it raises, everything it wrote is undone (a savepoint),
    with the jobs it queued for after the commit and the rows it joined to the session, and the error is raised on;
    the rest of the transaction is untouched. (On SQLite the transaction must have begun: `take_write_lock()`.)"""
    queued, joined = len(db.session.info.get(QUEUE_KEY, [])), joined_count()
    nested = db.session.begin_nested()
    try:
        yield
    except BaseException:
        if nested.is_active:  # (a stale flush already rolled it back)
            nested.rollback()
        del db.session.info.get(QUEUE_KEY, [])[queued:]
        drop_joined(joined)
        raise
    nested.commit()


def attempt(action: Callable[[], T]) -> T:
    """Run one domain action in a savepoint: if it raises a DomainError (or its writes meet a stale request
    version), everything it wrote is undone and the error is raised for the caller to show; the rest of the
    request's transaction is untouched."""
    # SQLite's driver starts no transaction before a SAVEPOINT: begin one, so the savepoint nests in it.
    take_write_lock()
    with savepoint():
        result = action()
        flush()
    return result
