"""Group robots: 100 alerts due in the same minute to one robot (issue 21).

    .venv/bin/python bench/bench_robots.py                 # SQLite (temporary file)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_robots.py
    BENCH_SPREAD=0 ...                               # skip the second case (it waits out one minute)

Against the DingTalk stand-in of the tests (tests/standins.py: it recomputes the signature and answers errcode
130101 past 20 posts a minute). Two cases:
1. burst: 100 alerts committed at once (the minute scan finding 100 missed deadlines): the posts the robot got,
   the most in any 60 s, every alert found exactly once in what the robot accepted (alone or in the digest),
   none refused, and the time from the commit to the last post;
2. spread: the same 100 alerts committed one by one (100 deliveries in a row): the first 20 go alone, the rest
   wait for the robot's minute and go out as one digest (plus what the new minute allows alone).
Baseline, measured in the same run: the same 100 messages posted one by one to a stand-in without a limit (what
sending every alert alone costs: 100 posts, which the real platform would refuse past the 20th and block the
robot 10 minutes).
3. latency (BENCH_LATENCY=0 skips it): gunicorn (2 workers) and a real `flask worker` process, 50 phones syncing
   batches of 30 notes in a loop, and a supervisor assigning 15 urgent requests one after the other (3.1 s apart:
   within the robot's 20 a minute) through the API: the time from each assignment's answer to the robot
   receiving its message (p50 / p95 / max; target p95 under 5 s). Baseline: 15 assignments the same way with no
   phone syncing.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_board import database_url  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy import update as sa_update  # noqa: E402

from app import create_app  # noqa: E402
from domain.alerts import channels, robots  # noqa: E402
from domain.alerts import tasks as alerts_tasks
from domain.alerts.models import AlertChannel, ChannelMessage  # noqa: E402
from domain.alerts.notifications import Kind, insert_once  # noqa: E402
from domain.core import accounts, uow  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import Role  # noqa: E402
from domain.core.settings import APP_KEY as SETTINGS_KEY  # noqa: E402
from domain.core.types import utcnow  # noqa: E402
from tests.standins import DingTalkStandIn, text_of  # noqa: E402

N = int(os.environ.get("BENCH_ALERTS", 100))
TZ = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
SPREAD = os.environ.get("BENCH_SPREAD", "1") != "0"
LATENCY = os.environ.get("BENCH_LATENCY", "1") != "0"
PHONES = int(os.environ.get("BENCH_PHONES", 50))
ASSIGNMENTS = int(os.environ.get("BENCH_ASSIGNMENTS", 15))
SPACING = 3.1  # seconds between assignments: within the robot's 20 a minute, so the limit adds no wait


def alerts(boss_id: int, tag: str) -> list[dict]:
    due = utcnow()
    return [{"user_id": boss_id, "kind": Kind.MISSED.value, "key": f"missed:{tag}:{i}",
             "params": {"number": f"FS-{tag}-{i:03d}", "clock": "first_contact", "due_at": due.isoformat()}}
            for i in range(N)]


def check(robot: DingTalkStandIn, tag: str) -> dict:
    texts = [text_of("dingtalk", m) for m in robot.received]
    seen = [sum(bool(re.search(rf"FS-{tag}-{i:03d}\b", t)) for t in texts) for i in range(N)]
    busiest = max((sum(1 for u in robot.posts if t <= u < t + 60) for t in robot.posts), default=0)
    rows = dict(db.session.execute(select(ChannelMessage.state, func.count()).where(
        ChannelMessage.key.like(f"robot:%:missed:{tag}:%")).group_by(ChannelMessage.state)).all())
    return {"posts": len(robot.received), "busiest_minute": busiest, "refused": len(robot.refused),
            "lost": seen.count(0), "twice": sum(1 for s in seen if s > 1), "rows": rows,
            "digests": sum(1 for t in texts if "条提醒" in t or "alerts (" in t)}


def report(name: str, figures: dict, seconds: float) -> None:
    print(f"{name:8} posts {figures['posts']:3d} (digests {figures['digests']}), busiest minute "
          f"{figures['busiest_minute']:2d}/20, refused {figures['refused']}, lost {figures['lost']}, twice "
          f"{figures['twice']}, rows {figures['rows']}, {seconds:6.2f} s")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-robots-"))
    os.environ["INSTANCE_PATH"] = str(tmp / "instance")
    url, drop = database_url(tmp)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "HUEY_IMMEDIATE": True,
                      "CHANNEL_HOSTS_ALLOWED": "127.0.0.1", "PUBLIC_URL": "https://fs.example.cn"})
    try:
        with app.app_context():
            db.create_all()
            boss = accounts.create_user("boss", "bench-pass-1", Role.SUPERVISOR, display_name="主管", via="cli")
            uow.commit()
            boss_id = boss.id

            # Baseline: each message posted alone, no limit on the receiving side.
            with DingTalkStandIn(per_minute=10**6) as free:
                channel = AlertChannel(platform="dingtalk", name="baseline", webhook_url=free.webhook,
                                       secret=free.secret, kinds=[], recent_posts=[])
                started = time.perf_counter()
                for i in range(N):
                    channels.post_message(channel, robots.Message(f"FS-base-{i:03d}：已超时", "首次联系客户：已超时",
                                                                  "https://fs.example.cn/dispatch/requests/x"),
                                          utcnow())
                baseline = time.perf_counter() - started
                print(f"baseline posts {len(free.received):3d} (each alone, no limit), {baseline:6.2f} s "
                      f"(the real platform refuses past 20 and blocks the robot 10 minutes)")

            with DingTalkStandIn() as robot:
                channel_id = channels.add_channel("dingtalk", robot.webhook, secret=robot.secret, kinds=["missed"],
                                                  name="群", hosts_setting=("127.0.0.1",), actor=None).id
                uow.commit()
                started = time.perf_counter()
                insert_once(alerts(boss_id, "burst"))
                uow.commit()  # delivered after the commit (the worker's task, here at once)
                burst_seconds = time.perf_counter() - started
                burst = check(robot, "burst")
                report("burst", burst, burst_seconds)
                print(f"         ratio to baseline: posts {burst['posts'] / N:.2f}x, time "
                      f"{burst_seconds / baseline:.2f}x")

            if SPREAD:
                with DingTalkStandIn() as robot:
                    channel = db.session.get(AlertChannel, channel_id)
                    channel.webhook_url = robot.webhook.split("?")[0] + "?access_token=" + robot.token
                    channel.recent_posts, channel.blocked_until = [], None
                    uow.commit()
                    started = time.perf_counter()
                    for row in alerts(boss_id, "spread"):
                        insert_once([row])
                        uow.commit()
                    first_minute = len(robot.received)
                    time.sleep(61)  # the robot's minute passes; the worker's delayed kick (or the tick) comes

                    alerts_tasks.send_robot_messages(app.extensions[SETTINGS_KEY])
                    spread_seconds = time.perf_counter() - started - 61
                    spread = check(robot, "spread")
                    report("spread", spread, spread_seconds)
                    print(f"         first minute {first_minute} posts alone, then "
                          f"{spread['posts'] - first_minute} (one digest); ratio to baseline: posts "
                          f"{spread['posts'] / N:.2f}x")
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        drop()


def latency() -> None:
    """Case 3: assignment -> robot, with a real worker process beside 50 syncing phones."""
    import signal
    import statistics
    import subprocess
    import threading
    import uuid
    from datetime import UTC, datetime

    import requests
    from bench_herd import ROOT, Phone, free_port, pct, wait_http
    from werkzeug.security import generate_password_hash

    from domain.core import context
    from domain.requests import assignment, intake
    from domain.requests.catalog import ensure_catalog

    tmp = Path(tempfile.mkdtemp(prefix="bench-robots-latency-"))
    url, drop = database_url(tmp)
    env = {**os.environ, "INSTANCE_PATH": str(tmp), "DATABASE_URL": url, "SECRET_KEY": "bench-secret",
           "LOGIN_RATE_LIMIT": "100000 per minute", "LOGIN_USER_RATE_LIMIT": "100000 per hour",
           "CHANNEL_HOSTS_ALLOWED": "127.0.0.1", "PUBLIC_URL": "https://fs.example.cn", "HUEY_IMMEDIATE": ""}
    os.environ.update({k: v for k, v in env.items() if k != "DATABASE_URL"})
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    robot = DingTalkStandIn(per_minute=10**6).__enter__()
    arrived: dict[str, float] = {}
    original = robot._accept

    def accept(message, answer):  # the time each number reached the robot
        for number in re.findall(r"FS-\d{4}-\d{6}", text_of("dingtalk", message)):
            arrived.setdefault(number, time.perf_counter())
        return original(message, answer)

    robot._accept = accept
    with app.app_context():
        db.create_all()
        ensure_catalog()
        desk = accounts.create_user("desk", "bench-pass-1", Role.DISPATCHER, via="cli")
        boss = accounts.create_user("boss", "bench-pass-1", Role.SUPERVISOR, via="cli")
        techs = [accounts.create_user(f"herd{i:03d}", "bench-pass-1", Role.TECHNICIAN, via="cli")
                 for i in range(PHONES)]
        for user in techs:
            user.password_hash = generate_password_hash("bench-pass-1", "pbkdf2:sha256:1000")
        db.session.commit()
        now = datetime.now(UTC)

        def new(who):
            return intake.create_request({"customer_name": "远山音乐现场", "contact_phone": "021-62345678",
                                          "device_model": "Behringer X32 Compact", "problem": "主输出无声",
                                          "urgency": "urgent"}, context.Context(actor=who, tz=TZ, now=now))

        own = {}
        for tech in techs:
            ticket = new(desk)
            assignment.assign(ticket, tech, context.Context(actor=boss, tz=TZ, now=now))
            own[tech.username] = ticket.number
        waiting = [new(desk).number for _ in range(2 * ASSIGNMENTS + 1)]
        token, _ = accounts.create_api_token("bench", boss, via="cli")
        db.session.commit()
        from domain.alerts.models import Notification

        # The seed's own alerts count as delivered: the robot, added next, hears only the measured assignments.
        db.session.execute(sa_update(Notification).values(delivered_at=utcnow()))
        db.session.commit()
        channels.add_channel("dingtalk", robot.webhook, secret=robot.secret, kinds=["assigned"], name="群",
                             hosts_setting=("127.0.0.1",), actor=None)
        db.session.commit()
        db.session.remove()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
                               "--log-level", "warning", "app:create_app()"], cwd=ROOT, env=env,
                              start_new_session=True)
    worker = subprocess.Popen([str(ROOT / ".venv/bin/flask"), "--app", "app", "worker", "--workers", "1"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "worker.log", "w"),
                              start_new_session=True)
    stop = threading.Event()
    synced = [0]
    try:
        wait_http(base, server)
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"

        def assign_all(numbers: list[str]) -> list[float]:
            delays = []
            for i, number in enumerate(numbers):
                answer = api.post(f"{base}/api/v1/requests/{number}/assign",
                                  json={"technician": techs_names[i % len(techs_names)]}, timeout=60)
                assert answer.status_code == 200, answer.text
                answered = time.perf_counter()
                deadline = answered + 60
                while number not in arrived and time.perf_counter() < deadline:
                    time.sleep(0.02)
                delays.append(arrived.get(number, float("inf")) - answered)
                time.sleep(max(SPACING - (time.perf_counter() - answered), 0))
            return delays

        techs_names = sorted(own)
        assign_all(waiting[-1:])  # warm-up: the worker's first task (its app created, its imports) is not measured
        quiet = assign_all(waiting[:ASSIGNMENTS])
        phones = [Phone(base, name) for name in techs_names]

        def sync_loop(phone: Phone) -> None:
            number = own[phone.username]
            while not stop.is_set():
                ops = [{"op_id": str(uuid.uuid4()), "kind": "note.added", "ticket": number,
                        "at": datetime.now(UTC).astimezone(TZ).isoformat(),
                        "data": {"note_id": str(uuid.uuid4()), "text": "现场排查：检查线缆与输出设置",
                                 "shown_to_customer": False}} for _ in range(30)]
                phone.sync(ops)
                synced[0] += 1

        threads = [threading.Thread(target=sync_loop, args=(p,), daemon=True) for p in phones]
        for thread in threads:
            thread.start()
        time.sleep(3)
        load = os.getloadavg()[0]
        busy = assign_all(waiting[ASSIGNMENTS:])
        stop.set()
        for thread in threads:
            thread.join(timeout=120)

        def figures(values):
            return f"p50 {statistics.median(values):5.2f} s, p95 {pct(values, 95):5.2f} s, max {max(values):5.2f} s"

        print(f"latency  assignment -> robot, {ASSIGNMENTS} assignments; no phone syncing: {figures(quiet)}")
        print(f"         beside {PHONES} phones syncing ({synced[0]} batches of 30 notes, load {load:.1f}): "
              f"{figures(busy)}; p95 ratio to quiet {pct(busy, 95) / max(pct(quiet, 95), 1e-3):.1f}x "
              f"(target p95 < 5 s)")
    finally:
        stop.set()
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
        robot.__exit__(None, None, None)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        drop()


if __name__ == "__main__":
    main()
    if LATENCY:
        latency()
