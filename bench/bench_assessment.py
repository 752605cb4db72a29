"""The monthly technician assessment on a month of 20 technicians and 3,000 requests: p50/p95 of the assessment
(domain), its page (team overview, and one technician), JSON, CSV and PDF, each as a ratio to the weekly report's
page on the same data (the baseline: the page a supervisor already opens every week).

    .venv/bin/python bench/bench_assessment.py            # SQLite (temporary file)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_assessment.py

The month is the last complete one; every request has the clock rows its path writes, on-site ones a signature
(most with a rating), a quarter of the services a rating afterwards, most orders a review (some returned first),
and one approved order in twenty a case analysis. It also counts the SQL statements: one per family of figures,
whatever the number of technicians.
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
from bench_board import database_url  # noqa: E402  (the same temporary database, or a schema of BENCH_DATABASE_URL)
from sqlalchemy import event, insert, select  # noqa: E402

from app import create_app  # noqa: E402
from domain.core import accounts  # noqa: E402
from domain.core.blobs import store_blob  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import (  # noqa: E402
    AnalysisTrigger,
    Channel,
    ClockName,
    Resolution,
    ReviewDecision,
    Role,
    TicketStatus,
    Urgency,
)
from domain.customer.models import FollowUpRating  # noqa: E402
from domain.documents.models import CaseAnalysis, Review  # noqa: E402
from domain.fieldwork.models import Signature  # noqa: E402
from domain.reporting import assessment as assessing  # noqa: E402
from domain.reporting import reports  # noqa: E402
from domain.requests.models import Customer, Ticket  # noqa: E402
from domain.sla.models import TicketClock  # noqa: E402

N_REQUESTS = int(os.environ.get("BENCH_REQUESTS", 3_000))
N_TECHNICIANS = int(os.environ.get("BENCH_TECHNICIANS", 20))
REPEAT = int(os.environ.get("BENCH_REPEAT", 30))
TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "bench-pass-1"


def seed(app, month: assessing.Month) -> None:
    rng = random.Random(22)
    span = (month.end - month.start).total_seconds() / 60
    with app.app_context():
        db.create_all()
        boss = accounts.create_user("boss", PASSWORD, Role.SUPERVISOR, via="cli")
        techs = [accounts.create_user(f"tech{i:02d}", PASSWORD, Role.TECHNICIAN, display_name=f"技术员{i}", via="cli")
                 for i in range(N_TECHNICIANS)]
        db.session.flush()
        blob = store_blob(b"\x89PNG bench signature", "image/png").sha256
        customer = Customer(name="基准客户直播间", phone="13900000000")
        db.session.add(customer)
        db.session.flush()
        tickets, clocks, signatures, follow_ups, reviews, analyses = [], [], [], [], [], []

        def clock(tid, name, started, minutes, took, late=0.1):
            due = started + timedelta(minutes=minutes)
            if took is not None and rng.random() < late:
                took = minutes * (1 + rng.random())
            clocks.append({"ticket_id": tid, "name": name.value, "started_at": started, "due_at": due,
                           "done_at": None if took is None else started + timedelta(minutes=took),
                           "not_applicable": False})

        for i in range(N_REQUESTS):
            tid = i + 1
            created = month.start + timedelta(minutes=rng.uniform(0, span))
            tech = rng.choice(techs)
            cancelled = rng.random() < 0.03
            remote = not cancelled and rng.random() < 0.45
            on_site = not cancelled and not remote and rng.random() < 0.9
            fixed = created + timedelta(minutes=rng.randint(10, 50))
            signed = created + timedelta(hours=rng.randint(3, 30))
            served = remote or on_site
            status = (TicketStatus.CANCELLED if cancelled else TicketStatus.APPROVED if served and rng.random() < 0.8
                      else TicketStatus.SUBMITTED if served else TicketStatus.CONTACTED)
            tickets.append({
                "id": tid, "number": f"FS-B-{tid:06d}", "status": status.value, "urgency": Urgency.NORMAL.value,
                "channel": Channel.PHONE.value, "customer_id": customer.id, "contact_phone": "13900000000",
                "device_model_text": "ATEM Mini Pro", "problem": "画面无输出",
                "reported_at": created - timedelta(minutes=5), "created_at": created, "updated_at": created,
                "assignee_id": tech.id, "version": 1, "is_complex": False,
                "resolution": Resolution.REMOTE.value if remote else Resolution.ON_SITE.value if on_site else None,
                "remote_resolved_at": fixed if remote else None,
                "cancelled_at": created + timedelta(hours=1) if cancelled else None})
            clock(tid, ClockName.INTAKE, created - timedelta(minutes=5), 15, 5, late=0.05)
            clock(tid, ClockName.FIRST_CONTACT, created, 60, rng.uniform(3, 50), late=0.08)
            if cancelled:
                continue
            if remote:
                clock(tid, ClockName.REMOTE_FIX, created, 30, rng.uniform(5, 28))
                clock(tid, ClockName.ORDER_FILED, fixed, 10, rng.uniform(1, 9))
                clock(tid, ClockName.SUBMISSION, fixed, 120, rng.uniform(10, 110))
            elif on_site:
                clock(tid, ClockName.PREPARATION, created, 120, rng.uniform(20, 110))
                clock(tid, ClockName.SUBMISSION, signed, 120, rng.uniform(10, 110))
                signatures.append({"ticket_id": tid, "signer_name": "客户", "rating": rng.choice([None, 3, 4, 5, 5]),
                                   "png_sha256": blob, "strokes": [], "signed_at_client": signed, "signed_at": signed,
                                   "device_id": "bench", "technician_id": tech.id})
            ended = fixed if remote else signed
            if (remote or on_site) and rng.random() < 0.25:
                follow_ups.append({"ticket_id": tid, "rating": rng.choice([2, 4, 5, 5]),
                                   "rated_at": ended + timedelta(hours=rng.randint(1, 48))})
            if status == TicketStatus.APPROVED:
                at = ended + timedelta(hours=rng.randint(2, 20))
                if rng.random() < 0.1:
                    reviews.append({"ticket_id": tid, "reviewer_id": boss.id,
                                    "decision": ReviewDecision.RETURNED.value, "comment": "请补充", "created_at": at})
                    at += timedelta(hours=3)
                reviews.append({"ticket_id": tid, "reviewer_id": boss.id, "decision": ReviewDecision.APPROVED.value,
                                "created_at": at})
                if rng.random() < 0.05:
                    trigger = rng.choice([AnalysisTrigger.FIRST_SEEN, AnalysisTrigger.COMPLEX])
                    analyses.append({"ticket_id": tid, "trigger": trigger.value, "opened_at": at,
                                     "due_at": at + timedelta(days=3),
                                     "completed_at": at + timedelta(days=1) if rng.random() < 0.7 else None})
                    clock(tid, ClockName.CASE_ANALYSIS, at, 3 * 24 * 60, 24 * 60)
        for model, rows in ((Ticket, tickets), (TicketClock, clocks), (Signature, signatures),
                            (FollowUpRating, follow_ups), (Review, reviews), (CaseAnalysis, analyses)):
            for start in range(0, len(rows), 5000):
                db.session.execute(insert(model), rows[start:start + 5000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        print(f"{len(tickets)} requests, {len(clocks)} clock rows, {len(signatures)} signatures, {len(follow_ups)} "
              f"ratings afterwards, {len(reviews)} reviews, {len(analyses)} case analyses, {N_TECHNICIANS} technicians")


def timed(function, repeat: int = REPEAT) -> tuple[float, float]:
    function()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), sorted(times)[max(0, int(len(times) * 0.95) - 1)]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        url, drop = database_url(Path(tmp))
        try:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False,
                              "WTF_CSRF_ENABLED": False})
            month = assessing.last_complete_month(datetime.now(UTC), TZ)
            started = time.perf_counter()
            seed(app, month)
            print(f"database: {sa.engine.make_url(url).get_backend_name()}, month {month.label} seeded in "
                  f"{time.perf_counter() - started:.1f} s; {REPEAT} runs each (PDF 5)")
            week = reports.week_of(month.start + timedelta(days=10), TZ)
            with app.app_context():
                statements = []

                def count(*args):
                    statements.append(1)

                event.listen(db.engine, "before_cursor_execute", count)
                report = assessing.assessment(month.label, datetime.now(UTC), TZ)
                event.remove(db.engine, "before_cursor_execute", count)
                medians = report.medians
                print(f"assessment: {len(report.technicians)} technicians, {len(statements)} SQL statements; "
                      f"median handled {medians['handled'].value}, response {medians['response_rate'].value}, "
                      f"resolution {medians['resolution_rate'].value}, returned {medians['returned'].value}")

                def domain():
                    assessing.assessment(month.label, datetime.now(UTC), TZ)
                    db.session.rollback()

                domain_p50, domain_p95 = timed(domain)
                one = db.session.execute(select(Ticket.assignee_id)).scalars().first()
                username = next(t.username for t in report.technicians if t.id == one)
            client = app.test_client()
            assert client.post("/auth/login", data={"username": "boss", "password": PASSWORD}).status_code == 302

            def page(path):
                def get():
                    response = client.get(path)
                    assert response.status_code == 200, (path, response.status_code)
                return get

            base_p50, base_p95 = timed(page(f"/reports/weekly?week={week.label}"))
            rows = [("assessment (domain)", domain_p50, domain_p95)]
            for name, path, repeat in [
                ("page: team overview", f"/reports/assessment?month={month.label}", REPEAT),
                ("page: one technician", f"/reports/assessment?month={month.label}&technician={username}", REPEAT),
                ("JSON API", f"/api/v1/reports/assessment?month={month.label}", REPEAT),
                ("CSV export", f"/reports/assessment.csv?month={month.label}", REPEAT),
                ("PDF, one technician", f"/reports/assessment.pdf?month={month.label}&technician={username}", 5),
            ]:
                rows.append((name, *timed(page(path), repeat)))
            print(f"{'figure':28} {'p50 ms':>8} {'p95 ms':>8} {'x weekly page':>14}")
            for name, p50, p95 in rows:
                print(f"{name:28} {p50:8.1f} {p95:8.1f} {p50 / base_p50:14.2f}")
            print(f"baseline: the weekly report page ({week.label}, same data) p50 {base_p50:.1f} ms, "
                  f"p95 {base_p95:.1f} ms")
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        finally:
            drop()


if __name__ == "__main__":
    main()
