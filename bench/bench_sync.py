"""Sync throughput: an outbox of 1,000 text ops flushed in batches through gunicorn (2 workers).

    .venv/bin/python bench/bench_sync.py            # SQLite (temporary file)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_sync.py
    (TEST_DATABASE_URL is used when BENCH_DATABASE_URL is not set; the first line printed names the database)

Targets: under 5 s on SQLite and on PostgreSQL (issue 5); at most 3x the same statements sent raw (issue 12);
within 2x the applier's own statements replayed raw (issue 25). Timed after 10 untimed batches on every path
(BENCH_WARMUP_BATCHES), as a running server's workers are.
Baselines, same run, each compiled and its parameters converted before the clock starts, sent through the
driver's own cursor (psycopg or sqlite3), one commit per batch of 50, in this process (no HTTP), in turns with the
applier's batches (5 batches each, BENCH_TURN):
- raw, a statement per row (the issue's baseline: the statements the applier sent when it was filed, less its
  savepoint per op): per op the op record's INSERT ... ON CONFLICT DO NOTHING RETURNING id, the note's INSERT,
  the audit event's INSERT; per batch one SAVEPOINT and its RELEASE;
- raw, the applier's own statements (issue 25's baseline: within 2x): every statement the applier sent for the
  same batches, reads included (the pool's check of its connection, the session's user, the batch's tickets
  locked, the records and note ids already taken, the savepoint, one INSERT per table, its release), captured at
  the cursor (the pool's check where the dialect sends it) from the same batches applied
  in process (their rows then deleted), replayed through the driver's cursor as sent (executemany as
  executemany), a commit per batch;
- the same rows inserted with plain SQLAlchemy ORM objects, one commit per batch of 50; for reference also one
  commit per op.
Also printed: the median batch through HTTP against the median batch of its own statements replayed (a stall of the
disk on one commit moves the sums), and the SQL statements the applier runs per op (counted in process, on one more
batch). The database starts with BENCH_HISTORY (20,000) earlier note ops of another request, their notes and audit
events, analyzed: a database in service, its plans those of tables with a past.
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from bench_board import database_url  # noqa: E402

from app import create_app  # noqa: E402
from domain.core import accounts, context  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import ContactMethod, OpStatus, Role  # noqa: E402
from domain.core.models import AuditEvent, User  # noqa: E402
from domain.core.validation import canonical_json  # noqa: E402
from domain.fieldwork.models import SyncOp  # noqa: E402
from domain.requests import access, assignment, intake, remote_work  # noqa: E402
from domain.requests.catalog import ensure_catalog  # noqa: E402
from domain.requests.models import ProgressNote  # noqa: E402

N_OPS = int(os.environ.get("BENCH_OPS", 1000))
BATCH = 50
# Batches sent first, untimed, by the applier and the raw baselines alike: a running server's workers have their
# connections open, their statements compiled and prepared; a cold worker's first batch takes 2-3x longer.
WARMUP = int(os.environ.get("BENCH_WARMUP_BATCHES", 10)) * BATCH
TURN = int(os.environ.get("BENCH_TURN", 5))  # batches each path sends in its turn
# The server's past: earlier requests' ops, notes and audit events, then ANALYZE, as a database in service has them
# and as its autovacuum keeps its statistics. On tables a few rows long the planner reads them whole, and a
# prepared statement keeps that plan as they grow (the taken-ids read: 0.8 ms by index, 10 ms reading 30,000 rows
# whole); which connection kept which plan decided the ratio more than the code did (1.1-2.4x in one sitting).
HISTORY = int(os.environ.get("BENCH_HISTORY", 20_000))
PASSWORD = "bench-pass-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(app) -> str:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    with app.app_context():
        db.create_all()
        ensure_catalog()
        desk = accounts.create_user("desk", PASSWORD, Role.DISPATCHER, via="cli")
        boss = accounts.create_user("boss", PASSWORD, Role.SUPERVISOR, via="cli")
        tech = accounts.create_user("tech", PASSWORD, Role.TECHNICIAN, via="cli")
        now = datetime.now(UTC) - timedelta(hours=2)
        ticket = intake.create_request({"customer_name": "星河传媒", "contact_phone": "13800138001",
                                          "device_model": "ATEM Mini Pro ISO", "problem": "无信号",
                                          "urgency": "urgent"}, context.Context(actor=desk, tz=tz, now=now))
        db.session.flush()
        assignment.assign(ticket, tech, context.Context(actor=boss, tz=tz, now=now))
        remote_work.record_contact(ticket, context.Context(actor=tech, tz=tz, now=now + timedelta(minutes=5)),
                                method=ContactMethod.PHONE)
        db.session.commit()
        history(desk, tech, tz, now)
        return ticket.number


def history(desk, tech, tz, now) -> None:
    """HISTORY note ops of an earlier request, each with its note and audit event, then ANALYZE."""
    earlier = intake.create_request({"customer_name": "东方直播", "contact_phone": "13800138002",
                                     "device_model": "Blackmagic Web Presenter", "problem": "画面卡顿",
                                     "urgency": "normal"}, context.Context(actor=desk, tz=tz, now=now))
    db.session.flush()
    at = now - timedelta(days=90)
    for start in range(0, HISTORY, 5000):
        ops, notes, events = [], [], []
        for i in range(start, min(start + 5000, HISTORY)):
            note_id, body = uuid.uuid4(), f"历史记录 {i}"
            ops.append(dict(op_id=uuid.uuid4(), kind="note.added", ticket_number=earlier.number,
                            ticket_id=earlier.id, user_id=tech.id, device_id="old-phone", client_at=at,
                            received_at=at, body=body, body_sha256="0" * 64, status=OpStatus.APPLIED, replays=0))
            notes.append(dict(id=note_id, ticket_id=earlier.id, author_id=tech.id, text=body, written_at=at,
                              received_at=at))
            events.append(dict(at=at, actor_id=tech.id, ticket_id=earlier.id, action="note.added", via="sync",
                               data={}))
        db.session.execute(sa.insert(SyncOp), ops)
        db.session.execute(sa.insert(ProgressNote), notes)
        db.session.execute(sa.insert(AuditEvent), events)
    db.session.commit()
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()


def note_ops(number: str, count: int) -> list[dict]:
    at = datetime.now(UTC).isoformat()
    return [{"op_id": str(uuid.uuid4()), "kind": "note.added", "ticket": number, "at": at,
             "data": {"note_id": str(uuid.uuid4()), "text": f"远程排查第 {i} 步：检查输出设置与线缆",
                      "shown_to_customer": False}}
            for i in range(count)]


def baseline(app, number: str, ops: list[dict], per_commit: int) -> float:
    """The rows the applier writes, by plain SQLAlchemy: per op its record, the note and the audit event;
    a commit every `per_commit` ops."""
    with app.app_context():
        ticket = access.get_ticket(number)
        tech = db.session.execute(db.select(User).where(User.username == "tech")).scalar_one()
        start = time.perf_counter()
        for i, op in enumerate(ops, 1):
            body = canonical_json(op)
            db.session.add(SyncOp(op_id=uuid.UUID(op["op_id"]), kind=op["kind"], ticket_number=number,
                                  ticket_id=ticket.id, user_id=tech.id, device_id="bench", body=body,
                                  body_sha256="0" * 64, status=OpStatus.APPLIED))
            db.session.add(ProgressNote(id=uuid.UUID(op["data"]["note_id"]), ticket_id=ticket.id, author_id=tech.id,
                                        text=op["data"]["text"], written_at=datetime.now(UTC)))
            db.session.add(AuditEvent(action="note.added", actor_id=tech.id, ticket_id=ticket.id, via="sync"))
            if i % per_commit == 0:
                db.session.commit()
        db.session.commit()
        return time.perf_counter() - start


def raw_statements(app, number: str, ops: list[dict]) -> RawBatches:
    """The statements writing these ops' rows, to be sent raw: compiled SQL and converted parameters prepared
    here, then sent through the DB-API cursor, a statement per row, a savepoint around each batch's ops and a
    commit every batch."""
    from domain.fieldwork import sync

    with app.app_context():
        ticket = access.get_ticket(number)
        tech = db.session.execute(db.select(User).where(User.username == "tech")).scalar_one()
        ticket_id, tech_id = ticket.id, tech.id
        engine = db.engine
        db.session.remove()
        now = datetime.now(UTC)

        def compiled(statement, values):
            if not isinstance(statement, sa.TextClause) and values is not None:
                statement, values = statement.values(values), None
            sql = statement.compile(dialect=engine.dialect)
            params = sql.construct_params(values)
            for key, process in sql._bind_processors.items():
                if key in params:
                    params[key] = process(params[key])
            if sql.positional:
                params = tuple(params[key] for key in sql.positiontup)
            return sql.string, params

        prepared = []
        for op in ops:
            record = sync._record(op, uuid.UUID(op["op_id"]), user=tech, device_id="bench-phone",
                                  status=OpStatus.APPLIED, ticket=ticket, at=now)
            note = dict(id=uuid.UUID(op["data"]["note_id"]), ticket_id=ticket_id, author_id=tech_id,
                        text=op["data"]["text"], shown_to_customer=False, written_at=now, visit_id=None,
                        received_at=now)
            audit = dict(action="note.added", actor_id=tech_id, ticket_id=ticket_id, entity_type=None,
                         entity_id=None, from_state=None, to_state=None, via="sync", remote_addr="127.0.0.1",
                         data={}, at=now)
            prepared.append((compiled(sync._INSERT_IF_NEW, record),
                             compiled(ProgressNote.__table__.insert(), note),
                             compiled(AuditEvent.__table__.insert(), audit)))
    return RawBatches(engine, prepared)


def captured_statements(app, number: str, ops: list[dict]) -> list[list[tuple]]:
    """The applier's own statements for these ops' batches, as its cursor received them (SQL, parameters,
    executemany or not): the batches applied in process through Flask's test client, the statements captured, the
    rows they wrote deleted, so that sending the statements again writes them once more."""
    test_app = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                           "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    client = test_app.test_client()
    client.post("/auth/login", data={"username": "tech", "password": PASSWORD})
    batches: list[list[tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        batches[-1].append((statement, parameters, executemany))

    with test_app.app_context():
        engine = db.engine
        last_event = db.session.execute(sa.select(sa.func.max(AuditEvent.id))).scalar() or 0
        db.session.remove()
    ping = engine.dialect.do_ping

    def pinged(dbapi_connection):  # the pool's check of a connection it hands out (pool_pre_ping): sent too
        batches[-1].append((engine.dialect._dialect_specific_select_one, None, False))
        return ping(dbapi_connection)

    sa.event.listen(engine, "before_cursor_execute", capture)
    engine.dialect.do_ping = pinged
    try:
        for first in range(0, len(ops), BATCH):
            batches.append([])
            answer = client.post("/api/v1/sync", json={"device_id": "bench-phone", "ops": ops[first:first + BATCH]})
            assert all(r["status"] == "applied" for r in answer.json["results"]), answer.json
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
        engine.dialect.do_ping = ping
    with test_app.app_context():
        reads = ("SELECT", "SAVEPOINT", "RELEASE", "BEGIN", engine.dialect._dialect_specific_select_one.upper())
        writes = [s for batch in batches for s, *_ in batch if not s.lstrip().upper().startswith(reads)]
        others = [w for w in writes if not w.startswith("INSERT INTO")]
        assert not others, others[:3]  # only inserts to undo
        db.session.execute(sa.delete(SyncOp).where(SyncOp.op_id.in_([uuid.UUID(op["op_id"]) for op in ops])))
        db.session.execute(sa.delete(ProgressNote).where(
            ProgressNote.id.in_([uuid.UUID(op["data"]["note_id"]) for op in ops])))
        db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id > last_event))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return batches


class CapturedBatches:
    """The captured statements of each batch, sent through the driver's own cursor, a commit each (`send(i)`)."""

    def __init__(self, engine, batches: list[list[tuple]]) -> None:
        self.engine, self.batches = engine, batches
        self.raw = engine.raw_connection()
        self.cursor = self.raw.cursor()

    def send(self, first: int) -> float:
        start = time.perf_counter()
        for statement, parameters, many in self.batches[first // BATCH]:
            if many:
                self.cursor.executemany(statement, parameters)
            else:
                self.cursor.execute(statement, *([] if parameters is None else [parameters]))
                if statement.lstrip().upper().startswith("SELECT"):
                    self.cursor.fetchall()
        self.raw.commit()
        return time.perf_counter() - start

    def close(self) -> None:
        self.raw.close()


class RawBatches:
    """The prepared statements, sent one batch of 50 at a time (`send(i)`: the time it took), a commit each."""

    def __init__(self, engine, prepared: list) -> None:
        self.engine, self.prepared, self.savepoints = engine, prepared, 0
        self.raw = engine.raw_connection()
        self.cursor = self.raw.cursor()

    def send(self, first: int) -> float:
        start = time.perf_counter()
        if self.engine.dialect.name == "sqlite":
            self.cursor.execute("BEGIN IMMEDIATE")
        self.savepoints += 1  # named as SQLAlchemy names them: a new name each time
        self.cursor.execute(f"SAVEPOINT sa_savepoint_{self.savepoints}")  # the batch's ops are one run
        for record, note, audit in self.prepared[first:first + BATCH]:
            self.cursor.execute(*record)
            self.cursor.fetchone()
            self.cursor.execute(*note)
            self.cursor.execute(*audit)
        self.cursor.execute(f"RELEASE SAVEPOINT sa_savepoint_{self.savepoints}")
        self.raw.commit()
        return time.perf_counter() - start

    def close(self) -> None:
        self.raw.close()


def statements_per_op(app, number: str) -> tuple[float, float]:
    """SQL statements the applier runs per op, for one batch applied and then replayed (in process)."""
    from sqlalchemy import event

    client = app.test_client()
    client.post("/auth/login", data={"username": "tech", "password": PASSWORD})
    ops = note_ops(number, BATCH)
    counted = []

    def count(*args):
        counted.append(1)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        figures = []
        for expected in ("applied", "duplicate"):
            counted.clear()
            response = client.post("/api/v1/sync", json={"device_id": "bench-phone", "ops": ops})
            assert all(r["status"] == expected for r in response.json["results"]), response.json
            figures.append(len(counted) / BATCH)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return figures[0], figures[1]


def main() -> None:
    if not os.environ.get("BENCH_DATABASE_URL") and os.environ.get("TEST_DATABASE_URL"):
        os.environ["BENCH_DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = database_url(Path(tmp))
        env = {**os.environ, "INSTANCE_PATH": tmp, "DATABASE_URL": url, "SECRET_KEY": "bench-secret",
               "RATELIMIT_STORAGE_URI": "memory://"}
        os.environ.update({"INSTANCE_PATH": tmp, "SECRET_KEY": "bench-secret"})
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        number = seed(app)
        port = free_port()
        server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
                                   "--log-level", "warning", "app:create_app()"], cwd=ROOT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            page = opener.open(base + "/auth/login").read().decode()
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            form = urllib.parse.urlencode({"username": "tech", "password": PASSWORD, "csrf_token": token}).encode()
            opener.open(base + "/auth/login", form)
            csrf = json.loads(opener.open(base + "/api/v1/session").read())["csrf_token"]
            ops = note_ops(number, WARMUP + N_OPS)
            # The raw baseline takes turns with the applier, batch by batch: the machine's changing load (it is
            # shared) weighs on both alike.
            raw_batches = raw_statements(app, number, note_ops(number, WARMUP + N_OPS))
            with app.app_context():
                engine = db.engine
            own_batches = CapturedBatches(engine, captured_statements(app, number, note_ops(number, WARMUP + N_OPS)))
            raw = 0.0
            # Each timed batch of both paths: their sums, and their medians (a stall of the disk weighs on one).
            http_times: list[float] = []
            own_times: list[float] = []
            applied = 0
            try:
                # In turns of TURN batches: each path runs warm, as a busy server does, and the machine's changing
                # load still weighs on all of them alike (turns of one batch cost the HTTP path ~35%: the
                # workers wake to caches the baselines have just used).
                for block in range(0, len(ops), BATCH * TURN):
                    starts = range(block, min(block + BATCH * TURN, len(ops)), BATCH)
                    for i in starts:
                        body = json.dumps({"device_id": "bench-phone", "ops": ops[i:i + BATCH]}).encode()
                        request = urllib.request.Request(base + "/api/v1/sync", data=body, method="POST", headers={
                            "Content-Type": "application/json", "X-CSRFToken": csrf})
                        start = time.perf_counter()
                        results = json.loads(opener.open(request).read())["results"]
                        if i >= WARMUP:
                            http_times.append(time.perf_counter() - start)
                        applied += sum(r["status"] == "applied" for r in results)
                    for i in starts:
                        raw += raw_batches.send(i) * (i >= WARMUP)
                    for i in starts:
                        took = own_batches.send(i)
                        if i >= WARMUP:
                            own_times.append(took)
            finally:
                raw_batches.close()
                own_batches.close()
            elapsed, raw_own = sum(http_times), sum(own_times)
            assert applied == WARMUP + N_OPS, applied
            # Sent again: all duplicates, nothing doubled.
            start_replay = time.perf_counter()
            for i in range(WARMUP, len(ops), BATCH):
                body = json.dumps({"device_id": "bench-phone", "ops": ops[i:i + BATCH]}).encode()
                request = urllib.request.Request(base + "/api/v1/sync", data=body, method="POST", headers={
                    "Content-Type": "application/json", "X-CSRFToken": csrf})
                assert all(r["status"] == "duplicate" for r in json.loads(opener.open(request).read())["results"])
            replay = time.perf_counter() - start_replay
        finally:
            server.terminate()
            server.wait(10)
        with app.app_context():
            notes = db.session.execute(db.select(db.func.count(ProgressNote.id))).scalar_one()
        assert notes == 3 * (WARMUP + N_OPS) + HISTORY, notes  # the applier's and the raw baselines', once each
        plain = baseline(app, number, note_ops(number, N_OPS), per_commit=BATCH)
        plain_each = baseline(app, number, note_ops(number, N_OPS), per_commit=1)
        test_app = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
        applied_stmts, replay_stmts = statements_per_op(test_app, number)
        with test_app.app_context():
            db.session.remove()
            db.engine.dispose()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        drop()
        kind = "postgresql" if url.startswith("postgresql") else "sqlite"
        print(f"database: {kind}, {HISTORY} earlier ops in it; {N_OPS} note.added ops in batches of {BATCH}, "
              f"gunicorn with 2 workers "
              f"(after {WARMUP // BATCH} batches untimed, on every path; paths in turns of {TURN} batches)")
        print(f"sync through HTTP       {elapsed:6.2f} s   {N_OPS / elapsed:7.0f} ops/s "
              f"({'meets' if elapsed < 5 else 'MISSES'} < 5 s)")
        print(f"replay (all duplicate)  {replay:6.2f} s   {N_OPS / replay:7.0f} ops/s")
        print(f"raw, a statement a row  {raw:6.2f} s   {N_OPS / raw:7.0f} ops/s (baseline: per op its record's, "
              f"note's and audit event's INSERT, a savepoint per batch, through the driver, a commit per {BATCH}, "
              f"in process, taking turns with the applier's batches)")
        print(f"raw, applier's own SQL  {raw_own:6.2f} s   {N_OPS / raw_own:7.0f} ops/s (baseline: every statement the "
              f"applier sent for the same batches, reads included, captured and replayed through the driver)")
        print(f"plain SQLAlchemy rows   {plain:6.2f} s   {N_OPS / plain:7.0f} ops/s (baseline: same rows, "
              f"a commit per {BATCH})")
        print(f"  ... a commit per op   {plain_each:6.2f} s   {N_OPS / plain_each:7.0f} ops/s (for reference)")
        print(f"ratio sync / raw        {elapsed / raw:6.2f}x ({'meets' if elapsed / raw <= 3 else 'MISSES'} <= 3x, "
              f"against a statement a row)")
        print(f"ratio sync / own SQL    {elapsed / raw_own:6.2f}x ({'meets' if elapsed / raw_own <= 2 else 'MISSES'} "
              f"<= 2x, against its own statements replayed raw)")
        median_http, median_own = statistics.median(http_times), statistics.median(own_times)
        print(f"  ... a batch, median   {median_http * 1000:.1f} ms against {median_own * 1000:.1f} ms: "
              f"{median_http / median_own:.2f}x")
        print(f"ratio sync / ORM rows   {elapsed / plain:6.2f}x")
        print(f"load average            {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"SQL statements per op   {applied_stmts:6.2f} applied, {replay_stmts:.2f} replayed "
              f"(batch of {BATCH}, in process)")


if __name__ == "__main__":
    main()
