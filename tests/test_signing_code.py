"""The customer's SMS code (SIGNING_SMS_CODE, issue 23 item 5), through the sync contract and the SMS stand-in
(the provider's signature checked, the template's variables read): the phone asks for a code, the customer types
it, `order.signed` carries it and the server checks it before the signature is accepted; wrong, expired, replayed
and the sixth try are refused with their codes; offline (no code) the signature is accepted as "not yet confirmed"
and the customer confirms it from the tracking page."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from domain.alerts.models import ChannelMessage
from domain.core.db import db
from domain.core.errors import DomainError
from domain.core.site import current as current_site
from domain.customer.tracking import tracking_url
from domain.fieldwork import evidence, smscode
from domain.fieldwork.models import SigningCode
from domain.requests import access

from .conftest import signed_client
from .orderfactory import make_prepared_visit
from .phones import phone, visit_ops
from .standins import SMS
from .test_sms import sms_settings

CODE_TEMPLATE = "SMS_900000006"


@pytest.fixture
def standin():
    with SMS["aliyun"]() as running:
        yield running


@pytest.fixture
def app(make_app, standin):
    return make_app(**sms_settings(standin, "aliyun", SIGNING_SMS_CODE=True))


@pytest.fixture
def number(app, make_user):
    with app.app_context():
        return make_prepared_visit(make_user, tech="t1", other_tech="t2")["number"]


def until_signing(client, number) -> dict:
    """Everything before the signature applied; the signature op returned (not sent)."""
    ops = [o for o in visit_ops(number) if o["kind"] != "visit.departed"]
    results = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": ops[:-1]}).json["results"]
    assert {r["status"] for r in results} == {"applied"}, results
    return ops[-1]


def sign_with(client, signing: dict, code: str | None) -> dict:
    import uuid

    data = {**signing["data"], **({"sms_code": code} if code is not None else {})}
    op_ = {**signing, "op_id": str(uuid.uuid4()), "data": data}
    return client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [op_]}).json["results"][0]


def codes_sent(standin) -> list[str]:
    return [s["vars"]["code"] for s in standin.sent if s["template"] == CODE_TEMPLATE]


def ask(client, number):
    return client.post(f"/api/v1/requests/{number}/signing-code")


def code_state(app, number) -> str:
    with app.app_context():
        return evidence.evidence_of(access.get_ticket(number).id).code_state


def test_the_right_code_is_checked_and_the_evidence_says_confirmed(app, number, standin):
    client = phone(app)
    signing = until_signing(client, number)
    answer = ask(client, number)
    assert answer.status_code == 202 and answer.json["sent"] is True
    [sent] = [s for s in standin.sent if s["template"] == CODE_TEMPLATE]
    assert sent["phone"] == "13600136004" and sent["vars"]["number"] == number
    assert re.fullmatch(r"[0-9]{6}", sent["vars"]["code"])
    with app.app_context():
        row = db.session.scalar(select(SigningCode))
        assert sent["vars"]["code"] not in row.code_hash and len(row.code_hash) == 64  # hashed at rest
        outbox = db.session.scalar(select(ChannelMessage).where(ChannelMessage.kind == "customer_signing_code"))
        assert outbox.content["vars"]["code"] == "******"  # not kept in the outbox once sent
    result = sign_with(client, signing, sent["vars"]["code"])
    assert result["status"] == "applied", result
    assert code_state(app, number) == "confirmed"
    # Replayed: the same code again is refused as used (checked directly: the order is signed and locked now).
    with app.app_context():
        with pytest.raises(DomainError) as replayed:
            smscode.check_code(access.get_ticket(number), smscode.SIGNING, sent["vars"]["code"], site=current_site(),
                               now=datetime.now(UTC))
        assert replayed.value.code == "sms_code_used"


def test_a_wrong_code_refuses_the_signature_and_the_sixth_try_is_refused_even_when_right(app, number, standin):
    client = phone(app)
    signing = until_signing(client, number)
    assert ask(client, number).status_code == 202
    [code] = codes_sent(standin)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    for _ in range(smscode.MAX_TRIES):
        result = sign_with(client, signing, wrong)
        assert (result["status"], result["code"]) == ("rejected", "sms_code_wrong"), result
    result = sign_with(client, signing, code)
    assert (result["status"], result["code"]) == ("rejected", "sms_code_too_many_tries")
    with app.app_context():
        assert access.get_ticket(number).signature is None
    assert ask(client, number).json["error"]["code"] == "sms_code_too_soon"  # one a minute


@pytest.mark.parametrize("bad", ["12345", "1234567", "abcdef", "１２３４５６", "12345\x00", "²²²²²²", "9" * 20])
def test_a_malformed_code_is_refused_with_its_code(app, number, bad):
    client = phone(app)
    signing = until_signing(client, number)
    result = sign_with(client, signing, bad)
    assert result["status"] == "rejected" and result["code"] in ("sms_code_malformed", "nul_character"), result


def test_an_expired_code_and_a_code_never_sent_are_refused(app, number, standin):
    client = phone(app)
    signing = until_signing(client, number)
    result = sign_with(client, signing, "123456")
    assert (result["status"], result["code"]) == ("rejected", "sms_code_missing")
    assert ask(client, number).status_code == 202
    [code] = codes_sent(standin)
    with app.app_context():
        row = db.session.scalar(select(SigningCode))
        row.expires_at = row.created_at - timedelta(seconds=1)
        db.session.commit()
    result = sign_with(client, signing, code)
    assert (result["status"], result["code"]) == ("rejected", "sms_code_expired")


def test_offline_the_signature_is_accepted_and_the_customer_confirms_it_on_the_tracking_page(app, number, standin,
                                                                                           make_user):
    client = phone(app)
    signing = until_signing(client, number)
    assert sign_with(client, signing, None)["status"] == "applied"  # no network at signing: no code
    assert code_state(app, number) == "pending"
    with app.app_context():
        ticket = access.get_ticket(number)
        link = tracking_url(ticket, current_site())
    path = link.split("://", 1)[-1].split("/", 1)[1]
    customer = app.test_client()
    page = customer.get("/" + path, headers={"Accept-Language": "zh-CN"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "确认您的签字" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    form = {"csrf_token": token.group(1)} if token else {}
    sent = customer.post("/" + path + "/confirm", data={**form, "action": "send"})
    assert sent.status_code == 200 and "验证码已发送" in sent.get_data(as_text=True)
    [code] = codes_sent(standin)
    wrong = customer.post("/" + path + "/confirm", data={**form, "action": "check",
                                                         "code": f"{(int(code) + 1) % 10 ** 6:06d}"})
    assert "验证码不正确" in wrong.get_data(as_text=True)
    right = customer.post("/" + path + "/confirm", data={**form, "action": "check", "code": code})
    assert right.status_code == 200 and "签字已确认" in right.get_data(as_text=True)
    with app.app_context():
        ticket = access.get_ticket(number)
        assert smscode.confirmed_later(ticket.id) is not None and not smscode.awaiting_confirmation(ticket)
        assert evidence.evidence_of(ticket.id).code_state == "pending"  # the record itself never changes
    boss = make_user(__import__("domain.core.enums", fromlist=["Role"]).Role.SUPERVISOR, "boss-c")[0]
    page = signed_client(app, boss).get(f"/dispatch/requests/{number}", headers={"Accept-Language": "en"})
    assert "SMS code confirmed later" in page.get_data(as_text=True)


def test_without_the_setting_no_code_is_asked(make_app, make_user):
    app = make_app()
    with app.app_context():
        number = make_prepared_visit(make_user, tech="t1", other_tech="t2")["number"]
    client = phone(app)
    assert ask(client, number).json["error"]["code"] == "sms_code_off"
    signing = until_signing(client, number)
    assert sign_with(client, signing, None)["status"] == "applied"
    assert code_state(app, number) == "not_asked"


def test_an_administrator_turns_the_code_on_and_off_on_the_policy_page(make_app, make_user, standin):
    """The company's choice, not only the deployment's: on the policy page, audited, the same rule on the phone (its
    embedded rules) and on the server (a code can be asked for; a signature without one waits for confirmation);
    set back to the deployment's default, nothing is kept and the default decides again."""
    from domain.core.enums import Role
    from domain.core.models import AuditEvent
    from domain.sla.models import PolicySetting

    app = make_app(**sms_settings(standin, "aliyun"))  # the deployment: no code (SIGNING_SMS_CODE unset)
    with app.app_context():
        number = make_prepared_visit(make_user, tech="t1", other_tech="t2")["number"]
    make_user(Role.ADMIN, "root", is_admin=True)
    admin = signed_client(app, "root")
    page = admin.get("/admin/policy", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "部署默认（SIGNING_SMS_CODE）：关闭。" in page and 'name="signing_sms_code" value="on" checked' not in page
    client = phone(app)
    signing = until_signing(client, number)  # on site, everything done but the signature
    assert ask(client, number).json["error"]["code"] == "sms_code_off"
    answer = admin.post("/admin/policy", data={"signing_code_shown": "1", "signing_sms_code": "on"})
    assert answer.status_code == 302
    assert 'value="on" checked' in admin.get("/admin/policy").get_data(as_text=True)
    rules = re.search(r'id="rules">(.*?)</script>', signed_client(app, "t1").get("/field/").get_data(as_text=True))[1]
    assert '"sms_code":true' in rules
    assert ask(client, number).status_code == 202 and len(codes_sent(standin)) == 1
    assert sign_with(client, signing, None)["status"] == "applied"  # offline: kept, to be confirmed later
    assert code_state(app, number) == smscode.PENDING
    # A form without the choice on it (the thresholds alone) leaves it as it is.
    assert admin.post("/admin/policy", data={"intake_minutes": "15"}).status_code == 302
    with app.app_context():
        assert smscode.required(current_site())
    # Off again: the deployment's own default, so nothing is stored.
    assert admin.post("/admin/policy", data={"signing_code_shown": "1"}).status_code == 302
    with app.app_context():
        assert not smscode.required(current_site())
        assert db.session.get(PolicySetting, "signing_sms_code") is None
        changes = [e.data for e in db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "policy.changed").order_by(AuditEvent.id)).scalars()]
        assert changes == [{"setting": "signing_sms_code", "old": False, "new": True},
                           {"setting": "signing_sms_code", "old": True, "new": False}]
