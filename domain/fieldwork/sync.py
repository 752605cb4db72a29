"""The sync applier: every op from a phone's outbox is applied once, in order, atomically and on its own, and
recorded with its raw body, whatever the outcome: the contract is docs/sync-contract.md.

Each op is atomic on its own (a rejected op never undoes or stops another): ops run in savepoints, one around a
run of ops that apply, one around an op its handler refuses (see `_apply_run`); a batch commits once. An op's
SyncOp row is written first, under a unique op_id: a concurrent request carrying the same op_id (a retry racing
the original, a second tab, a second app server) waits on that unique key and then finds the op already applied,
so effects are never doubled. A batch's tickets are read once and locked (FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE already lets one writer in at a time).
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, literal, select, text, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ..core import context, uow, validation
from ..core.db import among, db, held_rows, take_write_lock, write_row
from ..core.enums import OpStatus
from ..core.errors import DomainError
from ..core.models import User
from ..core.types import utcnow
from ..fieldwork.models import SyncOp, Visit
from ..requests.models import ProgressNote, Ticket
from ..sla.policy import Policy, current_policy
from . import flow
from .images import ProcessedImage
from .ops import REGISTRY, parse_payload

# Namespace for the storage key of an op whose op_id was unusable or reused with another body.
STORAGE_NAMESPACE = uuid.UUID("6f1d3d9e-3c35-4f8a-9d2e-0a8c3b8f6d10")


@dataclass
class Result:
    op_id: str | None
    status: str
    code: str | None = None
    message: str | None = None

    def as_dict(self) -> dict:
        out = {"op_id": self.op_id, "status": self.status}
        if self.code:
            out["code"] = self.code
        if self.message:
            out["message"] = str(self.message)
        return out


def stored_body(raw, storable: bool | None = None) -> str:
    """The op as stored and hashed: canonical JSON, or, for a body the database could not store (NUL, a lone
    surrogate, nesting too deep), the same escaped to ASCII. `storable`: that check, when already made."""
    if storable is None:
        plain = validation.plain_canonical_json(raw)  # nearly always: the check and the body in one serialisation
        if plain is not None:
            return plain
        storable = validation.json_problem(raw) is None
    return validation.canonical_json(raw) if storable else validation.storable_json(raw)


def body_hash(raw) -> str:
    return hashlib.sha256(stored_body(raw).encode("utf-8")).hexdigest()


def _parse_op_id(value) -> uuid.UUID | None:
    """A UUID in its canonical text (36 characters, any case); else None."""
    return _parse_uuid_text(value) if isinstance(value, str) and len(value) == 36 else None


@lru_cache(maxsize=512)  # a batch's ids are read by its lookups, then by its ops (50 ops: 150 parses otherwise)
def _parse_uuid_text(value: str) -> uuid.UUID | None:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value.lower() else None


def _parse_at(value) -> datetime | None:
    """Client time: ISO 8601 with an offset (a phone's local time without one is ambiguous), years 2000-2099."""
    return validation.parse_aware_time(value)


# --- applying ----------------------------------------------------------------------------------------------
#
# Per op, on the way that matters (a new op): its record, then the handler's own writes, inside its run's
# savepoint. In a run the records, notes and audit events are held and written by one INSERT per table, and the
# other writes flushed once, at the run's end (`db.held_rows`); an op alone writes its record with INSERT ... ON
# CONFLICT DO NOTHING (never an error, so it needs no savepoint of its own).
# What a batch needs to look up (its tickets, the records of ops already received, the note ids already taken)
# is read once per batch.


# Read with the tickets, in their query (a JOIN, not a query each): the visits and the signature (every op's flow
# check reads them), and the many-to-one relationships an op kind may read. The other collections an op kind reads
# (clocks, tests...) come by a query each: joined, two lists would multiply each other's rows.
_JOINED = frozenset({"visits", "signature", "customer", "assignee", "device_category"})


def _ticket_loads(reads: set[str]) -> list:
    """Loader options for the batch's tickets: the visits and the signature, the many-to-one relationships the
    batch's op kinds read (OpKind.reads), and what they read through the visits ("visits.prep_items")."""
    options = [joinedload(Ticket.visits), joinedload(Ticket.signature)]
    for path in sorted(reads - {"policy"}):
        first, _, then = path.partition(".")
        if then:
            options.append(joinedload(getattr(Ticket, first)).selectinload(getattr(Visit, then)))
        elif first in _JOINED:
            options.append(joinedload(getattr(Ticket, first)))
    return options


def _collections(reads) -> list[str]:
    """The ticket's own lists the op kinds read (clocks, tests...): loaded by `_load_collections`."""
    return sorted(path for path in reads if path != "policy" and "." not in path and path not in _JOINED)


@lru_cache(maxsize=64)  # built once per dialect and what the op kinds read (a handful of shapes)
def _tickets_query(dialect: str, reads: frozenset[str]):
    return (select(Ticket).where(among(Ticket.number, "numbers", dialect)).order_by(Ticket.id)
            .with_for_update(of=Ticket.__table__).options(*_ticket_loads(set(reads)))
            .execution_options(populate_existing=True))


@lru_cache(maxsize=16)
def _collection_query(name: str, dialect: str):
    """The rows of the tickets' list `name`, in the relationship's own order, and the key of their ticket's id."""
    relationship = getattr(Ticket, name).property
    (ticket_id,) = relationship.remote_side
    return (select(relationship.mapper.class_).where(among(ticket_id, "ticket_ids", dialect))
            .order_by(*relationship.order_by).execution_options(populate_existing=True)), ticket_id.key


def _load_collections(tickets: list[Ticket], names: list[str]) -> None:
    """Each list the op kinds read, for all the batch's tickets: one query each, set as the loaded list. The same
    SQL as selectinload, without its setup for each execution (a signing batch's three lists: 2.3 ms CPU, not 4.2)."""
    dialect = db.session.connection().dialect.name
    ids = [ticket.id for ticket in tickets]
    for name in names:
        query, ticket_id = _collection_query(name, dialect)
        rows: dict[int, list] = {ticket.id: [] for ticket in tickets}
        for row in db.session.execute(query, {"ticket_ids": ids}).scalars():
            rows[getattr(row, ticket_id)].append(row)
        for ticket in tickets:
            set_committed_value(ticket, name, rows[ticket.id])


@dataclass
class _Batch:
    """What one batch reads once, before any op writes: its tickets (locked: ops on a request are applied one
    batch at a time) with what its op kinds read of them, the policy if they need it, the records of its ops
    already received, and the note ids already taken."""
    tickets: dict[str, Ticket]
    policy: Policy | None
    known: dict[uuid.UUID, SyncOp]
    notes_taken: set[uuid.UUID]
    recorded: set[uuid.UUID]  # op records this batch has written (or holds, see `_apply_run`)

    @classmethod
    def load(cls, raws: list) -> _Batch:
        numbers, op_ids, note_ids, reads = set(), set(), set(), set()
        for raw in raws:
            if not isinstance(raw, dict):
                continue
            if isinstance(raw.get("kind"), str) and raw["kind"] in REGISTRY:
                reads.update(REGISTRY[raw["kind"]].reads)
            if isinstance(raw.get("ticket"), str) and raw["ticket"] and not validation.text_problem(raw["ticket"]):
                numbers.add(raw["ticket"][:40])
            if (op_uuid := _parse_op_id(raw.get("op_id"))) is not None:
                op_ids.add(op_uuid)
            data = raw.get("data")
            if isinstance(data, dict) and (note_id := _parse_op_id(data.get("note_id"))) is not None:
                note_ids.add(note_id)
        tickets = {}
        if numbers:
            # Locked in a fixed order (no deadlock between two batches): a second process with the same
            # tickets waits here, then reads what the first committed (fresh versions, its op records).
            # FOR UPDATE OF tickets: the rows joined to them are read, not locked (PostgreSQL refuses to lock the
            # nullable side of an outer join), as when they came by queries of their own.
            query = _tickets_query(db.session.connection().dialect.name, frozenset(reads))
            tickets = {t.number: t for t in db.session.execute(query, {"numbers": list(numbers)}).unique().scalars()}
            if tickets and (names := _collections(reads)):
                _load_collections(list(tickets.values()), names)
        known_ids, notes_taken = _taken(op_ids, note_ids)
        known = {}
        if known_ids:  # a batch sent again: its records, to answer each op as a replay
            query = select(SyncOp).where(SyncOp.op_id.in_(known_ids))
            known = {r.op_id: r for r in db.session.execute(query).scalars()}
        policy = current_policy() if "policy" in reads else None
        return cls(tickets, policy, known, notes_taken, set())


def _taken(op_ids: set[uuid.UUID], note_ids: set[uuid.UUID]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Which of these op ids have a record already, and which note ids are taken: one statement for both (a
    Core query, no ORM objects: nearly always nothing is found)."""
    if not op_ids and not note_ids:
        return set(), set()
    connection = db.session.connection()
    found: dict[str, set[uuid.UUID]] = {"op": set(), "note": set()}
    query = _taken_query(connection.dialect.name, bool(op_ids), bool(note_ids))
    for row in connection.execute(query, {"op_ids": list(op_ids), "note_ids": list(note_ids)}):
        found[row.what].add(row.id)
    return found["op"], found["note"]


@lru_cache(maxsize=8)  # built once per dialect and shape: building a statement costs as much as sending it
def _taken_query(dialect: str, ops: bool, notes: bool):
    parts = []
    if ops:
        parts.append(select(SyncOp.op_id.label("id"), literal("op").label("what"))
                     .where(among(SyncOp.op_id, "op_ids", dialect)))
    if notes:
        parts.append(select(ProgressNote.id.label("id"), literal("note").label("what"))
                     .where(among(ProgressNote.id, "note_ids", dialect)))
    return parts[0] if len(parts) == 1 else union_all(*parts)


def _record(raw, op_uuid, *, user, device_id, status, code=None, message=None, ticket=None, at=None,
            storable: bool | None = None, body: str | None = None) -> dict:
    """The op's record. `body`: its stored body, when already made (`validation.plain_canonical_json`)."""
    if body is None:
        body = stored_body(raw, storable)

    def field(name: str, limit: int) -> str | None:  # what the op says, as a text that can be stored
        value = raw.get(name) if isinstance(raw, dict) else None
        if value is None or value == "":
            return None
        if storable and isinstance(value, str):  # already found storable (no NUL, no lone surrogate)
            return value[:limit]
        return validation.storable_text(value, limit)

    return dict(op_id=op_uuid, kind=field("kind", 40) or "?", ticket_number=field("ticket", 40),
                ticket_id=ticket.id if ticket is not None else None, user_id=user.id, device_id=device_id[:64],
                client_at=at, client_at_raw=field("at", 64),
                device_at=_parse_at(raw.get("device_at")) if isinstance(raw, dict) else None,
                applied_at=None, body=body, body_sha256=hashlib.sha256(body.encode()).hexdigest(), status=status,
                code=code, message=str(message)[:2000] if message else None, received_at=utcnow(), replays=0,
                last_replayed_at=None)


def _insert_if_new_statement():
    """INSERT ... ON CONFLICT (op_id) DO NOTHING RETURNING id, as PostgreSQL and SQLite both say it. Written as
    text with typed parameters: SQLAlchemy cannot cache its dialect-specific ON CONFLICT construct and would
    compile it again for every op, which costs more than running it."""
    table = SyncOp.__table__
    columns = [c for c in table.columns if c.name != "id"]
    sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
           f"VALUES ({', '.join(':' + c.name for c in columns)}) ON CONFLICT (op_id) DO NOTHING RETURNING id")
    return text(sql).bindparams(*(bindparam(c.name, type_=c.type) for c in columns))


_INSERT_IF_NEW = _insert_if_new_statement()


# A run's records, held and sent together (one executemany): without ON CONFLICT, so that an op_id taken
# meanwhile (a retry racing the original) fails the run's INSERT, and the run is redone one op at a time.
_HELD_INSERT = SyncOp.__table__.insert()


def _insert(values: dict, batch: _Batch | None = None, *, hold: bool = False) -> bool:
    """Insert an op record; False when its op_id is already taken. On PostgreSQL an insert whose op_id a
    concurrent transaction has just inserted waits for that transaction, then finds the key taken (or free, if
    it rolled back): a retry racing the original, a second tab, a second app server never both apply.
    With `hold`, the record is held for its run's one INSERT (taken meanwhile: the run is redone)."""
    if batch is not None:
        if values["op_id"] in batch.recorded:  # the same op twice in one batch: the second is a replay
            return False
        batch.recorded.add(values["op_id"])
    if hold:
        write_row(_HELD_INSERT, values)
        return True
    return db.session.connection().execute(_INSERT_IF_NEW, values).scalar_one_or_none() is not None


def _mark_rejected(op_uuid: uuid.UUID, code: str, message) -> None:
    db.session.execute(update(SyncOp).where(SyncOp.op_id == op_uuid)
                       .values(status=OpStatus.REJECTED, code=code, message=str(message)[:2000])
                       .execution_options(synchronize_session=False))


def _find(op_uuid: uuid.UUID) -> SyncOp | None:
    return db.session.execute(select(SyncOp).where(SyncOp.op_id == op_uuid)).scalar_one_or_none()


def _store_rejection(raw, given_op_id, user, device_id, code, message, ticket=None, at=None) -> Result:
    """A rejected op is kept too; an unusable or reused op_id gets a derived storage key (stored once)."""
    digest = body_hash(raw)
    try:
        key = uuid.uuid5(STORAGE_NAMESPACE, f"{given_op_id}:{digest}:{code}")
    except UnicodeEncodeError:  # a lone surrogate in the op_id: UTF-8 cannot encode it, its escaped JSON can
        key = uuid.uuid5(STORAGE_NAMESPACE, f"{validation.storable_json(given_op_id)}:{digest}:{code}")
    _insert(_record(raw, key, user=user, device_id=device_id, status=OpStatus.REJECTED, code=code,
                    message=message, ticket=ticket, at=at))
    return Result(given_op_id if isinstance(given_op_id, str) else None, "rejected", code, str(message))


def _replay(existing: SyncOp, raw, given: str, user, device_id) -> Result:
    if existing.body_sha256 != body_hash(raw) or existing.user_id != user.id:
        return _store_rejection(raw, given, user, device_id, "op_id_reused",
                                _l("This op_id was already used for a different operation."))
    existing.replays += 1  # written with the batch's next flush
    existing.last_replayed_at = utcnow()
    return Result(given, "duplicate", existing.code,
                  existing.message if existing.status == OpStatus.REJECTED else None)


def apply_batch(raws: list, *, user: User, device_id: str, tz: ZoneInfo, remote_addr: str | None = None,
                photo: ProcessedImage | None = None,
                user_agent: str | None = None) -> tuple[list[Result], list[Ticket]]:
    """Apply ops in order, each atomically and on its own (a rejected op never undoes or stops another); the
    request's one commit makes them durable together (one write for the batch, not one per op).
    Returns the results and the requests signed in this batch (their PDFs are rendered after the commit)."""
    take_write_lock()
    out = _Outcome([], [], _Batch.load(raws), dict(user=user, device_id=device_id, tz=tz, remote_addr=remote_addr,
                                                   photo=photo, user_agent=user_agent))
    _apply_ops(raws, 0, len(raws), out)
    db.session.flush()
    return out.results, out.signed


# Ops are applied in runs: one savepoint around a run of ops rather than one per op (two statements fewer per
# op, and the session's bookkeeping of a savepoint). Nearly every op applies (the phone checks the same flow
# offline); when one is refused by its handler, the run is undone back to its start, the ops before the refused
# one are applied again (they applied cleanly), then the refused one alone in its own savepoint, exactly as it
# would have been on its own; the next run starts after it. Each op stays atomic on its own, and the results,
# the rows and the order of the trail are those of one savepoint per op. A refused op costs the run before it
# once more (at most twice the work for a batch). A write that fails in a run (an IntegrityError: a key taken
# meanwhile) cannot say whose it was: the run is undone and each of its ops applied alone.


@dataclass
class _Outcome:
    results: list[Result]
    signed: list[Ticket]
    batch: _Batch
    context: dict

    def mark(self) -> tuple:
        return (len(self.results), len(self.signed), dict(self.batch.known), set(self.batch.notes_taken),
                set(self.batch.recorded))

    def reset(self, mark: tuple) -> None:
        """Forget what the undone run did: its results and what it added to the batch's lookups (its rows, queued
        jobs and joined objects went with its savepoint)."""
        results, signed, known, notes_taken, recorded = mark
        del self.results[results:], self.signed[signed:]
        self.batch.known, self.batch.notes_taken, self.batch.recorded = known, notes_taken, recorded

    def add(self, result: Result, ticket: Ticket | None) -> None:
        self.results.append(result)
        if ticket is not None:
            self.signed.append(ticket)


def _apply_ops(raws: list, start: int, end: int, out: _Outcome) -> None:
    while start < end:
        start = _apply_run(raws, start, end, out)


def _apply_run(raws: list, start: int, end: int, out: _Outcome) -> int:
    """Apply raws[start:end] in one savepoint; where the next run starts (after an op its handler refused)."""
    mark = out.mark()
    index = start
    try:
        with uow.savepoint(), held_rows():  # the run's records, notes and events: one INSERT per table
            for index in range(start, end):
                out.add(*_apply(raws[index], out.batch, own_savepoint=False, **out.context))
            db.session.flush()  # the run's other writes, together (a row changed by several ops: one UPDATE)
    except DomainError:  # refused by its handler: the run is undone, the op then applied alone
        out.reset(mark)
        _apply_ops(raws, start, index, out)
        out.add(*_apply(raws[index], out.batch, own_savepoint=True, **out.context))
        return index + 1
    except IntegrityError:  # a write failed (a key taken meanwhile); written together, whose is not known
        out.reset(mark)
        for alone in range(start, index + 1):
            out.add(*_apply(raws[alone], out.batch, own_savepoint=True, **out.context))
        return index + 1
    return end


def _apply(raw, batch: _Batch, *, own_savepoint: bool, user, device_id, tz, remote_addr,
           photo, user_agent=None) -> tuple[Result, Ticket | None]:
    """One op. Without `own_savepoint` (inside a run) its handler's refusal is raised, for the run to undo."""
    if not isinstance(raw, dict):
        return _store_rejection({"op": raw}, None, user, device_id, "malformed_op",
                                _l("An op must be an object.")), None
    given = raw.get("op_id")
    op_uuid = _parse_op_id(given)
    if op_uuid is None:
        return _store_rejection(raw, given, user, device_id, "bad_op_id", _l("op_id must be a UUID.")), None
    existing = batch.known.get(op_uuid)
    if existing is not None:
        return _replay(existing, raw, given, user, device_id), None
    kind, number, data, at = raw.get("kind"), raw.get("ticket"), raw.get("data", {}), _parse_at(raw.get("at"))
    # NUL, lone surrogates, NaN, nesting: refused alone, stored escaped. Nearly always plainly fine: then the
    # check's one serialisation is the stored body too.
    body = validation.plain_canonical_json(raw)
    problem = None if body is not None else validation.json_problem(raw)
    storable = problem is None
    if problem is not None:
        pass
    elif not isinstance(kind, str) or kind not in REGISTRY:
        problem = ("unknown_kind", _l("Unknown operation %(kind)s.", kind=validation.storable_text(kind, 40)))
    elif not isinstance(number, str) or not number:
        problem = ("malformed_op", _l("The op names no request."))
    elif at is None:
        problem = ("bad_time", _l("The op's time must be ISO 8601 with an offset, in the years 2000 to 2099."))
    elif not isinstance(data, dict):
        problem = ("malformed_op", _l("The op's data must be an object."))
    ticket = None
    if problem is None:
        ticket = batch.tickets.get(number[:40]) if len(number) <= 40 else None
        if ticket is None:
            problem = ("unknown_ticket", _l("There is no request %(number)s.", number=number[:40]))
    values = _record(raw, op_uuid, user=user, device_id=device_id, status=OpStatus.APPLIED, ticket=ticket, at=at,
                     storable=storable, body=body)
    if problem is not None:
        values.update(status=OpStatus.REJECTED, code=problem[0], message=str(problem[1]))
    # A new op's record is held for its run's one INSERT; one refused before its handler is written at once.
    if not _insert(values, batch, hold=not own_savepoint and problem is None):
        # taken first (earlier in this batch, or by a concurrent request): answered as a replay
        batch.known[op_uuid] = existing = _find(op_uuid)
        return _replay(existing, raw, given, user, device_id), None
    if problem is not None:
        return Result(given, "rejected", problem[0], str(problem[1])), None
    meta = {"device_id": device_id, "op_id": op_uuid, "photo": photo, "notes_taken": batch.notes_taken,
            "user_agent": user_agent}
    # Things happened when the phone says (never later than now): offline work syncs late but keeps its time.
    ctx = context.Context(actor=user, tz=tz, now=min(at, utcnow()), via="sync", remote_addr=remote_addr,
                          policy=batch.policy)
    if not own_savepoint:
        _handle(kind, ticket, ctx, payload_data=data, at=at, meta=meta, op_uuid=op_uuid, flush=False)
        return Result(given, "applied"), ticket if meta.get("signed") else None
    try:
        with uow.savepoint():  # the op alone: what it wrote and queued is undone if it is refused
            _handle(kind, ticket, ctx, payload_data=data, at=at, meta=meta, op_uuid=op_uuid)
    except DomainError as error:
        _mark_rejected(op_uuid, error.code, error.message)
        return Result(given, "rejected", error.code, str(error.message)[:2000]), None
    except IntegrityError:
        message = _l("The op conflicted with stored data.")
        _mark_rejected(op_uuid, "conflict", message)
        return Result(given, "rejected", "conflict", str(message)), None
    return Result(given, "applied"), ticket if meta.get("signed") else None


def _handle(kind: str, ticket: Ticket, ctx: context.Context, *, payload_data: dict, at: datetime, meta: dict,
            op_uuid: uuid.UUID, flush: bool = True) -> None:
    """The op's own checks and its handler. Alone (`own_savepoint`), its writes are flushed, so that a conflict
    is this op's; in a run they are flushed with the run's (a conflict there redoes the run op by op)."""
    payload = parse_payload(REGISTRY[kind], payload_data)
    context.require_assignee(ctx, ticket)
    flow.enforce(ticket, kind, data=payload.model_dump())  # the declared flow, the same the phone applies offline
    REGISTRY[kind].handler(ticket, ctx, payload, at, meta)
    if ctx.adjusted:  # a phone clock a few minutes off: the act kept, at its bound; both times recorded
        db.session.execute(update(SyncOp).where(SyncOp.op_id == op_uuid).values(applied_at=ctx.adjusted[0][2])
                           .execution_options(synchronize_session=False))
    if flush:
        db.session.flush()


def apply_op(raw, *, user: User, device_id: str, tz: ZoneInfo, remote_addr: str | None = None,
             photo: ProcessedImage | None = None) -> tuple[Result, list[Ticket]]:
    results, signed = apply_batch([raw], user=user, device_id=device_id, tz=tz, remote_addr=remote_addr, photo=photo)
    return results[0], signed


def reject_op(raw: dict, *, user: User, device_id: str, code: str, message) -> Result:
    """An op refused before it could be applied (an unreadable photo): kept under its own op_id, so that sending
    it again answers duplicate like any other op."""
    take_write_lock()
    given = raw.get("op_id")
    op_uuid = _parse_op_id(given)
    if op_uuid is None:
        result = _store_rejection(raw, given, user, device_id, "bad_op_id", _l("op_id must be a UUID."))
    elif (existing := _find(op_uuid)) is not None:
        result = _replay(existing, raw, given, user, device_id)
    elif _insert(_record(raw, op_uuid, user=user, device_id=device_id, status=OpStatus.REJECTED, code=code,
                         message=message, at=_parse_at(raw.get("at")))):
        result = Result(given, "rejected", code, str(message))
    else:
        result = _replay(_find(op_uuid), raw, given, user, device_id)
    db.session.flush()
    return result
