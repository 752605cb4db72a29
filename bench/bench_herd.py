"""The herd: 100 phones come back online at once, each sending its outbox of 30 ops in one sync batch, through
gunicorn (2 workers, the README's production flags) with a real Huey worker (2 task processes, as production's)
rendering the PDFs.

    .venv/bin/python bench/bench_herd.py           # SQLite (temporary file)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_herd.py
    BENCH_HUEY_REDIS=redis://127.0.0.1:6379/0 ...  # the worker's queue on Redis instead of instance/huey.db
    BENCH_WORKER_PROCESSES=1 ...                     # one task process instead of production's two

Two herds, each 100 batches sent at the same moment from 100 threads (one signed-in session per phone):
  1. no batch signs: arrival, the problem confirmed, 28 notes;
  2. every batch signs: arrival, the problem confirmed, 22 notes, the cause and work done, a test, the customer's
     confirmation, precautions, the signature (a PNG drawn like a hand signature) and the departure.
Printed: p50 / p95 / max of the answers, errors, then, after the worker drained its queue, the signed orders
rendered, pending and failed. Baseline, same run: one batch of each kind sent alone (median of 5).
Goal (issue 13): the signing herd at p95 under 3 s on PostgreSQL; on SQLite no error and no order left
unrendered after the worker drains.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import requests  # noqa: E402
from bench_alerts import mixer_tests, png_data_url  # noqa: E402
from bench_board import database_url  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from app import create_app  # noqa: E402
from domain.core import accounts, context  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import ContactMethod, RenderState, Role  # noqa: E402
from domain.documents.models import ServiceOrder  # noqa: E402
from domain.requests import assignment, intake, remote_work, visits  # noqa: E402
from domain.requests.catalog import ensure_catalog  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "bench-pass-1"
PHONES = int(os.environ.get("BENCH_PHONES", 100))
OPS = 30
ALONE = 5  # batches of each kind sent alone, for the baseline
DRAIN_TIMEOUT = float(os.environ.get("BENCH_DRAIN_S", 600))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def seed(app, phones: int, per_phone: int) -> dict[str, list[str]]:
    """`phones` technicians, each with `per_phone` requests whose visit is prepared (ready for arrival)."""
    numbers: dict[str, list[str]] = {}
    with app.app_context():
        db.create_all()
        ensure_catalog()
        desk = accounts.create_user("desk", PASSWORD, Role.DISPATCHER, via="cli")
        boss = accounts.create_user("boss", PASSWORD, Role.SUPERVISOR, via="cli")
        techs = [accounts.create_user(f"herd{i:03d}", PASSWORD, Role.TECHNICIAN, via="cli") for i in range(phones)]
        for user in techs:  # a cheap hash: signing 100 phones in is not what is measured
            user.password_hash = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
        db.session.commit()
        now = datetime.now(UTC) - timedelta(hours=2)
        for tech in techs:
            numbers[tech.username] = []
            for _ in range(per_phone):
                def ctx(who, minutes):
                    return context.Context(actor=who, tz=TZ, now=now + timedelta(minutes=minutes))

                ticket = intake.create_request({"customer_name": "远山音乐现场", "contact_phone": "13600136004",
                                                  "device_model": "Behringer X32 Compact", "problem": "主输出无声",
                                                  "urgency": "urgent"}, ctx(desk, 0))
                assignment.assign(ticket, tech, ctx(boss, 1))
                remote_work.record_contact(ticket, ctx(tech, 5), method=ContactMethod.PHONE,
                                        at=now + timedelta(minutes=5))
                visit = visits.schedule_visit(ticket, ctx(tech, 6), scheduled_at=now + timedelta(minutes=90),
                                                address="上海市静安区万航渡路1188号", agreed_with="赵远")
                db.session.flush()
                visits.confirm_preparation(ticket, ctx(tech, 10), checked_item_ids={i.id for i in visit.prep_items})
                numbers[tech.username].append(ticket.number)
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return numbers


def op(kind, number, data=None, minutes=0.0):
    at = (datetime.now(UTC) + timedelta(minutes=minutes)).astimezone(TZ).isoformat()
    return {"op_id": str(uuid.uuid4()), "kind": kind, "ticket": number, "at": at, "data": data or {}}


def note(number, i, minutes):
    return op("note.added", number, {"note_id": str(uuid.uuid4()), "text": f"现场排查第 {i} 步：检查线缆与输出设置",
                                     "shown_to_customer": i % 3 == 0}, minutes=minutes)


def plain_batch(number: str) -> list[dict]:
    return ([op("visit.arrived", number, minutes=-60), op("problem.confirmed", number, {"text": "主输出无声"}, -59)]
            + [note(number, i, -58 + i) for i in range(OPS - 2)])


def signing_batch(number: str, signature: str) -> list[dict]:
    ops = [op("visit.arrived", number, minutes=-60), op("problem.confirmed", number, {"text": "主输出无声"}, -59)]
    ops += [note(number, i, -58 + i) for i in range(OPS - 11)]
    ops += [op("work.recorded", number, {"cause": "输出线缆松动", "work_done": "更换输出线缆"}, minutes=-12),
            *mixer_tests(number, -10),
            op("customer.confirmed", number, {"note": "设备运行正常"}, minutes=-8),
            op("precautions.told", number, {"items": ["开关机前先将推子归零"]}, minutes=-7),
            op("order.signed", number, {"signer_name": "赵远", "rating": 5, "comment": "很专业",
                                        "signature_png": signature, "strokes": [[[1, 2, 0], [3, 4, 9]]]},
               minutes=-5),
            op("visit.departed", number, minutes=-2)]
    assert len(ops) == OPS
    return ops


class Phone:
    def __init__(self, base: str, username: str):
        self.base, self.username = base, username
        self.session = requests.Session()
        page = self.session.get(base + "/auth/login").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        answer = self.session.post(base + "/auth/login", data={"username": username, "password": PASSWORD,
                                                               "csrf_token": token}, allow_redirects=False)
        assert answer.status_code == 302, (username, answer.status_code)
        self.csrf = self.session.get(base + "/api/v1/session").json()["csrf_token"]

    def sync(self, ops: list[dict]) -> tuple[float, int, int]:
        """(seconds, HTTP status, ops applied)."""
        started = time.perf_counter()
        try:
            response = self.session.post(self.base + "/api/v1/sync", json={"device_id": f"{self.username}-phone",
                                                                            "ops": ops},
                                         headers={"X-CSRFToken": self.csrf}, timeout=300)
        except requests.RequestException:
            return time.perf_counter() - started, 0, 0
        elapsed = time.perf_counter() - started
        applied = sum(r["status"] == "applied" for r in response.json()["results"]) \
            if response.status_code == 200 else 0
        return elapsed, response.status_code, applied


def herd(phones: list[Phone], batches: list[list[dict]]) -> list[tuple[float, int, int]]:
    """Every phone sends its batch at the same moment."""
    barrier = threading.Barrier(len(phones))
    results: list = [None] * len(phones)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = phones[i].sync(batches[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(phones))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def report(name: str, results, alone: list[float]) -> None:
    times = [r[0] for r in results]
    errors = [r[1] for r in results if r[1] != 200]
    incomplete = sum(1 for r in results if r[1] == 200 and r[2] != OPS)
    base = statistics.median(alone)
    print(f"   {name}: p50 {statistics.median(times):5.2f} s, p95 {pct(times, 95):5.2f} s, max {max(times):5.2f} s;"
          f" errors {len(errors)} {sorted(set(errors)) if errors else ''}, batches not fully applied {incomplete};"
          f" alone {base * 1000:.0f} ms (p95 / alone {pct(times, 95) / base:.0f}x)")


def wait_http(base: str, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit("gunicorn exited")
        try:
            requests.get(base + "/healthz", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not answer")


def orders_by_state(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(ServiceOrder.render_state, func.count())
                                  .group_by(ServiceOrder.render_state)).all()
        db.session.remove()
        return {state.value if isinstance(state, RenderState) else str(state): n for state, n in rows}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = database_url(Path(tmp))
        env = {**os.environ, "INSTANCE_PATH": tmp, "DATABASE_URL": url, "SECRET_KEY": "bench-secret",
               "RATELIMIT_STORAGE_URI": "memory://", "LOGIN_RATE_LIMIT": "100000 per minute",
               "LOGIN_USER_RATE_LIMIT": "100000 per hour", "PUBLIC_URL": "http://127.0.0.1"}
        if os.environ.get("BENCH_HUEY_REDIS"):
            env["HUEY_REDIS_URL"] = os.environ["BENCH_HUEY_REDIS"]
        os.environ.update({k: v for k, v in env.items() if k != "DATABASE_URL"})
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        started = time.perf_counter()
        numbers = seed(app, PHONES, 3)
        print(f"database: {'postgresql' if url.startswith('postgresql') else 'sqlite'}; {PHONES} phones x {OPS} ops; "
              f"seeded in {time.perf_counter() - started:.0f} s; worker queue: "
              f"{'redis' if env.get('HUEY_REDIS_URL') else 'instance/huey.db'}")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # The README's production command, with 2 workers (2 cores).
        server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--workers", "2", "--max-requests", "1000",
                                   "--max-requests-jitter", "100", "--bind", f"127.0.0.1:{port}",
                                   "--log-level", "warning", "app:create_app()"], cwd=ROOT, env=env,
                                  start_new_session=True)
        # The worker as docs/production.md runs it (2 task processes; BENCH_WORKER_PROCESSES=1 for one).
        worker = subprocess.Popen([str(ROOT / ".venv/bin/flask"), "--app", "app", "worker", "--workers",
                                   os.environ.get("BENCH_WORKER_PROCESSES", "2")],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(Path(tmp) / "worker.log", "w"), start_new_session=True)
        try:
            wait_http(base, server)
            names = sorted(numbers)
            phones = [Phone(base, name) for name in names]
            signature = png_data_url()
            # Warm-up (both gunicorn workers: imports, templates), then the baseline: one batch of each kind alone
            # (the first phones' third request).
            for i in range(2 * ALONE, 2 * ALONE + 4):
                batch = plain_batch if i % 2 else (lambda n: signing_batch(n, signature))
                phones[i].sync(batch(numbers[names[i]][2]))
            alone_plain = [phones[i].sync(plain_batch(numbers[names[i]][2]))[0] for i in range(ALONE)]
            alone_sign = [phones[ALONE + i].sync(signing_batch(numbers[names[ALONE + i]][2], signature))[0]
                          for i in range(ALONE)]
            time.sleep(5)  # the worker renders the baseline's orders before the herds
            load = os.getloadavg()[0]
            plain = herd(phones, [plain_batch(numbers[name][0]) for name in names])
            signing_started = time.perf_counter()
            signing = herd(phones, [signing_batch(numbers[name][1], signature) for name in names])
            herd_done = time.perf_counter()
            print(f"1. the herds (load average {load:.1f} before, {os.getloadavg()[0]:.1f} after):")
            report("no batch signs   ", plain, alone_plain)
            report("every batch signs", signing, alone_sign)
            ratio = pct([r[0] for r in signing], 95) / pct([r[0] for r in plain], 95)
            print(f"   signing herd / plain herd, p95: {ratio:.2f}x")
            # The worker drains: every signed order rendered.
            signed = sum(orders_by_state(app).values())  # the orders signed (a refused signature makes none)
            deadline = time.perf_counter() + DRAIN_TIMEOUT
            while time.perf_counter() < deadline:
                states = orders_by_state(app)
                if states.get("rendered", 0) + states.get("failed", 0) >= signed:
                    break
                time.sleep(2)
            drained = time.perf_counter() - signing_started
            states = orders_by_state(app)
            print(f"2. after the worker drained ({drained:.0f} s from the signing herd's start, herd answered in "
                  f"{herd_done - signing_started:.1f} s): {sum(states.values())} signed orders, "
                  f"{states.get('rendered', 0)} rendered, {states.get('pending', 0)} pending, "
                  f"{states.get('failed', 0)} failed")
        finally:
            for process in (server, worker):
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            for process in (server, worker):
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            drop()
        log = (Path(tmp) / "worker.log").read_text(errors="replace")
        problems = [line for line in log.splitlines() if "ERROR" in line or "Traceback" in line]
        print(f"   worker log: {len(problems)} error lines" + (f" (first: {problems[0][:160]})" if problems else ""))
        recycled = [line for line in log.splitlines() if "recycling" in line.lower()]
        print(f"   task processes recycled for their memory: {len(recycled)}"
              + (f" (last: {recycled[-1][-80:]})" if recycled else ""))
        if problems:  # the first one whole: a traceback says where
            lines = log.splitlines()
            first = lines.index(problems[0])
            print("\n".join("     " + line for line in lines[first:first + 30]))


if __name__ == "__main__":
    main()
