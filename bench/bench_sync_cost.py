"""What one sync batch costs in process: CPU time and SQL statements of `POST /api/v1/sync`, through Flask's test
client (no HTTP server, no other process), for the herd's two batches (bench_herd.py: 30 ops, one that signs and
one that does not), a batch of 50 notes (bench_sync.py's) and an empty batch (what a request costs before any op).

    .venv/bin/python bench/bench_sync_cost.py                 # SQLite (temporary file)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_sync_cost.py
    BENCH_PROFILE=sign .venv/bin/python bench/bench_sync_cost.py   # also cProfile that kind (sign, plain, notes)
    BENCH_KINDS=notes,empty .venv/bin/python bench/bench_sync_cost.py  # only those kinds
    BENCH_PROFILE_WALL=1 BENCH_GC_FREEZE=1 BENCH_PROFILE=sign ...  # the profile in wall time (waits included),
        # with the collector's startup objects frozen as in a gunicorn worker: CPU-time profiles pay a system call
        # per function call, which swells the functions called most, and a full collection lands on whatever runs

Printed per kind: the median CPU seconds of this process per batch (time.process_time: the database server's own
time is not in it, only the driver's), the median wall time, and the statements sent. The machine is shared: read
the CPU figures against another tree's measured in the same sitting, never alone.
"""
from __future__ import annotations

import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_alerts import png_data_url  # noqa: E402
from bench_board import database_url  # noqa: E402
from bench_herd import PASSWORD, note, plain_batch, seed, signing_batch  # noqa: E402
from sqlalchemy import event  # noqa: E402

from app import create_app  # noqa: E402
from domain.core.db import db  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 8))
WARMUP = 2


def signed_in(app, username: str):
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/auth/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.status_code
    return client, client.get("/api/v1/session").get_json()["csrf_token"]


def main() -> None:
    profile_kind = os.environ.get("BENCH_PROFILE")
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = database_url(Path(tmp))
        os.environ.update({"INSTANCE_PATH": tmp, "SECRET_KEY": "bench-secret", "RATELIMIT_STORAGE_URI": "memory://",
                           "LOGIN_RATE_LIMIT": "100000 per minute", "LOGIN_USER_RATE_LIMIT": "100000 per hour",
                           "PUBLIC_URL": "http://127.0.0.1", "HUEY_IMMEDIATE": ""})
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        per_phone = WARMUP + ROUNDS
        numbers = seed(app, 2, per_phone)
        names = sorted(numbers)
        signature = png_data_url()
        statements: list[str] = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", count)
        clients = {name: signed_in(app, name) for name in names}
        kinds = {
            "sign": (names[0], lambda n: signing_batch(n, signature)),
            "plain": (names[1], plain_batch),
            "notes": (names[1], lambda n: [note(n, i, -50 + i / 2) for i in range(50)]),  # after its arrival
            "empty": (names[1], lambda n: []),  # what a request costs before its first op
        }
        if os.environ.get("BENCH_KINDS"):  # e.g. "notes,empty": only those
            kinds = {kind: kinds[kind] for kind in os.environ["BENCH_KINDS"].split(",")}
        figures: dict[str, list[tuple[float, float, int]]] = {kind: [] for kind in kinds}
        # CPU time by default (the database and the load wait apart); BENCH_PROFILE_WALL: wall time
        profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE_WALL") else cProfile.Profile(time.process_time)
        gc_time = [0.0, 0, 0]  # seconds, collections, of which full

        def gc_clock(phase, info, started=[0.0]):  # noqa: B006 - the start of the collection under way
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                gc_time[0] += time.perf_counter() - started[0]
                gc_time[1] += 1
                gc_time[2] += info["generation"] == 2

        gc.callbacks.append(gc_clock)
        for i in range(per_phone):
            if i == WARMUP:  # the collections during the measured batches only
                gc_time[:] = [0.0, 0, 0]
                if os.environ.get("BENCH_GC_FREEZE"):  # as gunicorn.conf.py does in a worker, once loaded
                    gc.freeze()
            for kind, (name, make) in kinds.items():
                client, csrf = clients[name]
                number = numbers[name][i]
                body = {"device_id": f"{name}-phone", "ops": make(number)}
                del statements[:]
                cpu, wall = time.process_time(), time.perf_counter()
                if kind == profile_kind and i >= WARMUP:
                    profiler.enable()
                answer = client.post("/api/v1/sync", json=body, headers={"X-CSRFToken": csrf})
                profiler.disable()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                results = answer.get_json()["results"]
                applied = sum(r["status"] == "applied" for r in results)
                assert answer.status_code == 200 and applied == len(body["ops"]), (kind, i, results)
                if i >= WARMUP:
                    figures[kind].append((cpu, wall, len(statements)))
        print(f"database: {'postgresql' if url.startswith('postgresql') else 'sqlite'}; {ROUNDS} batches of each "
              f"kind (after {WARMUP} warm-up), load average {os.getloadavg()[0]:.1f}")
        print(f"   garbage collection during them: {gc_time[0] * 1000:.0f} ms, {gc_time[1]} collections "
              f"({gc_time[2]} full)")
        for kind, rows in figures.items():
            cpu = statistics.median(r[0] for r in rows) * 1000
            wall = statistics.median(r[1] for r in rows) * 1000
            print(f"   {kind:5}: CPU {cpu:6.1f} ms, wall {wall:6.1f} ms, statements {rows[-1][2]}")
        if profile_kind and os.environ.get("BENCH_PROFILE_OUT"):  # the raw profile, for pstats
            profiler.dump_stats(os.environ["BENCH_PROFILE_OUT"])
        if profile_kind:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(110)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            if os.environ.get("BENCH_CALLEES"):  # e.g. "_apply|_handle|add_note"
                pstats.Stats(profiler).sort_stats("cumulative").print_callees(os.environ["BENCH_CALLEES"])
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", count)
            db.session.remove()
            db.engine.dispose()
        drop()


if __name__ == "__main__":
    main()
