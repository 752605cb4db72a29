"""The weekly report with 50,000 requests: median time of the report (domain), of the page, and the query plans.

    .venv/bin/python bench/bench_report.py            # SQLite (temporary file)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_report.py

Target (issue 7): the weekly report computed by SQL aggregation in under 500 ms median.
Baseline, measured in the same run: one plain COUNT of the requests entered in the same week, the least any
weekly figure could cost; the ratio shows what the whole report (three aggregations over two weeks) adds.
The requests are spread over a year (about 1,000 a week) with the clock rows the process writes for each stage,
and a signature with a rating for every on-site order signed.
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from bench_board import STATUSES, WEIGHTS, database_url  # noqa: E402  (the same database and mix of states)
from sqlalchemy import event, func, insert, select  # noqa: E402

from app import create_app  # noqa: E402
from domain.core import accounts  # noqa: E402
from domain.core.blobs import store_blob  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import Channel, ClockName, Resolution, Role, TicketStatus, Urgency  # noqa: E402
from domain.fieldwork.models import Signature
from domain.reporting import reports  # noqa: E402
from domain.requests.catalog import ensure_catalog  # noqa: E402
from domain.requests.models import Customer, DeviceModel, Ticket
from domain.sla.models import TicketClock

N_REQUESTS = int(os.environ.get("BENCH_REQUESTS", 50_000))
REPEAT = int(os.environ.get("BENCH_REPEAT", 25))
TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "bench-pass-1"
LATER = {TicketStatus.SIGNED, TicketStatus.SUBMITTED, TicketStatus.APPROVED}


def clock(ticket_id: int, name: ClockName, started: datetime, minutes: float, took: float | None,
          rng: random.Random, *, late_share: float = 0.1) -> dict:
    """A clock row: done within the window most of the time, late sometimes, open when `took` is None."""
    due = started + timedelta(minutes=minutes)
    if took is not None and rng.random() < late_share:
        took = minutes * (1 + rng.random())
    return {"ticket_id": ticket_id, "name": name.value, "started_at": started, "due_at": due,
            "done_at": None if took is None else started + timedelta(minutes=took), "not_applicable": False}


def seed(app) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    with app.app_context():
        db.create_all()
        ensure_catalog()
        accounts.create_user("boss", PASSWORD, Role.SUPERVISOR, via="cli")
        techs = [accounts.create_user(f"tech{i}", PASSWORD, Role.TECHNICIAN, display_name=f"技术员{i}", via="cli")
                 for i in range(25)]
        db.session.flush()
        blob = store_blob(b"\x89PNG bench signature", "image/png").sha256
        models = db.session.execute(select(DeviceModel)).scalars().all()
        db.session.execute(insert(Customer), [
            {"name": f"客户{i:04d}直播间", "contact_person": f"联系人{i}", "phone": f"139{i:08d}",
             "address": f"上海市某区某路{i}号"} for i in range(2000)])
        customer_ids = db.session.execute(select(Customer.id)).scalars().all()
        rows, clocks, signatures = [], [], []
        for i in range(N_REQUESTS):
            tid = i + 1
            created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 365))
            status = rng.choices(STATUSES, WEIGHTS)[0]
            model = rng.choice(models)
            urgency = Urgency.URGENT if rng.random() < 0.3 else Urgency.NORMAL
            assignee = rng.choice(techs) if status not in (TicketStatus.NEW, TicketStatus.CANCELLED) else None
            contacted = status not in (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.CANCELLED)
            remote = status == TicketStatus.REMOTE_RESOLVED or (status in LATER and rng.random() < 0.4)
            on_site = status in LATER and not remote
            reported = created - timedelta(minutes=rng.randint(1, 25))
            contact_at = created + timedelta(minutes=rng.randint(3, 40))
            fixed = contact_at + timedelta(minutes=rng.randint(5, 40))
            visit_at = contact_at + timedelta(hours=rng.randint(3, 30))
            signed = visit_at + timedelta(minutes=rng.randint(30, 150))
            rows.append({
                "id": tid, "number": f"FS-{created.year}-{tid:06d}", "status": status.value,
                "urgency": urgency.value, "channel": Channel.PHONE.value, "customer_id": rng.choice(customer_ids),
                "contact_phone": f"138{i:08d}", "device_model_id": model.id, "device_category_id": model.category_id,
                "device_model_text": model.label, "problem": f"设备故障描述 {i}：画面无输出，需要排查",
                "reported_at": reported, "created_at": created, "updated_at": created,
                "assignee_id": assignee.id if assignee else None, "version": 1, "is_complex": False,
                "first_contact_at": contact_at if contacted else None,
                "resolution": Resolution.REMOTE.value if remote else Resolution.ON_SITE.value if on_site else None,
                "remote_resolved_at": fixed if remote else None,
                "cancelled_at": created + timedelta(hours=1) if status == TicketStatus.CANCELLED else None,
            })
            clocks.append(clock(tid, ClockName.INTAKE, reported, 15, (created - reported).total_seconds() / 60,
                                rng, late_share=0))
            window = 30 if urgency == Urgency.URGENT else 60
            first = clock(tid, ClockName.FIRST_CONTACT, created, window,
                          (contact_at - created).total_seconds() / 60 if contacted else None, rng, late_share=0.05)
            first["not_applicable"] = status == TicketStatus.CANCELLED
            clocks.append(first)
            if not contacted:
                continue
            clocks.append(clock(tid, ClockName.REMOTE_FIX, contact_at, 30,
                                (fixed - contact_at).total_seconds() / 60 if remote else None, rng))
            if not remote:
                clocks[-1]["not_applicable"] = status != TicketStatus.CONTACTED
            if remote:
                clocks.append(clock(tid, ClockName.ORDER_FILED, fixed, 10, rng.uniform(1, 9), rng))
                clocks.append(clock(tid, ClockName.SUBMISSION, fixed, 120,
                                    rng.uniform(10, 110) if status in (TicketStatus.SUBMITTED,
                                                                       TicketStatus.APPROVED) else None, rng))
            elif status != TicketStatus.CONTACTED:
                clocks.append(clock(tid, ClockName.PREPARATION, contact_at,
                                    (visit_at - contact_at).total_seconds() / 60 - 60,
                                    None if status == TicketStatus.VISIT_SCHEDULED else 30, rng))
            if on_site:
                clocks.append(clock(tid, ClockName.SUBMISSION, signed, 120,
                                    rng.uniform(10, 110) if status != TicketStatus.SIGNED else None, rng))
                signatures.append({"ticket_id": tid, "signer_name": "客户", "rating": rng.choices(
                    [1, 2, 3, 4, 5], [1, 2, 7, 30, 60])[0], "png_sha256": blob, "strokes": [],
                    "signed_at_client": signed, "signed_at": signed, "device_id": "bench",
                    "technician_id": assignee.id})
            if status == TicketStatus.APPROVED and rng.random() < 0.05:
                clocks.append(clock(tid, ClockName.CASE_ANALYSIS, signed, 3 * 24 * 60, 2 * 24 * 60, rng,
                                    late_share=0.2))
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Ticket), rows[start:start + 5000])
        for start in range(0, len(clocks), 10000):
            db.session.execute(insert(TicketClock), clocks[start:start + 10000])
        for start in range(0, len(signatures), 5000):
            db.session.execute(insert(Signature), signatures[start:start + 5000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        print(f"{len(clocks)} clock rows, {len(signatures)} signatures")


def timed(function, repeat: int = REPEAT) -> tuple[float, float]:
    function()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), sorted(times)[max(0, int(len(times) * 0.95) - 1)]


def explain(app, week: str) -> None:
    """The plan of each statement of the report: each should read an index, not scan a whole table."""
    with app.app_context():
        captured = []

        def keep(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", keep)
        reports.weekly_report(week, datetime.now(UTC), TZ)
        event.remove(db.engine, "before_cursor_execute", keep)
        sqlite = db.engine.dialect.name == "sqlite"
        connection = db.session.connection()
        for statement, parameters in captured:
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = connection.exec_driver_sql(prefix + statement, parameters).all()
            lines = [row[-1] if sqlite else row[0] for row in plan]
            # PostgreSQL's plan is long: its scan nodes say which indexes it reads.
            lines = [line.strip() for line in lines if sqlite or "Scan" in line or "Index Cond" in line]
            table = statement.split("FROM", 1)[1].split()[0]
            print(f"  plan ({table}): " + " | ".join(lines))
        db.session.rollback()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        url, drop = database_url(Path(tmp))
        try:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False,
                              "WTF_CSRF_ENABLED": False})
            started = time.perf_counter()
            seed(app)
            print(f"database: {sa.engine.make_url(url).get_backend_name()}, {N_REQUESTS} requests seeded in "
                  f"{time.perf_counter() - started:.1f} s; {REPEAT} runs each")
            week = reports.last_complete_week(datetime.now(UTC), TZ)
            with app.app_context():
                statements = []

                def count(*args):
                    statements.append(1)

                event.listen(db.engine, "before_cursor_execute", count)
                report = reports.weekly_report(week.label, datetime.now(UTC), TZ)
                event.remove(db.engine, "before_cursor_execute", count)
                n_statements = len(statements)
                counted = report.current.overall["response_rate"]
                print(f"week {week.label}: response {counted.numerator}/{counted.denominator}, resolution "
                      f"{report.current.overall['resolution_rate'].numerator}/"
                      f"{report.current.overall['resolution_rate'].denominator}, ratings "
                      f"{report.current.overall.satisfaction.denominator}, {len(report.technicians)} technicians")

                def domain_report():
                    reports.weekly_report(week.label, datetime.now(UTC), TZ)
                    db.session.rollback()

                def plain_count():
                    db.session.execute(select(func.count(Ticket.id)).where(
                        Ticket.created_at >= week.start, Ticket.created_at < week.end)).scalar_one()
                    db.session.rollback()

                report_median, report_p95 = timed(domain_report)
                base_median, _ = timed(plain_count)
            client = app.test_client()
            assert client.post("/auth/login", data={"username": "boss", "password": PASSWORD}).status_code == 302

            def page(path):
                def get():
                    response = client.get(path)
                    assert response.status_code == 200, (path, response.status_code)
                return get

            page_median, page_p95 = timed(page(f"/reports/weekly?week={week.label}"))
            api_median, api_p95 = timed(page(f"/api/v1/reports/weekly?week={week.label}"))
            csv_median, csv_p95 = timed(page(f"/reports/weekly.csv?week={week.label}"))
            pdf_median, pdf_p95 = timed(page(f"/reports/weekly.pdf?week={week.label}"), repeat=5)
            print(f"{'figure':36} {'median ms':>10} {'p95 ms':>8} {'x baseline':>11}")
            for name, median, p95 in [("weekly report (domain, 2 weeks)", report_median, report_p95),
                                      ("JSON API", api_median, api_p95),
                                      ("page with charts", page_median, page_p95),
                                      ("CSV export", csv_median, csv_p95),
                                      ("PDF export (5 runs)", pdf_median, pdf_p95)]:
                print(f"{name:36} {median:10.1f} {p95:8.1f} {median / base_median:11.1f}")
            print(f"baseline (plain COUNT of the week's requests): {base_median:.2f} ms median; "
                  f"the report runs {n_statements} SQL statements")
            print(f"report median {report_median:.1f} ms: "
                  f"{'meets' if report_median < 500 else 'MISSES'} the 500 ms target")
            explain(app, week.label)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        finally:
            drop()


if __name__ == "__main__":
    main()
