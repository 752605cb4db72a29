"""The phone's jobs feed (`GET /api/v1/me/jobs`) for a technician with many open jobs: each job's clocks computed
once (the request summary's, reused for the submission deadline) against twice (as before: the summary computed
them, then the feed again). The baseline is the same feed with the second pass put back, measured in the same run.

    .venv/bin/python bench/bench_jobs_feed.py [JOBS]
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from domain.core import accounts, context  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import ContactMethod, Role  # noqa: E402
from domain.fieldwork import jobs as jobs_module  # noqa: E402
from domain.requests import assignment, intake, remote_work, visits  # noqa: E402
from domain.requests.catalog import ensure_catalog  # noqa: E402
from domain.requests.models import Ticket
from domain.requests.serialise import request_summary  # noqa: E402
from domain.sla.clocks import ticket_clocks  # noqa: E402

PASSWORD = "bench-pass-1"
REPEAT = 25
ROUNDS = 5
SHANGHAI = ZoneInfo("Asia/Shanghai")


def seed(count: int) -> None:
    desk = accounts.create_user("bench-desk", PASSWORD, Role.DISPATCHER, display_name="客服", via="cli")
    boss = accounts.create_user("bench-boss", PASSWORD, Role.SUPERVISOR, display_name="主管", via="cli")
    tech = accounts.create_user("bench-tech", PASSWORD, Role.TECHNICIAN, display_name="张工", via="cli")
    ensure_catalog()
    db.session.flush()
    start = datetime.now(UTC) - timedelta(hours=6)
    for index in range(count):
        now = start + timedelta(minutes=index)

        def ctx(user, minutes=0, now=now):
            return context.Context(actor=user, tz=SHANGHAI, now=now + timedelta(minutes=minutes))

        ticket = intake.create_request({
            "customer_name": f"直播间 {index}", "contact_phone": "13600136004", "address": "上海市静安区万航渡路1188号",
            "device_model": "Behringer X32 Compact", "problem": "主输出无声", "urgency": "urgent" if index % 3 else
            "normal"}, ctx(desk))
        db.session.flush()
        assignment.assign(ticket, tech, ctx(boss, 1))
        if index % 2:
            remote_work.record_contact(ticket, ctx(tech, 5), method=ContactMethod.PHONE)
            visits.schedule_visit(ticket, ctx(tech, 6), scheduled_at=now + timedelta(hours=8),
                                    address="上海市静安区万航渡路1188号")
        db.session.flush()
    db.session.commit()


def median_ms(client) -> float:
    client.get("/api/v1/me/jobs")
    times = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        response = client.get("/api/v1/me/jobs")
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    return statistics.median(times)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "RATELIMIT_ENABLED": False,
                          "WTF_CSRF_ENABLED": False})
        with app.app_context():
            db.create_all()
            seed(count)
        client = app.test_client()
        client.post("/auth/login", data={"username": "bench-tech", "password": PASSWORD})
        assert len(client.get("/api/v1/me/jobs").json["jobs"]) == count
        print(f"load average: {os.getloadavg()[0]:.2f}  jobs in the feed: {count}")
        once, twice = [], []
        for _ in range(ROUNDS):  # interleaved, so both see the same machine
            once.append(median_ms(client))
            # Before: the summary computed the clocks itself, then the feed computed them again.
            jobs_module.request_summary = lambda ticket, now, clocks=None: request_summary(ticket, now)
            try:
                twice.append(median_ms(client))
            finally:
                jobs_module.request_summary = request_summary
        after, before = statistics.median(once), statistics.median(twice)
        with app.app_context():  # what the second pass cost: every job's clocks, once
            tickets = db.session.execute(db.select(Ticket)).scalars().all()
            now = datetime.now(UTC)
            for ticket in tickets:
                ticket_clocks(ticket, now)
            began = time.perf_counter()
            for _ in range(REPEAT):
                for ticket in tickets:
                    ticket_clocks(ticket, now)
            clocks_ms = (time.perf_counter() - began) * 1000 / REPEAT
        print(f"clocks computed once (now):      {after:7.1f} ms (median of {REPEAT}, x{ROUNDS})")
        print(f"clocks computed twice (before):  {before:7.1f} ms (baseline)")
        print(f"ratio now / before:              {after / before:7.2f}")
        print(f"one pass of clocks, all jobs:    {clocks_ms:7.1f} ms (what the second pass cost)")


if __name__ == "__main__":
    main()
