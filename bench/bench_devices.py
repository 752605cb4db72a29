"""The device register and the customer's report page (issue 22).

    .venv/bin/python bench/bench_devices.py                       # SQLite
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_devices.py

Prints, with a baseline measured in the same run:
- the device page (/devices/<asset>: the device, its fault counts over 30/90/365 days, its newest 200 requests with
  their visits and orders) at BENCH_DEVICES devices (default 10,000) and BENCH_REQUESTS requests (default 200,000),
  median and p95 over BENCH_REPEAT (30) loads, for a typical device and for the busiest one; baseline: the same
  200 request rows fetched by one plain query (no counting, no rendering). Target: p95 < 150 ms on PostgreSQL.
- the report page's first load, compressed (HTML, stylesheet, script, icon, as the browser fetches them); baseline:
  the sign-in page's first load. Target: under 50 KB.
- 200 reports from 200 addresses in a row with the rate limits on: how many were accepted and how long they took.
The generated data lives in a schema (PostgreSQL) or a file (SQLite) made for the run and dropped afterwards.
"""
from __future__ import annotations

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
from sqlalchemy import insert, select  # noqa: E402

from app import create_app  # noqa: E402
from domain.core import accounts  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import Channel, DeviceState, Role, TicketStatus, Urgency  # noqa: E402
from domain.devices.models import Device, new_label_code  # noqa: E402
from domain.requests.catalog import ensure_catalog  # noqa: E402
from domain.requests.models import Customer, DeviceModel, Ticket  # noqa: E402

DEVICES = int(os.environ.get("BENCH_DEVICES", 10_000))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 200_000))
REPEAT = int(os.environ.get("BENCH_REPEAT", 30))
HOT = 600  # requests about the busiest device
PASSWORD = "bench-pass-1"


def database_url(tmp: Path):
    pg = os.environ.get("BENCH_DATABASE_URL")
    if not pg:
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    schema = f"bench_dev_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    sep = "&" if "?" in pg else "?"
    return f"{pg}{sep}options={quote(f'-csearch_path={schema}')}", drop


def seed(app) -> tuple[str, str]:
    """DEVICES devices; REQUESTS requests, HOT of them about one device, the rest spread over all (and a tenth
    about no registered device); returns (a typical device's asset number, the busiest one's)."""
    rng = random.Random(22)
    with app.app_context():
        db.create_all()
        ensure_catalog()
        accounts.create_user("desk", PASSWORD, Role.DISPATCHER, display_name="客服", via="cli")
        customer = Customer(name="星光传媒", phone="13800000000")
        db.session.add(customer)
        db.session.commit()
        models = db.session.execute(select(DeviceModel.id)).scalars().all()
        now = datetime.now(UTC)
        rows = [{"asset_number": f"ZC-{i:06d}", "serial_number": f"SN{i:08d}", "device_model_id": rng.choice(models),
                 "state": DeviceState.RENTED, "customer_id": customer.id, "rented_since": now - timedelta(days=30),
                 "label_code": new_label_code(), "label_issued_at": now, "created_at": now, "updated_at": now}
                for i in range(DEVICES)]
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Device), rows[start:start + 5000])
        db.session.commit()
        ids = db.session.execute(select(Device.id).order_by(Device.id)).scalars().all()
        hot = ids[0]
        batch = []
        for n in range(REQUESTS):
            if n < HOT:
                device = hot
            elif n % 10 == 0:
                device = None
            else:
                device = rng.choice(ids[1:])
            reported = now - timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))
            batch.append({"number": f"FS-B-{n:07d}", "status": TicketStatus.APPROVED, "urgency": Urgency.NORMAL,
                          "channel": Channel.PHONE, "customer_id": customer.id, "contact_phone": "13800000000",
                          "device_model_text": "Magewell Ultra Encode HDMI", "device_id": device,
                          "problem": "推流中断，编码器重启", "reported_at": reported,
                          "created_at": reported + timedelta(minutes=5), "updated_at": reported, "version": 1,
                          "tracking_generation": 0})
            if len(batch) == 10_000:
                db.session.execute(insert(Ticket), batch)
                db.session.commit()
                batch = []
        if batch:
            db.session.execute(insert(Ticket), batch)
            db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE"))
        typical = db.session.execute(select(Device.asset_number).where(Device.id == ids[len(ids) // 2])).scalar_one()
        busiest = db.session.execute(select(Device.asset_number).where(Device.id == hot)).scalar_one()
        return typical, busiest


def timed(fn, repeat=REPEAT) -> tuple[float, float]:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def compressed_first_load(client, path: str) -> tuple[int, int]:
    """(bytes compressed, bytes uncompressed) of the page and every local stylesheet, script and icon it names."""
    import re

    def fetch(url):
        compressed = client.get(url, headers={"Accept-Encoding": "br, gzip"})
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        return len(compressed.data), plain

    total_c, page = fetch(path)
    total_u = len(page.data)
    html = page.get_data(as_text=True)
    for asset in set(re.findall(r'(?:href|src)="(/static/[^"]+)"', html)):
        c, plain = fetch(asset)
        total_c += c
        total_u += len(plain.data)
    return total_c, total_u


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = database_url(Path(tmp))
        os.environ["INSTANCE_PATH"] = tmp
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                          "SERVICE_PHONE": "400-820-1234"})
        try:
            started = time.perf_counter()
            typical, busiest = seed(app)
            print(f"database: {app.config['SQLALCHEMY_DATABASE_URI'].split(':', 1)[0]}, {DEVICES} devices, "
                  f"{REQUESTS} requests (seeded in {time.perf_counter() - started:.0f} s)")
            client = app.test_client()
            assert client.post("/auth/login", data={"username": "desk", "password": PASSWORD}).status_code == 302
            for label, asset in (("typical device", typical), (f"busiest ({HOT} requests)", busiest)):
                page = client.get(f"/devices/{asset}")
                assert page.status_code == 200
                median, p95 = timed(lambda a=asset: client.get(f"/devices/{a}"))
                with app.app_context():
                    device_id = db.session.execute(select(Device.id).where(Device.asset_number == asset)).scalar_one()
                    base_median, base_p95 = timed(lambda d=device_id: db.session.execute(
                        select(Ticket).where(Ticket.device_id == d).order_by(Ticket.reported_at.desc()).limit(200)
                    ).scalars().all())
                print(f"device page, {label}: median {median:.1f} ms, p95 {p95:.1f} ms; baseline (the rows alone) "
                      f"p95 {base_p95:.1f} ms; ratio {p95 / base_p95:.1f}x")

            with app.app_context():
                code = db.session.execute(select(Device.label_code).where(Device.asset_number == typical)).scalar_one()
            anonymous = app.test_client()
            report_c, report_u = compressed_first_load(anonymous, f"/d/{code}")
            login_c, _ = compressed_first_load(app.test_client(), "/auth/login")
            print(f"report page first load: {report_c / 1024:.1f} KB compressed ({report_u / 1024:.1f} KB "
                  f"uncompressed); baseline sign-in page {login_c / 1024:.1f} KB; ratio {report_c / login_c:.2f}x; "
                  f"target < 50 KB")

            limited = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False,
                                  "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://",
                                  "REPORT_DEVICE_RATE_LIMIT": "1000 per hour"})
            with limited.app_context():
                codes = db.session.execute(select(Device.label_code).limit(200)).scalars().all()
            reporter = limited.test_client()
            started = time.perf_counter()
            accepted = 0
            for i, label_code in enumerate(codes):
                response = reporter.post(f"/d/{label_code}", data={
                    "name": "王小明", "mobile": f"138{i:08d}", "problem": "直播断流", "address": "上海"},
                    environ_base={"REMOTE_ADDR": f"10.{i // 250}.{i % 250}.7"})
                accepted += response.status_code == 200
            elapsed = time.perf_counter() - started
            print(f"200 reports from 200 addresses: {accepted} accepted in {elapsed:.1f} s "
                  f"({200 / elapsed * 60:.0f} per minute possible on this machine, one process)")
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            drop()


if __name__ == "__main__":
    main()
