"""A customer scans a device's label on a phone (Chromium at 390 x 844): the report page, a photo chosen (its
preview shown), the report sent; customer service then sees the request on the board with its intake clock
running from the moment the customer sent it, and forwards it."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest
from PIL import Image

from domain.core.db import db
from domain.core.enums import Role
from domain.requests.catalog import ensure_catalog

from .helpers import axe_violations, browser_sign_in, signed_client

pytestmark = pytest.mark.browser


def _photo(tmp_path):
    path = tmp_path / "encoder.jpg"
    out = io.BytesIO()
    Image.new("RGB", (1600, 1200), (30, 90, 160)).save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_a_customer_reports_from_the_label_and_customer_service_sees_it_with_its_clock(app, make_user, chromium,
                                                                                       tmp_path):
    base, new_context = chromium
    with app.app_context():
        ensure_catalog()
        db.session.commit()
    make_user(Role.DISPATCHER, "desk")
    created = signed_client(app, "desk").post("/api/v1/devices", json={
        "asset_number": "ZC-ENC-0001", "serial_number": "MW2301A77", "model": "Magewell Ultra Encode HDMI"})
    path = "/d/" + created.get_json()["report_url"].rsplit("/d/", 1)[1]

    phone = new_context().new_page()
    errors = []
    phone.on("pageerror", lambda e: errors.append(str(e)))
    phone.goto(base + path)
    assert phone.viewport_size == {"width": 390, "height": 844}
    assert phone.get_by_text("Magewell Ultra Encode HDMI").is_visible()
    assert axe_violations(phone) == []
    phone.fill("#problem", "编码器每隔几分钟重启，直播断流")
    phone.check("input[name=urgent]")
    phone.set_input_files("#photos", str(_photo(tmp_path)))
    phone.wait_for_selector("#previews img")
    phone.fill("#name", "王小明")
    phone.fill("#mobile", "138 0013 8000")
    phone.fill("#address", "上海市徐汇区漕溪北路88号")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone
    sent_at = datetime.now().astimezone()
    phone.get_by_role("button", name="提交").click()
    phone.wait_for_selector("#request-number")
    number = phone.inner_text("#request-number")
    assert re.fullmatch(r"FS-\d{4}-\d{6}", number)
    tracking = phone.get_attribute("#tracking-link", "href")
    assert tracking.startswith("/c/")
    phone.click("#tracking-link")
    phone.wait_for_selector("#state")
    assert "已收到" in phone.inner_text("#state")
    assert errors == []

    desk = new_context().new_page()
    browser_sign_in(desk, base, "desk", "/dispatch/board")
    desk.wait_for_load_state("networkidle")
    assert number in desk.content()
    desk.goto(f"{base}/dispatch/requests/{number}")
    assert desk.locator("#forward").is_visible()
    data = signed_client(app, "desk").get(f"/api/v1/requests/{number}").get_json()
    assert data["channel"] == "qr" and data["urgency"] == "urgent"
    reported = datetime.fromisoformat(data["reported_at"])
    assert abs(reported - sent_at) < timedelta(seconds=30)
    intake = next(c for c in data["clocks"] if c["name"] == "intake")
    assert intake["state"] == "pending"
    assert datetime.fromisoformat(intake["due_at"]) == reported + timedelta(minutes=15)
    assert len(desk.locator("img[src*='size=thumb']").all()) == 1  # the customer's photo, for customer service
    desk.get_by_role("button", name="转交技术团队").click()
    desk.wait_for_load_state("networkidle")
    assert desk.locator("#forward").count() == 0

    # At the desk, the intake form suggests registered devices as the number is typed.
    desk.goto(f"{base}/dispatch/new")
    desk.fill("#device_ref", "enc-00")
    desk.wait_for_selector("#device-matches option[value='ZC-ENC-0001']", state="attached")
