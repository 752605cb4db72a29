"""Customers' replies (issue 21): STOP / 退订 / TD reported by the providers in their documented shapes (Aliyun's
SmsUp HTTP push: a JSON array; Tencent's reply callback: one object) to an endpoint authenticated by the secret in
its URL; the number is opted out of every customer message (kept in the outbox as not sent, shown to admins), a
new request from it or a later reply does not re-enable it, an admin lifts it saying why. Also: a request entered
and assigned before its "received" SMS went out sends the customer one message, not two; each user's mobile
number and channels (robot @mention, SMS) are theirs to set and the delivery honours them."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from domain.alerts import channels, sms
from domain.alerts import tasks as alerts_tasks
from domain.alerts.models import ChannelMessage, SmsOptOut, SmsReply
from domain.core import uow
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import User
from domain.core.types import utcnow
from domain.requests import access, assignment

from .conftest import signed_client
from .helpers import ALERT_BODY as BODY
from .helpers import ALERTS_STAFF, ctx, new_request, settings_of, staff_fixture
from .standins import ROBOTS, SMS, mentions_of
from .test_sms import sms_settings

staff = staff_fixture(ALERTS_STAFF)
TOKEN = "cb-3f1d9a7e5c2b"
CUSTOMER = BODY["contact_phone"]  # 13900139002


def aliyun_push(client, items, token=TOKEN):
    return client.post(f"/hooks/sms/aliyun/{token}", data=json.dumps(items, ensure_ascii=False),
                       content_type="application/json")


def tencent_callback(client, body, token=TOKEN):
    return client.post(f"/hooks/sms/tencent/{token}", data=json.dumps(body, ensure_ascii=False),
                       content_type="application/json")


def smsup(text, phone=CUSTOMER, sequence=1234567890):
    # Aliyun's documented SmsUp item (the HTTP batch push)
    return {"phone_number": phone, "content": text, "send_time": "2026-12-06 10:00:00", "dest_code": "1234",
            "sequence_id": sequence}


def rows(kind=None) -> list[ChannelMessage]:
    query = select(ChannelMessage).where(ChannelMessage.transport == "sms")
    if kind:
        query = query.where(ChannelMessage.kind == kind)
    return list(db.session.execute(query.order_by(ChannelMessage.id)).scalars())


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_stop_opts_the_number_out_and_a_new_request_does_not_re_enable_it(make_app, make_user, staff, provider):  # noqa: F811
    with SMS[provider]() as standin:
        app = make_app(**sms_settings(standin, provider, SMS_CALLBACK_TOKEN=TOKEN))
        client = app.test_client()
        with app.app_context():
            first = new_request(staff).number
            uow.commit()
        assert [s["phone"] for s in standin.sent] == [CUSTOMER]
        if provider == "aliyun":
            answer = aliyun_push(client, [smsup("TD"), smsup("好的", sequence=1234567891)])
            assert answer.status_code == 200 and answer.json == {"code": 0, "msg": "接收成功"}
            assert aliyun_push(client, [smsup("TD")]).status_code == 200  # pushed again: stored once
        else:
            body = {"extend": "", "mobile": CUSTOMER, "nationcode": "86", "sign": "直播设备租赁", "text": "退订",
                    "time": 1765000000}
            answer = tencent_callback(client, body)
            assert answer.status_code == 200 and answer.json == {"result": 0, "errmsg": "OK"}
            assert tencent_callback(client, body).status_code == 200
        with app.app_context():
            assert db.session.get(SmsOptOut, CUSTOMER).lifted_at is None
            stops = db.session.execute(select(SmsReply).where(SmsReply.opt_out.is_(True))).scalars().all()
            assert len(stops) == 1
            # No more customer messages: assignment (the technician named) and a new request from the number.
            assignment.assign(access.get_ticket(first), db.session.get(User, staff["li"]),
                              ctx(staff["boss"], utcnow()))
            uow.commit()
            new_request(staff, customer_name="鲸鱼电竞二队")
            uow.commit()
            assert [s["phone"] for s in standin.sent] == [CUSTOMER]  # only the first "received"
            kept = [r for r in rows() if r.recipient == CUSTOMER and r.state != "sent"]
            assert len(kept) == 2 and {r.state for r in kept} == {"opted_out"}
            assert all("opted out" in r.last_answer for r in kept)
        # A later reply that is not STOP does not lift it.
        if provider == "aliyun":
            aliyun_push(client, [smsup("我想继续接收通知", sequence=99)])
        else:
            tencent_callback(client, {"extend": "", "mobile": CUSTOMER, "nationcode": "86", "sign": "直播设备租赁",
                                      "text": "谢谢", "time": 1765000100})
        with app.app_context():
            assert db.session.get(SmsOptOut, CUSTOMER).lifted_at is None
        make_user(Role.SUPERVISOR, "admin1", is_admin=True)
        admin = signed_client(app, "admin1")
        page = admin.get("/admin/outbox").get_data(as_text=True)
        assert "未发送：该号码已退订" in page
        sms_page = admin.get("/admin/sms").get_data(as_text=True)
        assert f'data-mobile="{CUSTOMER}"' in sms_page
        assert admin.post("/admin/sms/opt-outs/lift", data={"mobile": CUSTOMER, "reason": ""}).status_code == 400
        assert admin.post("/admin/sms/opt-outs/lift", data={"mobile": CUSTOMER, "reason": "\x00"}).status_code == 400
        assert admin.post("/admin/sms/opt-outs/lift", data={"mobile": "1" * 5000, "reason": "x"}).status_code == 404
        assert admin.post("/admin/sms/opt-outs/lift", data={"mobile": CUSTOMER,
                                                            "reason": "客户来电要求恢复短信"}).status_code == 302
        with app.app_context():
            new_request(staff, customer_name="鲸鱼电竞三队")
            uow.commit()
        assert [s["phone"] for s in standin.sent] == [CUSTOMER, CUSTOMER]


def test_a_stop_arriving_while_a_message_waits_keeps_it_unsent(make_app, staff):  # noqa: F811

    app = make_app(SMS_CALLBACK_TOKEN=TOKEN)  # no provider yet: the "received" is held
    with app.app_context():
        new_request(staff)
        uow.commit()
        [held] = rows()
        assert held.state == "held"
    assert aliyun_push(app.test_client(), [smsup("STOP")]).status_code == 200
    with app.app_context():
        [row] = rows()
        assert row.state == "opted_out"
    with SMS["aliyun"]() as standin:
        configured = make_app(**sms_settings(standin, "aliyun", SMS_CALLBACK_TOKEN=TOKEN))
        with configured.app_context():
            assert alerts_tasks.send_due_sms(settings_of(configured)) == 0
        assert standin.sent == [] and standin.requests == 0


@pytest.mark.parametrize("path,body,status", [
    ("/hooks/sms/aliyun/wrong-token", [{"phone_number": CUSTOMER, "content": "TD"}], 404),
    ("/hooks/sms/aliyun/", [{"phone_number": CUSTOMER, "content": "TD"}], 404),
    ("/hooks/sms/other/" + TOKEN, [{"phone_number": CUSTOMER, "content": "TD"}], 404),
    ("/hooks/sms/aliyun/" + TOKEN, "not json", 400),
    ("/hooks/sms/aliyun/" + TOKEN, [], 400),
    ("/hooks/sms/aliyun/" + TOKEN, [{"phone_number": 13900139002, "content": "TD"}], 400),
    ("/hooks/sms/aliyun/" + TOKEN, [{"content": "TD"}] * 101, 400),
    ("/hooks/sms/tencent/" + TOKEN, {"mobile": CUSTOMER}, 400),
    ("/hooks/sms/tencent/" + TOKEN, [{"mobile": CUSTOMER, "text": "TD"}], 400),
])
def test_a_wrong_token_or_a_body_not_in_the_providers_shape_changes_nothing(make_app, staff, path, body, status):  # noqa: F811
    app = make_app(SMS_CALLBACK_TOKEN=TOKEN)
    data = body if isinstance(body, str) else json.dumps(body)
    assert app.test_client().post(path, data=data, content_type="application/json").status_code == status
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(SmsOptOut)).scalar_one() == 0


def test_without_a_token_set_there_is_no_endpoint(make_app):
    app = make_app()
    assert aliyun_push(app.test_client(), [smsup("TD")], token="None").status_code == 404


@pytest.mark.parametrize("text,stop", [("TD\x00", True), ("\ud800退订", True), ("退" * 5000, False), ("²", False),
                                       ("1" * 20, False), ("Stop.", True), ("ｔｄ", True), ("请退订，谢谢", True),
                                       ("Thanks", False), ("T", True)])
def test_hostile_replies_are_stored_as_text_never_a_500(make_app, staff, text, stop):  # noqa: F811
    app = make_app(SMS_CALLBACK_TOKEN=TOKEN)
    raw = json.dumps([smsup(text)])  # a lone surrogate travels escaped, as JSON allows
    answer = app.test_client().post(f"/hooks/sms/aliyun/{TOKEN}", data=raw, content_type="application/json")
    assert answer.status_code == 200
    with app.app_context():
        [reply] = db.session.execute(select(SmsReply)).scalars()
        assert "\x00" not in reply.text and len(reply.text) <= 500
        assert reply.opt_out is stop


# --- one "received" per request -------------------------------------------------------------------------------


def test_a_request_entered_and_assigned_before_its_received_sms_went_out_sends_one_message(make_app, staff):  # noqa: F811
    """Entered and assigned while no provider was set (the same holds while a retry waits): the technician's
    message tells the customer the request is received, so the "received" is not sent as well."""

    app = make_app()
    with app.app_context():
        ticket = new_request(staff)
        uow.commit()
        assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], utcnow()))
        uow.commit()
        states = {r.kind: r.state for r in rows()}
        assert states == {"customer_received": "superseded", "customer_technician": "held"}
    with SMS["aliyun"]() as standin:
        configured = make_app(**sms_settings(standin, "aliyun"))
        with configured.app_context():
            alerts_tasks.send_due_sms(settings_of(configured))
            alerts_tasks.send_due_sms(settings_of(configured), now=utcnow() + timedelta(hours=2))
            [sent] = standin.sent
            assert sent["template"] == sms.template_codes("aliyun")[sms.SmsKind.CUSTOMER_TECHNICIAN]


def test_the_technicians_message_does_not_say_received_again(make_app, staff):  # noqa: F811
    with SMS["aliyun"]() as standin:
        app = make_app(**sms_settings(standin, "aliyun"))
        with app.app_context():
            ticket = new_request(staff)
            uow.commit()
            assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], utcnow()))
            uow.commit()
            texts = [sms.text_of(r, "https://fw.example.cn/c/") for r in rows() if r.recipient == CUSTOMER]
        assert len(standin.sent) == 2 and len(texts) == 2
        assert "已受理" in texts[0] and "已受理" not in texts[1] and "Test technician" in texts[1]


# --- each user's number and channels --------------------------------------------------------------------------


@pytest.mark.parametrize("typed,stored", [("+86 138 0013 8000", "13800138000"), ("138-0013-8000", "13800138000"),
                                          ("", None)])
def test_a_user_sets_their_own_mobile_on_the_account_page(app, staff, typed, stored):  # noqa: F811
    client = signed_client(app, "li")
    assert client.post("/auth/account/phone", data={"phone": typed}).status_code == 302
    with app.app_context():
        assert db.session.get(User, staff["li"]).phone == stored
    page = client.get("/auth/account").get_data(as_text=True)
    assert f'value="{stored or ""}"' in page and 'data-channel="sms"' in page


@pytest.mark.parametrize("typed", ["12345", "021-62345678", "23800138000", "%00", "%ED%A0%80", "1" * 5000, "%C2%B2",
                                   "1" * 20, "13800138000%00"])
def test_a_mobile_that_is_not_a_mainland_mobile_is_a_400(app, staff, typed):  # noqa: F811
    client = signed_client(app, "li")
    form = "application/x-www-form-urlencoded"  # sent as bytes: a lone surrogate's UTF-8, a NUL
    answer = client.post("/auth/account/phone", data=f"phone={typed}", content_type=form)
    assert answer.status_code == 400 and "中国大陆手机号" in answer.get_data(as_text=True)
    assert client.post("/notifications/preferences", data=f"phone={typed}", content_type=form).status_code == 400
    with app.app_context():
        assert db.session.get(User, staff["li"]).phone is None


def test_the_delivery_honours_each_users_sms_and_mention_choices(make_app, staff):  # noqa: F811
    with SMS["aliyun"]() as standin, ROBOTS["dingtalk"]() as robot:
        app = make_app(**sms_settings(standin, "aliyun"), CHANNEL_HOSTS_ALLOWED="127.0.0.1")
        client = signed_client(app, "li")
        page = client.get("/notifications/preferences").get_data(as_text=True)
        assert 'name="sms" value="assigned"' in page and 'name="robot" value="assigned"' in page
        # Li keeps push and e-mail, turns off the SMS and the @mention for assignments.
        assert client.post("/notifications/preferences", data={
            "phone": "+8613800138000", "push": ["assigned"], "email_kind": []}).status_code == 302
        with app.app_context():
            channels.add_channel("dingtalk", robot.webhook, secret=robot.secret, kinds=None, name="群",
                                 hosts_setting=("127.0.0.1",), actor=None)
            db.session.commit()
            ticket = new_request(staff)
            uow.commit()
            assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], utcnow()))
            uow.commit()
        assert "13800138000" not in [s["phone"] for s in standin.sent]
        assert len(robot.received) == 2 and mentions_of("dingtalk", robot.received[1]) == []
        account = client.get("/auth/account").get_data(as_text=True)
        row = account.split('data-kind="assigned"')[1].split("</tr>")[0]
        assert 'data-channel="sms"><span class="muted">' in row and 'data-channel="push">✓' in row
        # Turned back on: the next urgent assignment reaches Li by SMS and is @mentioned.
        assert client.post("/notifications/preferences", data={
            "phone": "13800138000", "push": ["assigned"], "sms": ["assigned"],
            "robot": ["assigned"]}).status_code == 302
        with app.app_context():
            other = new_request(staff, customer_name="另一客户", contact_phone="13700137009")
            uow.commit()
            assignment.assign(other, db.session.get(User, staff["li"]), ctx(staff["boss"], utcnow()))
            uow.commit()
        assert "13800138000" in [s["phone"] for s in standin.sent]
        assert mentions_of("dingtalk", robot.received[-1]) == ["13800138000"]


@pytest.mark.browser
def test_the_push_prompt_says_plainly_when_no_push_service_can_be_reached(app, staff, chromium):  # noqa: F811
    """Chromium here has no push service it can reach (as a phone in mainland China or a Huawei phone without
    Google services): with notifications allowed the subscription fails, and the page says so instead of nothing."""
    from playwright.sync_api import expect

    from .conftest import browser_sign_in

    base, new_context = chromium
    context = new_context()
    context.grant_permissions(["notifications"], origin=base)
    page = context.new_page()
    browser_sign_in(page, base, "li", next_path="/notifications/preferences")
    page.wait_for_url("**/notifications/preferences")
    status = page.locator("#alerts-push-status")
    button = page.locator("#alerts-enable")
    if button.is_visible():  # the permission not yet asked in this browser: the technician taps the button
        button.click()
    expect(status).to_be_visible(timeout=30000)
    expect(status).to_contain_text("无法连接推送服务", timeout=30000)
    expect(status).to_contain_text("短信或群机器人")
    expect(page.locator("#alerts-enable")).to_be_hidden()
