"""Fault injection: a batch interrupted by a dead app worker (SIGKILL: at a random point, or deterministically
right after its commit, before the answer) or a dropped database connection is applied exactly once after the
phone's retry. Prints the counts."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from blueprints.core.transaction import KILL_AFTER_COMMIT_ENV
from domain.core.db import db
from domain.core.models import AuditEvent
from domain.fieldwork import sync as applier
from domain.fieldwork.models import SyncOp
from domain.requests.models import ProgressNote, Ticket

from .orderfactory import make_prepared_visit
from .phones import app_processes, at, http_phone, phone


@pytest.fixture
def job(app, make_user):
    with app.app_context():
        return make_prepared_visit(make_user, tech="t1", other_tech="t2")


def notes(number: str, count: int) -> list[dict]:
    return [{"op_id": str(uuid.uuid4()), "kind": "note.added", "ticket": number, "at": at(-1),
             "data": {"note_id": str(uuid.uuid4()), "text": f"记录 {i}", "shown_to_customer": False}}
            for i in range(count)]


def stored(app, ops) -> tuple[int, int]:
    """(notes applied, op records) for these ops."""
    with app.app_context():
        note_ids = [uuid.UUID(o["data"]["note_id"]) for o in ops]
        op_ids = [uuid.UUID(o["op_id"]) for o in ops]
        applied = db.session.execute(select(func.count(ProgressNote.id)).where(ProgressNote.id.in_(note_ids)))
        records = db.session.execute(select(func.count(SyncOp.id)).where(SyncOp.op_id.in_(op_ids)))
        return applied.scalar_one(), records.scalar_one()


def test_a_dropped_database_connection_mid_batch_applies_each_op_once_after_the_retry(app, job, database_url,
                                                                                     monkeypatch):
    ops = notes(job["number"], 20)
    kind = applier.REGISTRY["note.added"]
    real = kind.handler
    calls = {"n": 0}

    def dropping(ticket, ctx, data, when, meta):
        calls["n"] += 1
        if calls["n"] == 11:  # the connection dies in the middle of the batch
            if database_url.startswith("postgresql"):
                pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                killer = sa.create_engine(database_url)
                with killer.connect() as conn:
                    conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                killer.dispose()
                db.session.execute(sa.text("SELECT 1"))  # the driver finds the connection gone
            else:
                raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real(ticket, ctx, data, when, meta)

    monkeypatch.setitem(applier.REGISTRY, "note.added", dataclasses.replace(kind, handler=dropping))
    client = phone(app)
    first = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": ops})
    after_drop = stored(app, ops)
    print(f"\ndropped connection: first answer {first.status_code}, stored after it (notes, records) {after_drop}")
    assert first.status_code == 500 and first.is_json  # nothing half-applied: the batch's one commit never ran
    assert after_drop == (0, 0)
    retry = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": ops})
    statuses = [r["status"] for r in retry.json["results"]]
    again = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": ops})
    final = stored(app, ops)
    print(f"retry: {statuses.count('applied')} applied; replay: "
          f"{[r['status'] for r in again.json['results']].count('duplicate')} duplicate; stored {final}")
    assert statuses == ["applied"] * len(ops)
    assert final == (len(ops), len(ops))


def _worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_worker_killed_mid_batch_applies_each_op_once_after_the_retry(app, job, database_url, tmp_path):
    ops = notes(job["number"], 200)
    with app_processes(database_url, tmp_path, count=1) as bases:
        base = bases[0]
        opener, csrf = http_phone(base)
        body = json.dumps({"device_id": "phone-1", "ops": ops}).encode()

        def post():
            request = urllib.request.Request(base + "/api/v1/sync", data=body, method="POST", headers={
                "Content-Type": "application/json", "X-CSRFToken": csrf})
            with opener.open(request, timeout=120) as response:
                return json.loads(response.read())["results"]

        outcome = {}

        def first_attempt():
            try:
                outcome["results"] = post()
            except (urllib.error.URLError, ConnectionError, OSError) as error:
                outcome["error"] = error

        master = int(subprocess.run(["pgrep", "-f", f"gunicorn.*{base.rsplit(':', 1)[1]}"], capture_output=True,
                                    text=True).stdout.split()[0])
        workers = _worker_pids(master)
        thread = threading.Thread(target=first_attempt)
        thread.start()
        time.sleep(0.4)  # the worker is inside the batch
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        thread.join(120)
        after_kill = stored(app, ops)
        deadline = time.monotonic() + 60
        while True:  # the master starts a new worker
            try:
                retry = post()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    statuses = [r["status"] for r in retry]
    final = stored(app, ops)
    first = f"failed ({type(outcome['error']).__name__})" if "error" in outcome else "answered"
    print(f"\nworker killed: first attempt {first}, stored after the kill (notes, records) {after_kill}; "
          f"retry {statuses.count('applied')} applied, {statuses.count('duplicate')} duplicate; stored {final}")
    assert after_kill in ((0, 0), (len(ops), len(ops)))  # all or nothing: one commit per batch
    assert set(statuses) <= {"applied", "duplicate"}
    assert final == (len(ops), len(ops))


def test_a_worker_killed_after_its_commit_before_answering_applies_each_op_once_after_the_retry(
        app, job, database_url, tmp_path, monkeypatch):
    """The case a random kill rarely hits: the batch is committed, the answer never leaves. The phone still has
    every op in its outbox and sends the batch again; each op must be answered duplicate, nothing applied twice."""
    ops = notes(job["number"], 50)
    with app.app_context():
        ticket_id = db.session.execute(select(Ticket.id).where(Ticket.number == job["number"])).scalar_one()

    def ticket_rows() -> tuple[int, int]:
        with app.app_context():
            notes_count = db.session.execute(select(func.count(ProgressNote.id))
                                             .where(ProgressNote.ticket_id == ticket_id)).scalar_one()
            events = db.session.execute(select(func.count(AuditEvent.id)).where(
                AuditEvent.ticket_id == ticket_id, AuditEvent.action == "note.added")).scalar_one()
            return notes_count, events

    before = ticket_rows()
    trigger = tmp_path / "kill-after-commit"
    monkeypatch.setenv(KILL_AFTER_COMMIT_ENV, str(trigger))  # read by the app process at each commit
    with app_processes(database_url, tmp_path, count=1) as bases:
        base = bases[0]
        opener, csrf = http_phone(base)
        body = json.dumps({"device_id": "phone-1", "ops": ops}).encode()

        def post():
            request = urllib.request.Request(base + "/api/v1/sync", data=body, method="POST", headers={
                "Content-Type": "application/json", "X-CSRFToken": csrf})
            with opener.open(request, timeout=120) as response:
                return json.loads(response.read())["results"]

        trigger.touch()  # the next commit is the batch's: its worker dies right after it
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            post()
        assert not trigger.exists()  # the fault happened (the worker took the trigger before killing itself)
        after_kill = stored(app, ops)
        deadline = time.monotonic() + 60
        while True:  # the master starts a new worker; the phone sends the same batch again
            try:
                retry = post()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    statuses = [r["status"] for r in retry]
    final = stored(app, ops)
    after = ticket_rows()
    with app.app_context():
        replays = db.session.execute(select(SyncOp.replays).where(
            SyncOp.op_id.in_([uuid.UUID(o["op_id"]) for o in ops]))).scalars().all()
    print(f"\nworker killed after its commit: stored before the retry (notes, records) {after_kill}; retry "
          f"{statuses.count('applied')} applied, {statuses.count('duplicate')} duplicate; stored {final}; "
          f"notes and note events added to the request {after[0] - before[0]}, {after[1] - before[1]}")
    assert after_kill == (len(ops), len(ops))  # committed although never answered
    assert statuses == ["duplicate"] * len(ops)
    assert [r["op_id"] for r in retry] == [o["op_id"] for o in ops]
    assert final == (len(ops), len(ops))
    assert (after[0] - before[0], after[1] - before[1]) == (len(ops), len(ops))  # each applied exactly once
    assert sorted(replays) == [1] * len(ops)
