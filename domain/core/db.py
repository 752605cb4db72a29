"""The SQLAlchemy base and the Flask-SQLAlchemy handle."""
from __future__ import annotations

from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, MetaData, any_, bindparam, event, exc
from sqlalchemy.dialects.postgresql import ARRAY
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
    held = _HELD.get()
    if held is not None and held.at_once:  # asked once per block of held rows (a writer stays a writer)
        return True
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return True
    return connection.connection.dbapi_connection.in_transaction


def transaction_aborted(dbapi_connection) -> bool:
    """PostgreSQL has aborted the connection's transaction (a statement failed): its COMMIT would roll back without
    an error. psycopg says so without a round trip; sqlite3 goes on after a failed statement (never aborted)."""
    status = getattr(getattr(dbapi_connection, "info", None), "transaction_status", None)
    return status is not None and status.name == "INERROR"


def among(column, name: str, dialect_name: str):
    """`column IN :name` (a list given when executed); on PostgreSQL `column = ANY(:name)`, one array parameter: the
    statement's text stays the same whatever the count (IN with 50 values is 50 parameters and a new text per
    count, which the driver parses again each time rather than keeping it converted and prepared)."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


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
_HELD: ContextVar[HeldRows | None] = ContextVar("held_rows", default=None)


class HeldRows:
    def __init__(self, connection) -> None:
        self.connection = connection
        self.rows: dict[Any, list[dict]] = {}  # statement -> rows, in the order first used
        self.at_once = False  # can_write_at_once(), once it has been true in this block

    def add(self, statement, values: dict) -> None:
        self.rows.setdefault(statement, []).append(values)

    def discard(self) -> None:
        self.rows.clear()

    def write(self) -> None:
        if not self.rows:
            return
        pending, self.rows = self.rows, {}
        connection = self.connection
        inserts = [(_RowsInsert.of(statement, keys, connection.dialect), rows)
                   for statement, all_rows in pending.items() for keys, rows in _alike(all_rows)]
        if len(inserts) == 1 or connection.dialect.driver != "psycopg":
            for insert, rows in inserts:
                insert.send(connection, rows)  # executemany: pipelined by psycopg, one call in sqlite3
            return
        # The tables' INSERTs in one pipeline: one round trip for all of them rather than one each (psycopg's
        # executemany rides a pipeline already open). An error is raised by the statement that reports it, or on
        # leaving the pipeline (its sync): both as SQLAlchemy's error (an IntegrityError for a key taken).
        raw = connection.connection.dbapi_connection
        try:
            with raw.pipeline():
                for insert, rows in inserts:
                    insert.send(connection, rows)
        except connection.dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(None, None, error, connection.dialect.loaded_dbapi.Error) from error
        if transaction_aborted(raw):  # a failure the pipeline did not raise: never pass it
            raise exc.OperationalError("held rows", None, RuntimeError("the transaction was aborted"))


def _alike(rows: list[dict]):
    """The rows in runs of the same columns, in order (one INSERT each; a table's rows nearly always alike)."""
    run: list[dict] = []
    for row in rows:
        if run and row.keys() != run[0].keys():
            yield tuple(run[0]), run
            run = []
        run.append(row)
    if run:
        yield tuple(run[0]), run


class _RowsInsert:
    """A held table's INSERT, compiled once for its dialect and its rows' columns. Its rows' parameters are made
    as SQLAlchemy makes them (the columns' Python defaults, the types' bind processors) and sent by one
    `exec_driver_sql` (an executemany, seen by the engine's events like any statement): SQLAlchemy's own
    executemany works them out again for every row and statement (half the time of writing a batch's rows)."""

    _compiled: dict[tuple, _RowsInsert] = {}

    def __init__(self, statement, keys: tuple, dialect) -> None:
        compiled = statement.inline().compile(dialect=dialect, column_keys=list(keys))
        self.sql = compiled.string
        processors = compiled._bind_processors  # noqa: SLF001 - the types' conversions, as SQLAlchemy applies them
        self.given = [(key, processors.get(key)) for key in keys]
        self.defaults = []  # columns not given, with a default made in Python (a scalar or a callable)
        for column in compiled.insert_prefetch:
            default = column.default
            self.defaults.append((column.key, processors.get(column.key), default.arg, default.is_callable))
        self.order = compiled.positiontup  # the parameters' order, for a driver that takes them by position

    @classmethod
    def of(cls, statement, keys: tuple, dialect) -> _RowsInsert:
        key = (statement, keys, dialect.name, dialect.driver, dialect.paramstyle)
        insert = cls._compiled.get(key)
        if insert is None:
            insert = cls._compiled[key] = cls(statement, keys, dialect)
        return insert

    def parameters(self, row: dict) -> dict | tuple:
        params = {key: row[key] if process is None else process(row[key]) for key, process in self.given}
        for key, process, default, is_callable in self.defaults:
            value = default(None) if is_callable else default
            params[key] = value if process is None else process(value)
        return params if self.order is None else tuple(params[name] for name in self.order)

    def send(self, connection, rows: list[dict]) -> None:
        connection.exec_driver_sql(self.sql, [self.parameters(row) for row in rows])


@contextmanager
def held_rows():
    """Hold `write_row` rows until the block ends (written then) or another statement runs; dropped if the block
    raises. A failed write (IntegrityError) does not say which row: the caller redoes them one at a time."""
    connection = db.session.connection()
    held = HeldRows(connection)
    held.at_once = can_write_at_once()
    # On the connection for the engine's event (a statement sent meanwhile writes them first); in a context
    # variable for `write_row`, the block's own (finding the session's connection is a dozen calls: rows come by
    # the hundred). Only the block's session writes in it (the request's: one per web request or worker task).
    connection.info[HELD_KEY] = held
    token = _HELD.set(held)
    try:
        yield held
        held.write()
    finally:
        # First of all: a holder left behind would swallow every later row of this process (they would be held,
        # never written). The connection may be gone by now (a dropped server): its info is then unreachable.
        _HELD.reset(token)
        held.discard()
        with suppress(exc.SQLAlchemyError):
            connection.info.pop(HELD_KEY, None)


def write_row(statement, values: dict) -> None:
    """One row by a Core INSERT: at once, or held for the block's one INSERT per table (`held_rows`)."""
    held = _HELD.get()
    if held is None:
        db.session.connection().execute(statement, values)
    else:
        held.add(statement, values)


@event.listens_for(Engine, "before_execute")
def _write_held_rows_first(connection, clauseelement, multiparams, params, execution_options):
    held = connection.info.get(HELD_KEY)
    if held is not None and held.rows:
        held.write()
