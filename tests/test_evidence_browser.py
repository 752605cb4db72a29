"""The evidence record from a real phone (Chromium at 390x844): where the phone was as the customer signed (the
browser's position, allowed on this phone) and its user agent reach the record with the signature."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from domain.fieldwork import evidence
from domain.requests import access

from .helpers import ready_to_sign, signed_in_app, step
from .test_field_app import draw_signature

pytestmark = pytest.mark.browser


def test_the_phone_sends_where_it_was_at_signing_and_the_record_keeps_it(app, visit_job, phone):  # noqa: F811
    number = visit_job["number"]
    base, context_, problems = phone
    context_.grant_permissions(["geolocation"], origin=base)
    context_.set_geolocation({"latitude": 31.22851, "longitude": 121.44516, "accuracy": 18})
    ready_to_sign(app, number)
    page = signed_in_app(base, context_)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    page.goto(base + f"/field/#/job/{number}")
    step(page, "sign").get_by_role("link", name="请客户查看并签字").click()
    draw_signature(page)
    page.get_by_role("button", name="确认并签字").click()
    expect(page.get_by_text("请将手机交还技术员")).to_be_visible()
    page.get_by_role("button", name="将手机交还技术员").click()
    page.get_by_role("link", name="我是技术员：返回工单").click()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    user_agent = page.evaluate("navigator.userAgent")
    with app.app_context():
        ticket = access.get_ticket(number)
        record = evidence.evidence_of(ticket.id)
        assert ticket.signature is not None and record is not None
        assert (round(record.signing_lat, 5), round(record.signing_lng, 5)) == (31.22851, 121.44516)
        assert record.signing_accuracy_m == 18 and record.arrival_lat is None  # arrival came from another phone
        assert record.user_agent == user_agent and re.search(r"Chrome|Chromium", user_agent)
    assert problems == []
