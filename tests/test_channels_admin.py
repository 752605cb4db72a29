"""The group robots' admin page and `flask channels add|list|test`: a robot is added by pasting its webhook and
secret, "send a test message" shows the platform's answer (a wrong secret its errcode), a webhook on another host
is refused with a clear message, hostile input is a 400 or a usage error (never a 500 or a traceback), and the
outbox lists every channel's messages with the platform's last answer."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from domain.alerts.models import AlertChannel, ChannelMessage
from domain.core import uow
from domain.core.db import db
from domain.core.enums import Role

from .helpers import ALERTS_STAFF, new_request, signed_client, staff_fixture
from .standins import ROBOTS, text_of

staff = staff_fixture(ALERTS_STAFF)
ALLOWED = "127.0.0.1"


@pytest.fixture
def robot_app(make_app):
    return make_app(CHANNEL_HOSTS_ALLOWED=ALLOWED, PUBLIC_URL="https://fs.example.cn")


@pytest.fixture
def admin(robot_app, make_user):
    make_user(Role.SUPERVISOR, "admin1", is_admin=True)
    return signed_client(robot_app, "admin1")


def channel_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count(AlertChannel.id))).scalar_one()


def test_an_admin_adds_a_robot_and_the_test_button_shows_the_platforms_answer(robot_app, admin):
    with ROBOTS["dingtalk"]() as robot:
        page = admin.post("/admin/channels", data={"platform": "dingtalk", "name": "主管群",
                                                   "webhook_url": robot.webhook, "secret": robot.secret,
                                                   "kinds": ["new_request", "missed"]}, follow_redirects=True)
        assert page.status_code == 200 and "主管群" in page.get_data(as_text=True)
        with robot_app.app_context():
            channel = db.session.execute(select(AlertChannel)).scalar_one()
            assert channel.kinds == ["new_request", "missed"] and channel.secret == robot.secret
            channel_id = channel.id
        answer = admin.post(f"/admin/channels/{channel_id}/test", follow_redirects=True).get_data(as_text=True)
        assert "0: ok" in answer and len(robot.received) == 1
        assert "测试消息" in text_of("dingtalk", robot.received[0])
        # A wrong secret: the platform's errcode on the page, the robot marked refused.
        edit = admin.post(f"/admin/channels/{channel_id}", data={
            "name": "主管群", "webhook_url": robot.webhook, "secret": "SECwrong", "kinds": ["missed"], "active": "1"})
        assert edit.status_code == 302
        answer = admin.post(f"/admin/channels/{channel_id}/test", follow_redirects=True).get_data(as_text=True)
        assert "310000" in answer and "sign not match" in answer
        listing = admin.get("/admin/channels").get_data(as_text=True)
        assert "310000" in listing
        # Saved again with the right secret, left blank the second time: the secret is kept.
        admin.post(f"/admin/channels/{channel_id}", data={"name": "主管群", "webhook_url": robot.webhook,
                                                          "secret": robot.secret, "kinds": ["missed"], "active": "1"})
        admin.post(f"/admin/channels/{channel_id}", data={"name": "主管群2", "webhook_url": robot.webhook,
                                                          "secret": "", "kinds": ["missed"], "active": "1"})
        with robot_app.app_context():
            channel = db.session.get(AlertChannel, channel_id)
            assert (channel.name, channel.secret, channel.state) == ("主管群2", robot.secret, "ok")


@pytest.mark.parametrize("url", ["http://127.0.0.2/robot/send?access_token=x", "https://10.0.0.1/robot/send?a=1",
                                 "https://oapi.dingtalk.com/robot/send?access_token=x", "file:///etc/passwd",
                                 "gopher://127.0.0.1:6379/_INFO", "not a url"])
def test_a_webhook_on_another_host_is_refused_with_a_clear_message(robot_app, admin, url):
    page = admin.post("/admin/channels", data={"platform": "dingtalk", "webhook_url": url, "kinds": ["missed"]})
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "不会为机器人访问其他地址" in text or "这不是一个网址" in text or "Webhook" in text
    assert channel_count(robot_app) == 0


@pytest.mark.parametrize("field,value", [
    ("name", "群\x00名"), ("name", "长" * 5000), ("webhook_url", "http://127.0.0.1/robot/send?access_token=a\x00b"),
    ("secret", "SEC\x00"), ("secret", "S" * 5000), ("kinds", "everything"), ("platform", "slack\x00"),
    ("webhook_url", "http://127.0.0.1/robot/send?access_token=" + "a" * 5000),
])
def test_hostile_values_on_the_robot_form_are_400_never_500(robot_app, admin, field, value):
    data = {"platform": "dingtalk", "name": "群", "webhook_url": "http://127.0.0.1:9/robot/send?access_token=t",
            "secret": "SECok", "kinds": ["missed"], field: value}
    assert admin.post("/admin/channels", data=data).status_code == 400
    assert channel_count(robot_app) == 0


def test_a_lone_surrogate_sent_as_raw_bytes_is_400(robot_app, admin):
    body = "platform=dingtalk&kinds=missed&webhook_url=http%3A%2F%2F127.0.0.1%2Frobot%2Fsend%3Faccess_token%3Dt" \
           "&name=%ED%A0%80"
    response = admin.post("/admin/channels", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code in (302, 400)  # the bytes are decoded as U+FFFD: a plain name, or refused
    assert response.status_code != 500


def test_the_outbox_lists_robot_messages_with_the_platforms_last_answer(robot_app, admin, staff):  # noqa: F811
    with ROBOTS["wecom"]() as robot:
        admin.post("/admin/channels", data={"platform": "wecom", "webhook_url": robot.webhook,
                                            "kinds": ["new_request"]})
        with robot_app.app_context():
            number = new_request(staff).number
            uow.commit()
        page = admin.get("/admin/outbox").get_data(as_text=True)
        assert number in page and "0: ok" in page and "已发送" in page


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["channels", *args])


def test_cli_adds_lists_and_tests_a_robot(robot_app, staff):  # noqa: F811
    with ROBOTS["feishu"]() as robot:
        added = cli(robot_app, "add", "feishu", robot.webhook, "--secret", robot.secret)
        assert added.exit_code == 0, added.output
        channel_id = int(added.output.strip())
        listed = cli(robot_app, "list")
        assert re.search(rf"^{channel_id}\tfeishu\tok\t", listed.output, re.M)
        tested = cli(robot_app, "test", str(channel_id))
        assert tested.exit_code == 0 and "sent" in tested.output and len(robot.received) == 1
        # With no --alerts, the default routing: a new urgent request is announced.
        with robot_app.app_context():
            number = new_request(staff).number
            uow.commit()
        assert number in text_of("feishu", robot.received[-1])
        wrong = cli(robot_app, "add", "feishu", robot.webhook, "--secret", "SECwrong", "--alerts", "missed,due_soon")
        wrong_id = int(wrong.output.strip())
        refused = cli(robot_app, "test", str(wrong_id))
        assert refused.exit_code != 0 and "19021" in refused.output and "sign match fail" in refused.output
        assert re.search(rf"^{wrong_id}\tfeishu\tfailing\t", cli(robot_app, "list").output, re.M)


@pytest.mark.parametrize("args", [
    ["add", "dingtalk", "https://10.0.0.1/robot/send?access_token=x"],
    ["add", "dingtalk", "http://127.0.0.1/robot/send?access_token=x", "--secret", "S\x00"],
    ["add", "dingtalk", "http://127.0.0.1/robot/send?access_token=x", "--name", "\udcff\udcfe"],
    ["add", "dingtalk", "http://127.0.0.1/robot/send?access_token=x", "--name", "名" * 5000],
    ["add", "wecom", "http://127.0.0.1/cgi-bin/webhook/send?key=k", "--alerts", "everything"],
    ["add", "slack", "https://hooks.slack.com/x"],
    ["test", "99999999999999999999"],
    ["test", "42"],
])
def test_cli_refuses_bad_input_with_a_message_never_a_traceback(robot_app, args):
    result = cli(robot_app, *args)
    assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit), \
        result.output
    assert "Traceback" not in result.output and result.output.strip()
    assert channel_count(robot_app) == 0
    with robot_app.app_context():
        assert db.session.execute(select(func.count(ChannelMessage.id))).scalar_one() == 0
