"""The SQLAlchemy base and the Flask-SQLAlchemy handle."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, MetaData, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, make_transient_to_detached, registry

from .types import UTCDateTime

# Alembic needs deterministic constraint names to alter or drop them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    # A registry rather than a `type_annotation_map` attribute: Flask-SQLAlchemy subclasses the base,
    # and SQLAlchemy refuses a per-class map on a subclass.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={
            datetime: UTCDateTime(),
            dict[str, Any]: JSON(),
            list[Any]: JSON(),
        },
    )


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):  # pragma: no cover - trivial
    # Foreign keys are off by default in SQLite; WAL lets readers work while a sync writes.
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def take_write_lock() -> None:
    """On SQLite, start the transaction as a writer (BEGIN IMMEDIATE). Two connections that both read first and
    then both try to write would otherwise deadlock, and SQLite fails one at once ("database is locked") instead
    of letting it wait. PostgreSQL needs nothing: row locks queue writers."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def can_write_at_once() -> bool:
    """Whether a row may be written now, with a Core statement, rather than queued for the session's flush at the
    end: always on PostgreSQL (a row lock at most); on SQLite only once the transaction is already a writer (its
    first write locks the whole database until the commit, which must not start earlier than it used to)."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return True
    return connection.connection.dbapi_connection.in_transaction


JOINED_KEY = "joined_as_stored"


def join_as_stored(obj: Any) -> None:
    """Make an object whose row a Core INSERT has just written a stored object of the session (no more SQL).
    Recorded, so that a savepoint rolled back can drop it again (`drop_joined`): SQLAlchemy undoes only the
    objects it inserted itself, and one left behind would refuse its own row written again."""
    make_transient_to_detached(obj)
    db.session.add(obj)
    db.session.info.setdefault(JOINED_KEY, []).append(obj)


def joined_count() -> int:
    return len(db.session.info.get(JOINED_KEY, ()))


def drop_joined(since: int) -> None:
    """Forget the objects joined since `joined_count()` was `since` (their rows were rolled back)."""
    session = db.session()
    joined = session.info.get(JOINED_KEY, [])
    for obj in joined[since:]:
        if obj in session:
            session.expunge(obj)
    del joined[since:]


# --- rows held for one multi-row INSERT ----------------------------------------------------------------------
#
# The sync applier writes a phone's outbox by the hundred: per op its record, often a note and an audit event,
# each one row. Sent one statement each, the round trips are most of the cost. While `held_rows()` is open, such
# rows (`write_row`) are held and sent as one INSERT per table (executemany): at the end, or before any other
# statement runs on the connection (a read, an ORM flush, a savepoint), so every statement still sees every row
# written before it, in the order written. Held rows must not refer to one another (they go table by table).

HELD_KEY = "held_rows"


class HeldRows:
    def __init__(self, connection) -> None:
        self.connection = connection
        self.rows: dict[Any, list[dict]] = {}  # statement -> rows, in the order first used

    def add(self, statement, values: dict) -> None:
        self.rows.setdefault(statement, []).append(values)

    def discard(self) -> None:
        self.rows.clear()

    def write(self) -> None:
        if not self.rows:
            return
        pending, self.rows = self.rows, {}
        if len(pending) == 1 or self.connection.dialect.driver != "psycopg":
            for statement, rows in pending.items():
                self.connection.execute(statement, rows)  # executemany: pipelined by psycopg, one call in sqlite3
            return
        # The tables' INSERTs in one pipeline: one round trip for all of them rather than one each (psycopg's
        # executemany rides a pipeline already open). An error is raised by the statement that reports it, or on
        # leaving the pipeline (its sync): both as SQLAlchemy's error (an IntegrityError for a key taken).
        raw = self.connection.connection.dbapi_connection
        try:
            with raw.pipeline():
                for statement, rows in pending.items():
                    # A single row without RETURNING (SQLAlchemy would fetch its id, which waits for the sync).
                    self.connection.execute(statement if len(rows) > 1 else _inline(statement), rows)
        except self.connection.dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(None, None, error, self.connection.dialect.loaded_dbapi.Error) from error


_INLINE: dict[Any, Any] = {}


def _inline(statement):
    if statement not in _INLINE:
        _INLINE[statement] = statement.inline()
    return _INLINE[statement]


@contextmanager
def held_rows():
    """Hold `write_row` rows until the block ends (written then) or another statement runs; dropped if the block
    raises. A failed write (IntegrityError) does not say which row: the caller redoes them one at a time."""
    connection = db.session.connection()
    held = HeldRows(connection)
    connection.info[HELD_KEY] = held
    try:
        yield held
        held.write()
    finally:
        held.discard()
        connection.info.pop(HELD_KEY, None)


def write_row(statement, values: dict) -> None:
    """One row by a Core INSERT: at once, or held for the block's one INSERT per table (`held_rows`)."""
    connection = db.session.connection()
    held = connection.info.get(HELD_KEY)
    if held is None:
        connection.execute(statement, values)
    else:
        held.add(statement, values)


@event.listens_for(Engine, "before_execute")
def _write_held_rows_first(connection, clauseelement, multiparams, params, execution_options):
    held = connection.info.get(HELD_KEY)
    if held is not None and held.rows:
        held.write()
