"""The offline app's shell: its size (gzip) and how fast the job screen is usable offline in headless Chromium.

    .venv/bin/python bench/bench_field.py

Targets (issue 5): the precached shell at most 150 KB gzip in total, vendored libraries included; the job
screen interactive offline from the cache within 1 s. Baseline, same run: opening the static offline page
from the same cache (what the browser and the service worker cost without the app's own work).
"""
from __future__ import annotations

import gzip
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser import CHROMIUM, CHROMIUM_ARGS, PHONE, live_server  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from app import create_app  # noqa: E402
from blueprints.field.routes import SHELL_FILES, STATIC  # noqa: E402
from domain.core import accounts, context  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import ContactMethod, Role  # noqa: E402
from domain.requests import dispatch  # noqa: E402
from domain.requests.catalog import ensure_catalog  # noqa: E402

PASSWORD = "bench-pass-1"
REPEAT = int(os.environ.get("BENCH_REPEAT", 10))


def seed(app) -> str:
    tz = ZoneInfo("Asia/Shanghai")
    with app.app_context():
        db.create_all()
        ensure_catalog()
        desk = accounts.create_user("desk", PASSWORD, Role.DISPATCHER, via="cli")
        boss = accounts.create_user("boss", PASSWORD, Role.SUPERVISOR, via="cli")
        tech = accounts.create_user("tech", PASSWORD, Role.TECHNICIAN, via="cli")
        now = datetime.now(UTC) - timedelta(hours=1)
        number = None
        for i in range(12):
            ticket = dispatch.create_request({"customer_name": f"客户{i}", "contact_phone": "13800138001",
                                              "device_model": "ATEM Mini Pro ISO", "problem": "切换台无法切换机位",
                                              "urgency": "urgent"}, context.Context(actor=desk, tz=tz, now=now))
            db.session.flush()
            dispatch.assign(ticket, tech, context.Context(actor=boss, tz=tz, now=now))
            dispatch.record_contact(ticket, context.Context(actor=tech, tz=tz, now=now + timedelta(minutes=5)),
                                    method=ContactMethod.PHONE)
            number = ticket.number
        db.session.commit()
        return number


def shell_sizes(app) -> list[tuple[str, int, int]]:
    rows = []
    for name in SHELL_FILES:
        data = (STATIC / name).read_bytes()
        rows.append((f"/static/{name}", len(data), len(gzip.compress(data, 9))))
    client = app.test_client()
    client.post("/auth/login", data={"username": "tech", "password": PASSWORD})
    for path in ("/field/", "/field/offline", "/field/manifest.webmanifest", "/sw.js"):
        data = client.get(path).data
        rows.append((path, len(data), len(gzip.compress(data, 9))))
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "RATELIMIT_ENABLED": False})
        number = seed(app)
        rows = shell_sizes(app)
        total_raw, total_gz = sum(r[1] for r in rows), sum(r[2] for r in rows)
        print(f"{'shell file':50} {'bytes':>8} {'gzip':>8}")
        for name, raw, gz in rows:
            print(f"{name:50} {raw:8d} {gz:8d}")
        print(f"{'total':50} {total_raw:8d} {total_gz:8d}  = {total_gz / 1024:.1f} KB gzip "
              f"({'meets' if total_gz <= 150 * 1024 else 'MISSES'} <= 150 KB)")

        with live_server(app) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(locale="zh-CN", **PHONE)
            page = context.new_page()
            page.goto(base + "/auth/login?next=/field/")
            page.fill("input[name=username]", "tech")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/field/**")
            for _ in range(150):
                if page.evaluate("navigator.serviceWorker.controller !== null"):
                    break
                page.wait_for_timeout(100)
            page.wait_for_selector(f"text={number}", timeout=10000)
            page.close()
            context.set_offline(True)

            def offline_open(path: str, ready: str) -> float:
                tab = context.new_page()
                start = time.perf_counter()
                tab.goto(base + path)
                tab.wait_for_selector(ready, timeout=10000)
                elapsed = (time.perf_counter() - start) * 1000
                tab.close()
                return elapsed

            job = [offline_open(f"/field/#/job/{number}", "button:has-text('保存')") for _ in range(REPEAT)]
            listing = [offline_open("/field/", f"text={number}") for _ in range(REPEAT)]
            static = [offline_open("/field/offline", "h1") for _ in range(REPEAT)]
            browser.close()
        job_ms, list_ms, base_ms = statistics.median(job), statistics.median(listing), statistics.median(static)
        print(f"offline, job screen usable (median of {REPEAT})   {job_ms:7.1f} ms "
              f"({'meets' if job_ms <= 1000 else 'MISSES'} <= 1000 ms)")
        print(f"offline, job list shown (median of {REPEAT})      {list_ms:7.1f} ms")
        print(f"offline, static page from the cache (baseline)  {base_ms:7.1f} ms; job screen / baseline "
              f"{job_ms / base_ms:.1f}x")


if __name__ == "__main__":
    main()
