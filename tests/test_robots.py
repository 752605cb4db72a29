"""Group robots (DingTalk, WeCom, Feishu) as alert channels, against stand-ins on 127.0.0.1 that check each
platform's documented signature, limits and message shape: a new request and an assignment reach the group with
the job's link and the technician @mentioned; a wrong secret marks the robot failing and tells the admins; the
20-a-minute limit is never exceeded (what waits is folded into a digest, nothing lost, nothing twice); a
platform's rate-limit errcode is waited out; a webhook on another host is refused at save."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from domain.alerts import channels, robots
from domain.alerts import tasks as alerts_tasks
from domain.alerts.models import AlertChannel, ChannelMessage, Notification
from domain.alerts.notifications import Kind, insert_once
from domain.core import uow
from domain.core.db import db
from domain.core.enums import Role
from domain.core.errors import ValidationError
from domain.core.models import User
from domain.core.types import utcnow
from domain.requests import assignment

from .helpers import ALERTS_STAFF, ctx, new_request, settings_of, staff_fixture
from .standins import ROBOTS, mentions_of, text_of

staff = staff_fixture(ALERTS_STAFF)
LI_MOBILE = "13800138000"
ALLOWED = "127.0.0.1"


@pytest.fixture
def robot_app(make_app):
    return make_app(CHANNEL_HOSTS_ALLOWED=ALLOWED, PUBLIC_URL="https://fs.example.cn")


def add_robot(standin, kinds=None, secret="same"):
    channel = channels.add_channel(standin.platform, standin.webhook,
                                   secret=standin.secret if secret == "same" else secret, kinds=kinds,
                                   name="技术支持群", hosts_setting=(ALLOWED,), actor=None)
    db.session.commit()
    return channel.id


@pytest.mark.parametrize("platform", ["dingtalk", "wecom", "feishu"])
def test_a_new_request_and_its_assignment_reach_the_group_signed_with_the_link_and_the_mention(
        robot_app, staff, platform):  # noqa: F811
    with robot_app.app_context(), ROBOTS[platform]() as robot:
        db.session.get(User, staff["li"]).phone = "+86 138-0013-8000"
        db.session.commit()
        add_robot(robot)
        ticket = new_request(staff)
        uow.commit()  # after the commit: the worker (here at once) delivers and posts
        assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], utcnow()))
        uow.commit()
        assert robot.refused == []
        assert len(robot.received) == 2  # one message per alert, not one per supervisor told
        entered, assigned = robot.received
        assert ticket.number in text_of(platform, entered) and "切换台" in text_of(platform, entered)
        link = f"https://fs.example.cn/dispatch/requests/{ticket.number}"
        if platform == "feishu":
            [button] = [a for e in assigned["card"]["elements"] for a in e.get("actions", [])]
            assert button["url"] == link and assigned["msg_type"] == "interactive"
            assert LI_MOBILE in text_of(platform, assigned)  # a custom bot cannot @ by number: written out
        else:
            assert link in text_of(platform, assigned)
            assert mentions_of(platform, assigned) == [LI_MOBILE]
            assert mentions_of(platform, entered) == []  # the supervisors are not @mentioned in their own group
        if platform == "dingtalk":
            assert f"@{LI_MOBILE}" in text_of(platform, assigned)  # DingTalk shows the mention only so
            assert re.search(r"\[[^\]]+\]\(" + re.escape(link) + r"\)", text_of(platform, assigned))
        rows = db.session.execute(select(ChannelMessage).where(ChannelMessage.transport == "robot")).scalars().all()
        assert {r.state for r in rows} == {"sent"} and all(r.last_answer.startswith("0:") for r in rows)


@pytest.mark.parametrize("platform,errcode", [("dingtalk", 310000), ("feishu", 19021)])
def test_a_wrong_secret_marks_the_robot_failing_keeps_its_messages_and_tells_the_admins(
        robot_app, staff, make_user, platform, errcode):  # noqa: F811
    admin_id, _ = make_user(Role.SUPERVISOR, "admin1", is_admin=True)
    with robot_app.app_context(), ROBOTS[platform]() as robot:
        channel_id = add_robot(robot, secret="SECwrong")
        number = new_request(staff).number
        uow.commit()
        assert robot.received == [] and robot.refused[0].get("errcode", robot.refused[0].get("code")) == errcode
        channel = db.session.get(AlertChannel, channel_id)
        assert channel.state == "failing" and str(errcode) in channel.last_answer
        [kept] = db.session.execute(select(ChannelMessage).where(ChannelMessage.transport == "robot")).scalars().all()
        assert kept.state == "held"
        [told] = db.session.execute(select(Notification).where(Notification.user_id == admin_id,
                                                               Notification.kind == Kind.CHANNEL_FAILING)
                                    ).scalars().all()
        assert told.params["answer"].startswith(str(errcode))
        # The test button shows the platform's answer; a second refusal tells nobody again.
        answer = channels.send_test(channel, settings_of(robot_app), utcnow())
        uow.commit()
        assert answer.code == errcode and db.session.execute(select(func.count(Notification.id)).where(
            Notification.kind == Kind.CHANNEL_FAILING)).scalar_one() == 1
        # Fixed by an admin: the kept message goes out.
        channels.update_channel(channel, webhook_url=robot.webhook, secret=robot.secret, keep_secret=False,
                                kinds=channel.kinds, name=channel.name, active=True, hosts_setting=(ALLOWED,),
                                actor=None)
        uow.commit()
        assert db.session.get(AlertChannel, channel_id).state == "ok"
        [message] = robot.received
        assert number in text_of(platform, message)


def test_a_hundred_alerts_at_once_stay_within_twenty_posts_folded_into_a_digest(robot_app, staff):  # noqa: F811
    with robot_app.app_context(), ROBOTS["dingtalk"]() as robot:
        add_robot(robot)
        ticket = new_request(staff)
        uow.commit()
        robot.received.clear()
        due = utcnow()
        insert_once([{"user_id": staff["boss"], "kind": Kind.MISSED.value, "key": f"missed:bench:{i}",
                      "ticket_id": ticket.id, "params": {"number": f"FS-TEST-{i:03d}", "clock": "first_contact",
                                                         "due_at": due.isoformat()}} for i in range(100)])
        uow.commit()
        assert robot.refused == []  # never past the platform's limit
        assert 1 < len(robot.received) <= 20
        texts = [text_of("dingtalk", m) for m in robot.received]
        for i in range(100):  # each alert in one message: alone or in the digest
            assert sum(bool(re.search(rf"FS-TEST-{i:03d}\b", t)) for t in texts) == 1, i
        states = dict(db.session.execute(select(ChannelMessage.state, func.count()).where(
            ChannelMessage.key.like("robot:%:missed:bench:%")).group_by(ChannelMessage.state)).all())
        assert states == {"sent": len(robot.received), "digested": 100 - len(robot.received)}
        # Queued again (a second delivery of the same alerts, a restart): nothing new.
        notes = db.session.execute(select(Notification).where(Notification.key.like("missed:bench:%"))).scalars()
        assert channels.queue_alerts(list(notes), settings_of(robot_app)) == 0


def test_the_platforms_rate_limit_errcode_is_waited_out_then_what_waits_goes_in_one_digest(robot_app, staff):  # noqa: F811

    with robot_app.app_context(), ROBOTS["wecom"](per_minute=3) as robot:  # a robot another system also uses
        channel_id = add_robot(robot)
        for i in range(6):
            new_request(staff, customer_name=f"客户{i}")
            uow.commit()
        assert len(robot.received) == 3 and robot.refused[-1]["errcode"] == 45009
        channel = db.session.get(AlertChannel, channel_id)
        assert channel.blocked_until is not None and channel.blocked_until > utcnow()
        waiting = db.session.execute(select(func.count()).where(ChannelMessage.state == "queued",
                                                                ChannelMessage.transport == "robot")).scalar_one()
        assert waiting == 3
        robot.posts.clear()  # the platform's minute has passed
        later = channel.blocked_until + timedelta(seconds=1)
        db.session.rollback()
        assert alerts_tasks.send_robot_messages(settings_of(robot_app), now=later) == 1
        assert len(robot.received) == 4
        digest = text_of("wecom", robot.received[-1])
        assert digest.count("FS-") == 3
        assert db.session.execute(select(func.count()).where(ChannelMessage.state == "queued",
                                                             ChannelMessage.transport == "robot")).scalar_one() == 0


def test_a_platform_that_is_down_is_retried_with_backoff_and_nothing_is_lost(robot_app, staff):  # noqa: F811

    with robot_app.app_context(), ROBOTS["feishu"]() as robot:
        add_robot(robot)
        robot.down = True
        number = new_request(staff).number
        uow.commit()
        [row] = db.session.execute(select(ChannelMessage).where(ChannelMessage.transport == "robot")).scalars()
        assert (row.state, row.attempts) == ("queued", 1) and row.last_answer.startswith("HTTP 502")
        first_retry = row.next_attempt_at
        assert alerts_tasks.send_robot_messages(settings_of(robot_app)) == 0  # not due yet: not tried again
        assert robot.requests == 1
        db.session.rollback()
        assert alerts_tasks.send_robot_messages(settings_of(robot_app), now=first_retry + timedelta(seconds=1)) == 0
        db.session.rollback()
        row = db.session.get(ChannelMessage, row.id)
        assert row.attempts == 2 and row.next_attempt_at - first_retry >= timedelta(minutes=2)  # a growing pause
        robot.down = False
        later = row.next_attempt_at + timedelta(seconds=1)
        assert alerts_tasks.send_robot_messages(settings_of(robot_app), now=later) == 1
        [got] = robot.received
        assert number in text_of("feishu", got)


def test_an_unreachable_robot_is_recorded_without_its_token(robot_app, staff):  # noqa: F811
    with robot_app.app_context():
        channel_id = channels.add_channel("dingtalk", "http://127.0.0.1:9/robot/send?access_token=SECRETTOKEN",
                                          secret="SECabc", kinds=None, name="群", hosts_setting=(ALLOWED,),
                                          actor=None).id
        uow.commit()
        new_request(staff)
        uow.commit()
        answers = [db.session.get(AlertChannel, channel_id).last_answer] + [
            m.last_answer for m in db.session.execute(select(ChannelMessage)).scalars() if m.transport == "robot"]
        assert answers and all("could not be reached" in a and "SECRETTOKEN" not in a and "sign=" not in a
                               for a in answers)


def test_a_message_longer_than_the_platform_allows_is_shortened_with_a_link(robot_app):
    with robot_app.app_context(), ROBOTS["wecom"]() as robot:
        channel = db.session.get(AlertChannel, add_robot(robot))
        message = robots.Message("很长的消息", "设备故障描述。" * 800, "https://fs.example.cn/dispatch/requests/FS-1")
        answer = channels.post_message(channel, message, utcnow())
        assert answer.outcome == "sent", answer
        [got] = robot.received
        content = got["markdown"]["content"]
        assert 3000 < len(content.encode()) <= 4096 and content.rstrip().endswith("(https://fs.example.cn/dispatch/"
                                                                                   "requests/FS-1)")


@pytest.mark.parametrize("platform,url", [
    ("dingtalk", "https://127.0.0.1/robot/send?access_token=x"),
    ("dingtalk", "http://oapi.dingtalk.com/robot/send?access_token=x"),
    ("dingtalk", "https://oapi.dingtalk.com.evil.cn/robot/send?access_token=x"),
    ("dingtalk", "https://user@oapi.dingtalk.com/robot/send?access_token=x"),
    ("dingtalk", "https://oapi.dingtalk.com/robot/send"),
    ("wecom", "https://169.254.169.254/cgi-bin/webhook/send?key=x"),
    ("wecom", "https://qyapi.weixin.qq.com:99999/cgi-bin/webhook/send?key=x"),
    ("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/"),
    ("feishu", "https://oapi.dingtalk.com/open-apis/bot/v2/hook/abc"),
    ("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/a\x00b"),
    ("slack", "https://hooks.slack.com/x"),
])
def test_a_webhook_that_is_not_the_platforms_is_refused_at_save(app, platform, url):
    with app.app_context(), pytest.raises(ValidationError) as refused:
        robots.check_webhook(platform, url, None, ())
    assert refused.value.fields


def test_the_platforms_own_webhooks_are_accepted_and_a_listed_host_may_use_http():
    assert robots.check_webhook("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=ab&timestamp=1&sign=x",
                                "SEC1", ())[0] == "https://oapi.dingtalk.com/robot/send?access_token=ab"
    assert robots.check_webhook("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/abc-123", "s", ())
    assert robots.check_webhook("wecom", "http://127.0.0.1:8080/cgi-bin/webhook/send?key=k", None, ("127.0.0.1",))
    with pytest.raises(ValidationError):  # a listed host replaces the platform's, it does not add to it
        robots.check_webhook("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", None, ("127.0.0.1",))


def test_signatures_follow_the_documented_recipes():
    # DingTalk: the sign is URL-encoded base64 of HMAC-SHA256(secret, "<ms>\n<secret>").
    import base64
    import hashlib
    import hmac
    from urllib.parse import unquote_plus

    secret, ms = "SEC000", 1700000000000
    raw = base64.b64encode(hmac.new(secret.encode(), f"{ms}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    assert unquote_plus(robots.dingtalk_sign(secret, ms)) == raw and "+" not in robots.dingtalk_sign(secret, ms)
    # Feishu: the key is "<s>\n<secret>" and the message empty.
    expected = base64.b64encode(hmac.new(b"1700000000\nSEC000", b"", hashlib.sha256).digest()).decode()
    assert robots.feishu_sign(secret, 1700000000) == expected


@pytest.mark.parametrize("status,body,outcome", [
    (200, b'{"errcode":0,"errmsg":"ok"}', "sent"),
    (200, b'{"errcode":130101,"errmsg":"send too fast"}', "rate_limited"),
    (200, b'{"errcode":310000,"errmsg":"sign not match"}', "bad_signature"),
    (200, b'{"errcode":40035,"errmsg":"missing"}', "error"),
    (200, b"<html>gateway</html>", "error"),
    (502, b"", "error"),
])
def test_the_body_decides_never_the_status_alone(status, body, outcome):
    assert robots.read_answer(robots.Platform.DINGTALK, status, body).outcome == outcome


def test_mobile_numbers_are_read_from_the_phone_field():
    assert channels.mobile_of("+86 138-0013-8000") == LI_MOBILE
    assert channels.mobile_of("021-12345678") is None and channels.mobile_of(None) is None


def test_a_worker_killed_mid_queue_and_restarted_sends_nothing_twice(make_app, staff, database_url, tmp_path):  # noqa: F811
    """A real `flask worker` process posts to a slow stand-in and is killed (SIGKILL, the whole process group)
    while it waits for an answer; a fresh worker sends the rest. Each alert reaches the group once at most, and
    every alert not received is shown unconfirmed in the outbox (its post had started): nothing sent twice,
    nothing silently lost."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import worker

    from .helpers import ROOT, sigint_default, worker_env

    app = make_app(HUEY_IMMEDIATE=False, CHANNEL_HOSTS_ALLOWED=ALLOWED, CHANNEL_CLAIM_SECONDS=3)
    env = {**worker_env(app, database_url), "CHANNEL_HOSTS_ALLOWED": ALLOWED, "CHANNEL_CLAIM_SECONDS": "3"}

    logs = []

    def start(name):
        log = (tmp_path / f"{name}.log").open("wb")
        logs.append(log)
        return subprocess.Popen([sys.executable, "-m", "flask", "worker"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=sigint_default)

    def wait_for(condition, what, process, seconds=60):
        deadline = time.monotonic() + seconds
        while not condition():
            assert process.poll() is None, what
            assert time.monotonic() < deadline, what
            time.sleep(0.2)

    with app.app_context(), ROBOTS["dingtalk"]() as robot:
        robot.delay = 0.5
        add_robot(robot, kinds=["missed"])
        insert_once([{"user_id": staff["boss"], "kind": "missed", "key": f"missed:restart:{i}",
                      "params": {"number": f"FS-R-{i:02d}", "clock": "first_contact", "due_at": "2026-12-06T00:00:00"
                                                                                                 "+00:00"}}
                     for i in range(8)])
        uow.commit()  # the delivery task goes to the queue; nobody runs it yet
        first = start("first")
        try:
            wait_for(lambda: len(robot.received) >= 3, "the first worker posted nothing", first)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        received_at_kill = len(robot.received)
        assert received_at_kill < 8
        time.sleep(3.5)  # the killed worker's hold on the robot runs out
        second = start("second")
        try:
            worker.TASKS["send_channel_messages"]()  # a kick, as the next alert or the minute tick gives

            def settled():
                db.session.remove()
                return db.session.execute(select(func.count()).where(
                    ChannelMessage.state.in_(["queued", "posting"]))).scalar_one() == 0

            wait_for(settled, "the second worker did not finish the queue", second)
        finally:
            second.send_signal(signal.SIGINT)
            try:
                second.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(second.pid, signal.SIGKILL)
            for log in logs:
                log.close()
        texts = [text_of("dingtalk", m) for m in robot.received]
        states = {r.content["title"]: r.state for r in db.session.execute(select(ChannelMessage)).scalars()}
        assert len(robot.received) > received_at_kill  # the second worker went on
        for i in range(8):
            times = sum(f"FS-R-{i:02d}" in t for t in texts)
            assert times <= 1, f"FS-R-{i:02d} posted {times} times"
            [state] = [s for title, s in states.items() if f"FS-R-{i:02d}" in title]
            assert (state in ("sent", "digested")) == (times == 1) or state == "unconfirmed", (i, state, times)
        assert list(states.values()).count("unconfirmed") <= 1
