"""Supervisor board and request search at several sizes: page time (median, p95) and SQL statements per page.

    .venv/bin/python bench/bench_board.py [SIZE ...]          # SQLite; sizes default to 50000 200000
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_board.py

Targets: p95 under 150 ms at 200,000 requests (issue 12; under 150 ms median at 50,000, issue 4), a constant number
of SQL statements per page, and a page's cost growing at most 1.5x per 4x the data (the growth printed is p95 at
the largest size over p95 at the smallest). Baseline, measured in the same run at each size: the first page's
30 rows fetched by one plain SQLAlchemy query (no rendering, no counting), i.e. the least any board could cost.

Generated databases are kept and reused (a PostgreSQL schema, or a SQLite file under BENCH_CACHE, default
~/.cache/fieldservice-bench), keyed by size and by the source of the models and of this generator: a change
builds them again.
BENCH_FRESH=1 rebuilds them; BENCH_KEEP=0 drops them after the run.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event, insert, select  # noqa: E402

from app import create_app  # noqa: E402
from domain.core import accounts  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import Channel, ClockName, Role, TicketStatus, Urgency  # noqa: E402
from domain.requests.catalog import ensure_catalog  # noqa: E402
from domain.requests.models import Customer, DeviceModel, Ticket  # noqa: E402
from domain.sla.models import TicketClock  # noqa: E402

SIZES = [50_000, 200_000]
REPEAT = int(os.environ.get("BENCH_REPEAT", 25))
PASSWORD = "bench-pass-1"
STATUSES = [TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.CONTACTED, TicketStatus.VISIT_SCHEDULED,
            TicketStatus.ON_SITE, TicketStatus.REMOTE_RESOLVED, TicketStatus.SIGNED, TicketStatus.SUBMITTED,
            TicketStatus.APPROVED, TicketStatus.CANCELLED]
WEIGHTS = [2, 3, 3, 2, 1, 20, 5, 5, 55, 4]


def database_url(tmp: Path) -> tuple[str, callable]:
    pg = os.environ.get("BENCH_DATABASE_URL")
    if not pg:
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    sep = "&" if "?" in pg else "?"
    return f"{pg}{sep}options={quote(f'-csearch_path={schema}')}", drop


def schema_key(size: int) -> str:
    """The cache key of a generated database: its size, the models and the generator (their source text)."""
    source = (ROOT / "domain/core/models.py").read_text() + inspect.getsource(seed)
    return f"{size}_{hashlib.sha256(source.encode()).hexdigest()[:10]}"


def cached_database_url(size: int) -> tuple[str, bool, callable]:
    """(url, already seeded, drop) of the generated database for this size."""
    key = schema_key(size)
    fresh = os.environ.get("BENCH_FRESH") == "1"
    pg = os.environ.get("BENCH_DATABASE_URL")
    if not pg:
        folder = Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache/fieldservice-bench"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"board_{key}.db"
        if fresh and path.exists():
            path.unlink()
        return f"sqlite:///{path}", path.exists() and not fresh, lambda: path.unlink(missing_ok=True)
    schema = f"benchcache_board_{key}"
    engine = sa.create_engine(pg)
    with engine.begin() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                              {"s": schema}).first() is not None
        if exists and fresh:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            exists = False
        if not exists:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    sep = "&" if "?" in pg else "?"
    return f"{pg}{sep}options={quote(f'-csearch_path={schema}')}", exists, drop


def seed(app, size: int) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    with app.app_context():
        db.create_all()
        ensure_catalog()
        boss = accounts.create_user("boss", PASSWORD, Role.SUPERVISOR, via="cli")
        techs = [accounts.create_user(f"tech{i}", PASSWORD, Role.TECHNICIAN, via="cli") for i in range(25)]
        db.session.flush()
        models = db.session.execute(select(DeviceModel)).scalars().all()
        db.session.execute(insert(Customer), [
            {"name": f"客户{i:04d}直播间", "contact_person": f"联系人{i}", "phone": f"139{i:08d}",
             "address": f"上海市某区某路{i}号"} for i in range(2000)])
        customer_ids = db.session.execute(select(Customer.id)).scalars().all()
        rows, clocks = [], []
        for i in range(size):
            created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 365))
            status = rng.choices(STATUSES, WEIGHTS)[0]
            model = rng.choice(models)
            urgency = Urgency.URGENT if rng.random() < 0.3 else Urgency.NORMAL
            assigned = status not in (TicketStatus.NEW, TicketStatus.CANCELLED)
            open_clock = status in (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.CONTACTED,
                                    TicketStatus.VISIT_SCHEDULED)
            due = created + timedelta(minutes=30 if urgency == Urgency.URGENT else 60)
            rows.append({
                "id": i + 1, "number": f"FS-{created.year}-{i + 1:06d}", "status": status.value,
                "urgency": urgency.value, "channel": Channel.PHONE.value, "customer_id": rng.choice(customer_ids),
                "contact_phone": f"138{i:08d}", "device_model_id": model.id, "device_category_id": model.category_id,
                "device_model_text": model.label, "problem": f"设备故障描述 {i}：画面无输出，需要排查",
                "reported_at": created - timedelta(minutes=5), "created_at": created, "updated_at": created,
                "assignee_id": rng.choice(techs).id if assigned else None,
                "next_due_at": due if open_clock else None, "version": 1, "is_complex": False,
            })
            clocks.append({"ticket_id": i + 1, "name": ClockName.INTAKE.value, "started_at": created,
                           "due_at": created + timedelta(minutes=15), "done_at": created, "not_applicable": False})
            clocks.append({"ticket_id": i + 1, "name": ClockName.FIRST_CONTACT.value, "started_at": created,
                           "due_at": due, "done_at": None if open_clock else due - timedelta(minutes=5),
                           "not_applicable": False})
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Ticket), rows[start:start + 5000])
        for start in range(0, len(clocks), 10000):
            db.session.execute(insert(TicketClock), clocks[start:start + 10000])
        # Marks the database complete: an interrupted generation is never reused.
        db.session.execute(sa.text("CREATE TABLE bench_seeded (size integer)"))
        db.session.execute(sa.text("INSERT INTO bench_seeded VALUES (:n)"), {"n": size})
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        del boss


def measure(client, engine, url: str, repeat: int = REPEAT) -> tuple[float, float, int]:
    statements = []

    def count(*args):
        statements.append(1)

    if repeat > 1:
        client.get(url)  # warm up
    times = []
    for _ in range(repeat):
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times), sorted(times)[max(0, int(len(times) * 0.95) - 1)], len(statements)


def baseline(app) -> float:
    """One plain query for the 30 rows of the first board page, no rendering or counting."""
    with app.app_context():
        stmt = select(Ticket.number, Ticket.status, Ticket.problem).order_by(Ticket.next_due_at).limit(30)
        times = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            db.session.execute(stmt).all()
            times.append((time.perf_counter() - start) * 1000)
            db.session.rollback()
        return statistics.median(times)


PAGES = {
    "board, first page": "/dispatch/board",
    "board, page 100": "/dispatch/board?page=100",
    "board, open only": "/dispatch/board?open=1",
    "board, overdue only": "/dispatch/board?overdue=1",
    "board, urgent + technician": "/dispatch/board?urgency=urgent&technician=3",
    "search by customer": "/dispatch/board?q=客户0042",
    "search by number": "/dispatch/board?q=FS-2026-01234",
    "search by device": "/dispatch/board?q=atem",
}


def open_size(size: int) -> dict:
    """The generated database of this size (seeded on first use), an app on it and a signed-in client."""
    url, seeded, drop = cached_database_url(size)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False})
    started = time.perf_counter()
    if seeded:
        with app.app_context():
            seeded = bool(db.session.execute(sa.text(
                "SELECT 1 FROM information_schema.tables WHERE table_name = 'bench_seeded'"
                if db.engine.dialect.name == "postgresql" else
                "SELECT 1 FROM sqlite_master WHERE name = 'bench_seeded'")).first())
            db.session.remove()
    if not seeded:
        with app.app_context():
            db.drop_all()
            db.session.execute(sa.text("DROP TABLE IF EXISTS bench_seeded"))
            db.session.commit()
        seed(app, size)
    print(f"database: {sa.engine.make_url(url).get_backend_name()}, {size} requests "
          f"{'reused' if seeded else 'seeded'} in {time.perf_counter() - started:.1f} s")
    client = app.test_client()
    assert client.post("/auth/login", data={"username": "boss", "password": PASSWORD}).status_code == 302
    with app.app_context():
        engine = db.engine
    return {"size": size, "app": app, "client": client, "engine": engine, "drop": drop}


def main() -> None:
    sizes = [int(arg.replace(",", "").replace("_", "")) for arg in sys.argv[1:]] or SIZES
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        databases = [open_size(size) for size in sizes]
        try:
            # The sizes take turns, page by page and run by run: a change of the machine's load (it is shared)
            # weighs on every size alike, and the growth compares like with like.
            figures = {size: {} for size in sizes}
            for name, path in PAGES.items():
                runs = {size: [] for size in sizes}
                for database in databases:
                    database["client"].get(path)  # warm up
                for _ in range(REPEAT):
                    for database in databases:
                        runs[database["size"]].append(measure(database["client"], database["engine"], path, 1))
                for size in sizes:
                    times = sorted(run[0] for run in runs[size])
                    statements = {run[2] for run in runs[size]}
                    figures[size][name] = (statistics.median(times), times[int(len(times) * 0.95) - 1],
                                           max(statements))
            bases = {database["size"]: baseline(database["app"]) for database in databases}
            load = os.getloadavg()
        finally:
            for database in databases:
                with database["app"].app_context():
                    db.session.remove()
                    db.engine.dispose()
                if os.environ.get("BENCH_KEEP", "1") == "0":
                    database["drop"]()
    for size in sizes:
        print(f"\n{size} requests, {REPEAT} runs per page")
        print(f"{'page':32} {'median ms':>10} {'p95 ms':>8} {'SQL':>4} {'x baseline':>11}")
        for name, (median, p95, statements) in figures[size].items():
            print(f"{name:32} {median:10.1f} {p95:8.1f} {statements:4d} {median / bases[size]:11.1f}")
        print(f"baseline (one plain 30-row query): {bases[size]:.2f} ms median")
    print(f"load average {' '.join(f'{x:.2f}' for x in load)}")
    small, large = min(sizes), max(sizes)
    if small == large:
        return
    print(f"\n{'page':32} {'p95 ' + str(small):>12} {'p95 ' + str(large):>12} {'growth':>7} (x{large / small:g} data)")
    worst_p95 = worst_growth = 0.0
    for name in PAGES:
        low, high = figures[small][name][1], figures[large][name][1]
        worst_p95, worst_growth = max(worst_p95, high), max(worst_growth, high / low)
        print(f"{name:32} {low:12.1f} {high:12.1f} {high / low:6.2f}x")
    print(f"{'baseline (plain 30-row query)':32} {bases[small]:12.2f} {bases[large]:12.2f} "
          f"{bases[large] / bases[small]:6.2f}x (median)")
    print(f"worst p95 at {large}: {worst_p95:.1f} ms ({'meets' if worst_p95 < 150 else 'MISSES'} < 150 ms); "
          f"worst growth {worst_growth:.2f}x ({'meets' if worst_growth <= 1.5 else 'MISSES'} <= 1.5x)")


if __name__ == "__main__":
    main()
