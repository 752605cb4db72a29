"""Group robots: 100 alerts due in the same minute to one robot (issue 21).

    .venv/bin/python bench/robots.py                 # SQLite (temporary file)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/robots.py
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

from app import create_app  # noqa: E402
from domain.alerts import channels, robots  # noqa: E402
from domain.alerts.models import AlertChannel, ChannelMessage  # noqa: E402
from domain.alerts.notifications import Kind, insert_once  # noqa: E402
from domain.core import accounts, uow  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import Role  # noqa: E402
from domain.core.types import utcnow  # noqa: E402
from tests.standins import DingTalkStandIn, text_of  # noqa: E402

N = int(os.environ.get("BENCH_ALERTS", 100))
SPREAD = os.environ.get("BENCH_SPREAD", "1") != "0"


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
                                                  name="群", hosts_setting="127.0.0.1", actor=None).id
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
                    import worker

                    worker.send_robot_messages(app.config)
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


if __name__ == "__main__":
    main()
