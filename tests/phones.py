"""The technician's phone as the tests drive it: op bodies and times, a signed-in phone, a whole visit's ops, a
photo with EXIF, and app servers as separate processes reached over HTTP. Shared by the sync, flow and fault
tests."""
from __future__ import annotations

import http.cookiejar
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from .helpers import PASSWORD, ROOT, csrf_from, signed_client
from .orderfactory import SHANGHAI, signature_data_url


def at(minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).astimezone(SHANGHAI).isoformat()


def op(kind: str, number: str, data: dict | None = None, minutes: float = 0, op_id: str | None = None) -> dict:
    return {"op_id": op_id or str(uuid.uuid4()), "kind": kind, "ticket": number, "at": at(minutes),
            "data": data or {}}


def phone(app, username="t1"):
    """The technician's phone: a client signed in as t1 (the job's assignee) unless told otherwise."""
    return signed_client(app, username)


def visit_ops(number):
    note = str(uuid.uuid4())
    return [
        op("visit.arrived", number, minutes=-30),
        op("problem.confirmed", number, {"text": "主输出无声，确认为输出模块故障"}, minutes=-28),
        op("note.added", number, {"note_id": note, "text": "已更换输出线缆", "shown_to_customer": True}, minutes=-20),
        op("work.recorded", number, {"cause": "输出模块线缆松动", "work_done": "更换输出线缆并紧固"}, minutes=-12),
        op("test.recorded", number, {"item": "各通道输入有信号", "passed": True, "note": ""}, minutes=-10),
        op("test.recorded", number, {"item": "耳返与主输出正常", "passed": True, "note": "音量正常"}, minutes=-9),
        op("test.recorded", number, {"item": "无底噪与爆音", "passed": True, "note": ""}, minutes=-9),
        op("test.recorded", number, {"item": "USB 声卡被电脑识别", "passed": False, "not_applicable": True,
                                     "note": "客户不使用 USB 录音"}, minutes=-9),
        op("customer.confirmed", number, {"note": "设备运行正常"}, minutes=-8),
        op("precautions.told", number, {"items": ["开关机前先将推子归零"]}, minutes=-7),
        op("order.signed", number, {"signer_name": "赵远", "rating": 5, "comment": "很专业",
                                    "signature_png": signature_data_url(), "strokes": [[[1, 2, 0], [3, 4, 9]]]},
           minutes=-5),
        op("visit.departed", number, minutes=-2),
    ]


def jpeg_with_gps_and_rotation(width=3000, height=2000) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, width // 2, height))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_processes(database_url: str, tmp_path, count: int = 2, threads: int = 1):
    """`count` app servers as separate processes (gunicorn, one worker each, with `threads` threads) on this test's
    database (on PostgreSQL the URL carries the test's private schema in its search_path), sharing a SECRET_KEY as
    app servers behind a balancer do. Yields their base URLs once each answers /healthz."""
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "two-processes-secret",
           "INSTANCE_PATH": str(tmp_path / "instance"), "RATELIMIT_STORAGE_URI": "memory://"}
    servers = []
    try:
        for i in range(count):
            port = _free_port()
            log = open(tmp_path / f"server-{i}.log", "wb")  # noqa: SIM115 - closed in finally
            process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", str(threads),
                                        "--bind", f"127.0.0.1:{port}", "app:create_app()"], cwd=ROOT, env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
            servers.append((process, log, f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 90
        for i, (process, _log, base) in enumerate(servers):
            while True:
                if process.poll() is not None:
                    log_text = (tmp_path / f"server-{i}.log").read_text(errors="replace")
                    pytest.fail(f"the app process exited with {process.returncode}: {log_text}")
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{base} never answered /healthz")
                time.sleep(0.1)
        yield [base for _process, _log, base in servers]
    finally:
        for process, log, _base in servers:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)
            log.close()


def http_phone(base: str, username: str = "t1"):
    """Sign in through the real form (CSRF included); returns an opener holding the session and the header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + "/auth/login", timeout=30) as response:
        token = csrf_from(response.read().decode())
    form = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": token}).encode()
    with opener.open(base + "/auth/login", form, timeout=30):
        pass
    with opener.open(base + "/api/v1/session", timeout=30) as response:
        return opener, json.loads(response.read())["csrf_token"]
