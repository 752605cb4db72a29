"""The customer's SMS code on a real phone (Chromium at 390x844, SIGNING_SMS_CODE on, the Aliyun stand-in): online,
the phone refuses to sign without the code, sends it, the customer types it and the signature is accepted as
confirmed; offline, the customer signs without it and the record says "not yet confirmed"."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from domain.fieldwork import evidence
from domain.requests import access

from .helpers import ready_to_sign, signed_in_app, step
from .standins import SMS
from .test_field_app import draw_signature
from .test_sms import sms_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def standin():
    with SMS["aliyun"]() as running:
        yield running


@pytest.fixture
def app(make_app, standin):
    return make_app(**sms_settings(standin, "aliyun", SIGNING_SMS_CODE=True))


def sign_screen(app, base, context_, number):
    ready_to_sign(app, number)
    page = signed_in_app(base, context_)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    page.goto(base + f"/field/#/job/{number}")
    step(page, "sign").get_by_role("link", name="请客户查看并签字").click()
    draw_signature(page)
    return page


def finish(page):
    expect(page.get_by_text("请将手机交还技术员")).to_be_visible()
    page.get_by_role("button", name="将手机交还技术员").click()
    page.get_by_role("link", name="我是技术员：返回工单").click()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)


def test_online_the_customer_types_the_code_from_the_sms(app, visit_job, phone, standin):  # noqa: F811
    number = visit_job["number"]
    base, context_, problems = phone
    page = sign_screen(app, base, context_, number)
    page.get_by_role("button", name="确认并签字").click()
    expect(page.locator("#announce")).to_have_text("请输入短信中的 6 位验证码。")
    page.get_by_role("button", name="发送短信验证码").click()
    expect(page.locator('[data-key="sms-code"]')).to_contain_text("验证码已发送，10 分钟内有效。")
    [sent] = [s for s in standin.sent if s["template"] == "SMS_900000006"]
    page.get_by_label("手机短信验证码").fill(sent["vars"]["code"])
    page.get_by_role("button", name="确认并签字").click()
    finish(page)
    with app.app_context():
        assert evidence.evidence_of(access.get_ticket(number).id).code_state == "confirmed"
    assert problems == []


def test_offline_the_customer_signs_without_the_code(app, visit_job, phone, standin):  # noqa: F811
    number = visit_job["number"]
    base, context_, problems = phone
    page = sign_screen(app, base, context_, number)
    context_.set_offline(True)
    page.get_by_role("button", name="确认并签字").click()
    expect(page.get_by_text("请将手机交还技术员")).to_be_visible()
    context_.set_offline(False)
    page.get_by_role("button", name="将手机交还技术员").click()
    page.get_by_role("link", name="我是技术员：返回工单").click()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        assert evidence.evidence_of(access.get_ticket(number).id).code_state == "pending"
    assert [s for s in standin.sent if s["template"] == "SMS_900000006"] == []
    assert problems == []
