"""SMS through Aliyun (Dysmsapi SendSms 2017-05-25, RPC signature) and Tencent Cloud (SendSms 2021-01-11,
TC3-HMAC-SHA256), against stand-ins on 127.0.0.1 that recompute each signature as published and check the
template and its variables: the signers reproduce the providers' published examples; an urgent assignment reaches
the technician, a missed first contact the supervisor on duty, the customer is told their request is received and
who the technician is; the per-number daily cap (ours, and the provider's isv.BUSINESS_LIMIT_CONTROL) stops a
message that day and records it; a wrong key is refused, not retried; with no provider the messages are kept."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from domain.alerts import sms
from domain.alerts import tasks as alerts_tasks
from domain.alerts.models import ChannelMessage, Notification
from domain.alerts.notifications import Kind, insert_once
from domain.alerts.sms_providers import aliyun_signature, tencent_signature
from domain.core import uow
from domain.core.db import db
from domain.core.models import User
from domain.core.types import utcnow
from domain.requests import assignment

from .helpers import ALERT_BODY, ALERTS_STAFF, ctx, new_request, settings_of, staff_fixture
from .standins import SMS

staff = staff_fixture(ALERTS_STAFF)
CUSTOMER = ALERT_BODY["contact_phone"]  # 13900139002
LI, BOSS, BOSS2 = "13800138000", "13700137000", "13600136000"


def test_the_aliyun_signature_reproduces_the_published_example():
    # Aliyun's documentation of the RPC signature (SendSms, AccessKeySecret "testSecret").
    params = {"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
              "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
              "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
              "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}',
              "Timestamp": "2017-07-12T02:42:19Z", "Version": "2017-05-25"}
    assert aliyun_signature(params, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_the_tencent_tc3_signature_reproduces_the_published_example():
    # Tencent Cloud's documentation of TC3-HMAC-SHA256 (CVM DescribeInstances, the EXAMPLE key).
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    assert tencent_signature(secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", host="cvm.tencentcloudapi.com",
                             payload=payload, timestamp=1551113065, service="cvm") == \
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def sms_settings(standin, provider: str, **extra) -> dict:
    settings = {"SMS_PROVIDER": provider, "SMS_ENDPOINT": standin.base + "/", "SMS_ACCESS_KEY_ID": standin.key_id,
                "SMS_ACCESS_KEY_SECRET": standin.secret, "SMS_SIGN_NAME": standin.sign_name}
    if provider == "tencent":
        settings["SMS_SDK_APP_ID"] = standin.app_id
    return {**settings, **extra}


def set_phones(staff):  # noqa: F811 - the fixture's value
    for name, phone in (("li", f"+86 {LI}"), ("boss", BOSS), ("boss2", BOSS2)):
        db.session.get(User, staff[name]).phone = phone
    db.session.commit()


def states() -> dict[str, str]:
    return {m.key: m.state for m in db.session.execute(select(ChannelMessage)
                                                       .where(ChannelMessage.transport == "sms")).scalars()}


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_the_customer_the_technician_and_the_supervisor_on_duty_get_their_sms(make_app, staff, provider):  # noqa: F811
    with SMS[provider]() as standin:
        app = make_app(**sms_settings(standin, provider))
        with app.app_context():
            set_phones(staff)
            ticket = new_request(staff, customer_email="kehu@example.cn")
            uow.commit()
            codes = sms.template_codes(provider)
            assert standin.refused == []
            [received] = standin.sent
            assert received == {"phone": CUSTOMER, "template": codes[sms.SmsKind.CUSTOMER_RECEIVED],
                                "vars": {"number": ticket.number, "link": ticket.link_code},
                                "out_id": received["out_id"]}
            # The variable is the short code of the customer's tracking page: PUBLIC_URL/c/<code> opens it.
            assert re.fullmatch(r"[2-9a-z]{8}", received["vars"]["link"])
            page = app.test_client().get("/c/" + received["vars"]["link"])
            assert page.status_code == 200 and ticket.number in page.get_data(as_text=True)
            assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], utcnow()))
            uow.commit()
            by_template = {s["template"]: s for s in standin.sent}
            technician = by_template[codes[sms.SmsKind.CUSTOMER_TECHNICIAN]]
            assert technician["phone"] == CUSTOMER and technician["vars"] == {
                "number": ticket.number, "name": "Test technician", "link": received["vars"]["link"]}
            urgent = by_template[codes[sms.SmsKind.URGENT_ASSIGNED]]
            first_contact = ticket.created_at + timedelta(minutes=30)
            assert urgent["phone"] == LI and urgent["vars"] == {
                "number": ticket.number, "time": first_contact.astimezone(_shanghai()).strftime("%H:%M")}
            # The e-mail too, since the customer gave an address.
            from domain.alerts.models import OutboxMail

            [mail] = db.session.execute(select(OutboxMail).where(OutboxMail.kind == "customer_received")).scalars()
            assert mail.recipients == ["kehu@example.cn"] and "Test technician" in mail.body
            # The first contact missed: the supervisor who assigned is told, not the other one.
            due = first_contact
            insert_once([{"user_id": uid, "kind": Kind.MISSED.value, "ticket_id": ticket.id, "clock": "first_contact",
                          "due_at": due, "key": f"missed:{ticket.number}:first_contact:{due.isoformat()}",
                          "params": {"number": ticket.number, "clock": "first_contact", "due_at": due.isoformat()}}
                         for uid in (staff["boss"], staff["boss2"], staff["li"])])
            uow.commit()
            missed = [s for s in standin.sent if s["template"] == codes[sms.SmsKind.FIRST_CONTACT_MISSED]]
            assert [s["phone"] for s in missed] == [BOSS]
            assert set(states().values()) == {"sent"} and len(standin.sent) == 4


def _shanghai():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_a_normal_request_assigned_sends_the_technician_no_sms(make_app, staff):  # noqa: F811
    with SMS["aliyun"]() as standin:
        app = make_app(**sms_settings(standin, "aliyun"))
        with app.app_context():
            set_phones(staff)
            ticket = new_request(staff, urgency="normal")
            assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], utcnow()))
            uow.commit()
            # Entered and assigned before the "received" went out: the customer gets the technician's message only.
            assert [s["phone"] for s in standin.sent] == [CUSTOMER]
            assert standin.sent[0]["template"] == sms.template_codes("aliyun")[sms.SmsKind.CUSTOMER_TECHNICIAN]


@pytest.mark.parametrize("provider,code", [("aliyun", "isv.BUSINESS_LIMIT_CONTROL"),
                                           ("tencent", "LimitExceeded.PhoneNumberDailyLimit")])
def test_the_providers_per_number_limit_stops_the_message_that_day_and_records_it(make_app, staff, provider, code):  # noqa: F811

    with SMS[provider](daily_limit=2) as standin:
        app = make_app(**sms_settings(standin, provider))
        with app.app_context():
            for i in range(3):  # the same customer files three requests
                new_request(staff, customer_name=f"客户{i}")
                uow.commit()
            assert len(standin.sent) == 2
            limited = [key for key, state in states().items() if state == "limited"]
            assert len(limited) == 1
            row = db.session.execute(select(ChannelMessage).where(ChannelMessage.key == limited[0])).scalar_one()
            assert row.last_answer.startswith(code) and row.attempts == 1
            requests_before = standin.requests
            alerts_tasks.send_due_sms(settings_of(app), now=utcnow() + timedelta(hours=1))  # not retried
            assert standin.requests == requests_before


def test_our_daily_cap_counts_what_was_sent_and_never_asks_the_provider_beyond_it(make_app, make_user, staff):  # noqa: F811, E501
    with SMS["aliyun"]() as standin:
        app = make_app(**sms_settings(standin, "aliyun", SMS_DAILY_CAP=2))
        with app.app_context():
            for i in range(3):
                new_request(staff, customer_name=f"客户{i}")
                uow.commit()
            assert len(standin.sent) == 2 and standin.requests == 2
            [limited] = [m for m in db.session.execute(select(ChannelMessage)).scalars() if m.state == "limited"]
            assert "daily cap" in limited.last_answer and limited.attempts == 0
        # The outbox shows it, worded as the template, with why it was not sent.
        from domain.core.enums import Role

        from .helpers import signed_client

        make_user(Role.SUPERVISOR, "admin1", is_admin=True)
        page = signed_client(app, "admin1").get("/admin/outbox").get_data(as_text=True)
        assert "已达当日上限" in page and "daily cap reached" in page and "技术人员将尽快与您联系" in page
        with app.app_context():
            midnight = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
            assert sms.sent_today(CUSTOMER, "customer_received", midnight + timedelta(days=400), _shanghai()) == 0


@pytest.mark.parametrize("provider,code", [("aliyun", "SignatureDoesNotMatch"),
                                           ("tencent", "AuthFailure.SignatureFailure")])
def test_a_wrong_secret_is_refused_recorded_and_not_retried(make_app, staff, provider, code):  # noqa: F811

    with SMS[provider]() as standin:
        app = make_app(**sms_settings(standin, provider, SMS_ACCESS_KEY_SECRET="wrong-secret"))
        with app.app_context():
            new_request(staff)
            uow.commit()
            assert standin.sent == [] and len(standin.refused) == 1
            [row] = db.session.execute(select(ChannelMessage)).scalars()
            assert row.state == "refused" and row.last_answer.startswith(code)
            alerts_tasks.send_due_sms(settings_of(app), now=utcnow() + timedelta(hours=1))
            assert standin.requests == 1


def test_without_a_provider_messages_are_kept_then_sent_once_one_is_set(make_app, staff):  # noqa: F811

    app = make_app()
    with app.app_context():
        ticket = new_request(staff)
        uow.commit()
        number, code = ticket.number, ticket.link_code
        [row] = db.session.execute(select(ChannelMessage)).scalars()
        assert row.state == "held" and "SMS_PROVIDER" in row.last_answer
    with SMS["tencent"]() as standin:
        configured = make_app(**sms_settings(standin, "tencent"))
        with configured.app_context():
            assert alerts_tasks.send_due_sms(settings_of(configured)) == 1
            assert alerts_tasks.send_due_sms(settings_of(configured)) == 0
            [sent] = standin.sent
            assert sent["vars"] == {"number": number, "link": code} and sent["phone"] == CUSTOMER


def test_a_landline_contact_gets_no_sms(app, staff):  # noqa: F811
    with app.app_context():
        new_request(staff, contact_phone="021-62345678")
        uow.commit()
        assert db.session.execute(select(func.count(ChannelMessage.id))).scalar_one() == 0
        assert db.session.execute(select(func.count(Notification.id))).scalar_one() > 0  # the staff still told


def test_template_codes_are_set_on_the_admin_page_and_hostile_values_are_400(make_app, make_user):
    from domain.core.enums import Role

    from .helpers import signed_client

    app = make_app()
    make_user(Role.SUPERVISOR, "admin1", is_admin=True)
    client = signed_client(app, "admin1")
    page = client.get("/admin/sms").get_data(as_text=True)
    assert "SMS_900000003" in page and "SMS_PROVIDER" in page
    # The wording to submit for approval carries this deployment's fixed link, the code as its variable.
    with app.app_context():
        from domain.core.site import current

        base = current().link("/c/")
    assert page.count(base + "${link}") == 3 and "{url}" not in page
    assert client.post("/admin/sms", data={"customer_received": "SMS_123456789"}).status_code == 302
    with app.app_context():
        assert sms.template_codes("aliyun")[sms.SmsKind.CUSTOMER_RECEIVED] == "SMS_123456789"
    for value in ("SMS\x00", "码" * 5000, "SMS 1", "x" * 41):
        assert client.post("/admin/sms", data={"customer_received": value}).status_code == 400
    with app.app_context():
        assert sms.template_codes("aliyun")[sms.SmsKind.CUSTOMER_RECEIVED] == "SMS_123456789"


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_after_signing_the_customer_gets_their_orders_page_by_sms_a_short_link_that_ends_as_a_tracking_link_does(
        make_app, make_user, provider):
    from domain.core.context import Context
    from domain.core.site import current as current_site
    from domain.customer.tracking import revoke_tracking_links
    from domain.documents import orders
    from domain.requests import access

    from .orderfactory import make_signed_order

    with SMS[provider]() as standin:
        app = make_app(**sms_settings(standin, provider))
        with app.app_context():
            made = make_signed_order(make_user, photos=0)
            alerts_tasks.send_due_sms(settings_of(app))
            codes = sms.template_codes(provider)
            [copy] = [s for s in standin.sent if s["template"] == codes[sms.SmsKind.CUSTOMER_SIGNED_COPY]]
            assert copy["phone"] == CUSTOMER and copy["vars"]["number"] == made["number"]
            code = copy["vars"]["link"]
            # One code per request: the "received" and the technician's message carried the same one.
            assert {s["vars"]["link"] for s in standin.sent if "link" in s["vars"]} == {code}
            client = app.test_client()
            waiting = client.get("/c/" + code).get_data(as_text=True)
            # Not rendered yet: no download, the page says it is coming.
            assert made["number"] in waiting and 'href="/o/' not in waiting and 'id="order-preparing"' in waiting
            ticket = access.get_ticket(made["number"])
            assert orders.render_order(ticket.service_order)
            db.session.commit()
            # Read from a message, the code may come back in capitals.
            page = client.get("/c/" + code.upper()).get_data(as_text=True)
            download = re.search(r'href="(/o/[^"]+)"', page).group(1)
            assert client.get(download).mimetype == "application/pdf"
            # Malformed and unknown codes answer the invalid-link page, never a database error.
            for bad in ("abc", "iiiiiiii", code[:-1] + ("2" if code[-1] != "2" else "3"), "\x00" * 8):
                assert client.get("/c/" + bad).status_code == 404
            # Closed longer ago than SHARE_LINK_DAYS: the short link ends as a signed one would.
            ticket.closed_at = utcnow() - timedelta(days=current_site().share_link_days + 1)
            db.session.commit()
            assert client.get("/c/" + code).status_code == 404
            ticket.closed_at = None
            db.session.commit()
            assert client.get("/c/" + code).status_code == 200
            # Revoked: the code stops working; the next message carries a new one.
            revoke_tracking_links(ticket, Context(actor=db.session.get(User, made["ids"]["boss"]), tz=None))
            db.session.commit()
            assert client.get("/c/" + code).status_code == 404 and ticket.link_code is None
