""""On my way" (issue 21): one tap on the phone when the technician leaves for the visit. The op carries the arrival
announced; when it syncs the visit records it (the request page, the customer's tracking page) and the customer
gets the SMS "on the way, arriving about 14:30" through the SMS stand-in (the signature checked, the template's
variables read), once per op whatever the replays, and the e-mail when they gave an address. Refused without a
visit, after arrival, twice for one agreed time (a new time allows it again), and with an arrival before the tap.
In Chromium at 390x844: tapped offline, it arrives once with the tap's time after the network returns."""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from domain.alerts.customer import arrival_words
from domain.alerts.models import ChannelMessage, OutboxMail
from domain.core.db import db
from domain.fieldwork.models import SyncOp
from domain.requests import access

from .conftest import signed_client
from .helpers import signed_in_app, step
from .phones import at, op
from .standins import SMS
from .test_sms import sms_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
CUSTOMER = "13600136004"
ON_THE_WAY_CODE = "SMS_900000005"


@pytest.fixture
def standin():
    with SMS["aliyun"]() as running:
        yield running


@pytest.fixture
def app(make_app, standin):
    return make_app(**sms_settings(standin, "aliyun"))


def sync(client, *ops):
    return client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": list(ops)}).json["results"]


def on_the_way_sent(standin) -> list[dict]:
    return [s for s in standin.sent if s["template"] == ON_THE_WAY_CODE]


def schedule(client, number, minutes=60):
    return sync(client, op("visit.scheduled", number, {"scheduled_at": at(minutes),
                                                       "address": "上海市静安区万航渡路1188号"}, minutes=-10))


def test_on_the_way_tells_the_customer_once_and_shows_on_both_timelines(app, assigned, standin):  # noqa: F811
    number = assigned
    client = signed_client(app, "t1")
    assert sync(client, op("contact.made", number, {"method": "phone"}, minutes=-15))[0]["status"] == "applied"
    refused = sync(client, op("visit.on_the_way", number, {"arriving_at": at(30)}))[0]
    assert (refused["status"], refused["code"]) == ("rejected", "no_visit")
    assert schedule(client, number)[0]["status"] == "applied"
    with app.app_context():
        access.get_ticket(number).customer_email = "kehu@example.cn"
        db.session.commit()

    tapped = op("visit.on_the_way", number, {"arriving_at": at(40)}, minutes=-3)
    [result] = sync(client, tapped)
    assert result["status"] == "applied", result
    [replayed] = sync(client, tapped)  # the answer was lost: the phone sends the same op again
    assert replayed["status"] in ("applied", "duplicate"), replayed
    [sms] = on_the_way_sent(standin)
    arrival = datetime.fromisoformat(tapped["data"]["arriving_at"])
    tap_time = datetime.fromisoformat(tapped["at"])
    assert sms["phone"] == CUSTOMER
    assert sms["vars"] == {"number": number, "name": "Test technician",
                           "time": arrival_words(arrival, tap_time, SHANGHAI)}
    assert re.fullmatch(r"\d\d:\d\d|\d\d-\d\d \d\d:\d\d", sms["vars"]["time"])
    with app.app_context():
        visit = access.get_ticket(number).current_visit
        assert abs(visit.on_the_way_at - tap_time) < timedelta(seconds=1)  # the tap's time, not the sync's
        assert abs(visit.expected_arrival_at - arrival) < timedelta(seconds=1)
        [mail] = db.session.execute(select(OutboxMail).where(OutboxMail.kind == "customer_on_the_way")).scalars()
        assert mail.recipients == ["kehu@example.cn"] and sms["vars"]["time"] in mail.body
        [row] = db.session.execute(select(ChannelMessage).where(
            ChannelMessage.kind == "customer_on_the_way")).scalars()
        assert row.state == "sent" and row.key.endswith(tapped["op_id"])
        from blueprints.core.helpers import current_site
        from domain.customer import tracking

        with app.test_request_context():
            path = tracking.tracking_path(access.get_ticket(number), current_site())
    page = app.test_client().get(path).get_data(as_text=True)
    assert f"正在路上，预计 {sms['vars']['time']} 左右到达" in page
    staff_page = signed_client(app, "boss").get(f"/dispatch/requests/{number}").get_data(as_text=True)
    assert 'data-event="on-the-way"' in staff_page and "visit.on_the_way" in staff_page

    again = sync(client, op("visit.on_the_way", number, {"arriving_at": at(50)}))[0]
    assert (again["status"], again["code"]) == ("rejected", "already_done")
    assert schedule(client, number, minutes=120)[0]["status"] == "applied"  # a new time: told again when it comes
    assert sync(client, op("visit.on_the_way", number, {"arriving_at": at(100)}))[0]["status"] == "applied"
    assert len(on_the_way_sent(standin)) == 2
    assert sync(client, op("visit.arrived", number))[0]["status"] == "applied"
    after = sync(client, op("visit.on_the_way", number, {"arriving_at": at(10)}))[0]
    assert (after["status"], after["code"]) == ("rejected", "already_on_site")
    assert len(on_the_way_sent(standin)) == 2


@pytest.mark.parametrize("arriving", [-30, 60 * 25, None, "14:30", "2026-13-01T10:00:00+08:00"])
def test_an_arrival_before_the_tap_too_far_or_not_a_time_is_refused(app, assigned, standin, arriving):  # noqa: F811
    number = assigned
    client = signed_client(app, "t1")
    sync(client, op("contact.made", number, {"method": "phone"}, minutes=-15))
    schedule(client, number)
    value = at(arriving) if isinstance(arriving, int) else arriving
    [result] = sync(client, op("visit.on_the_way", number, {"arriving_at": value}))
    assert result["status"] == "rejected" and result["code"] in ("bad_time", "invalid"), result
    assert on_the_way_sent(standin) == []
    with app.app_context():
        assert access.get_ticket(number).current_visit.on_the_way_at is None


@pytest.mark.browser
def test_on_my_way_tapped_offline_arrives_once_with_the_taps_time(app, visit_job, chromium, standin):  # noqa: F811
    base, new_context = chromium
    context = new_context(timezone_id="Asia/Shanghai")
    problems = []
    context.on("weberror", lambda e: problems.append(str(e.error)))
    number = visit_job["number"]
    page = signed_in_app(base, context)
    expect(page.get_by_text(number)).to_be_visible(timeout=20000)
    context.set_offline(True)
    page.get_by_text(number).click()
    part = step(page, "arrive").locator('[data-key="on-the-way"]')
    expect(part).to_be_visible(timeout=20000)
    with app.app_context():
        agreed = access.get_ticket(number).current_visit.scheduled_at
    field = part.get_by_label("预计到达时间")
    expect(field).to_have_value(agreed.astimezone(SHANGHAI).strftime("%H:%M"))  # proposed: the agreed time
    chosen = (datetime.now(UTC) + timedelta(minutes=45)).astimezone(SHANGHAI)
    field.fill(chosen.strftime("%H:%M"))
    before = datetime.now(UTC)
    part.get_by_role("button", name=f"出发，预计 {chosen.strftime('%H:%M')} 到达").click()
    after = datetime.now(UTC)
    expect(step(page, "arrive").locator('[data-key="on-the-way"]')).to_contain_text(
        f"已告知客户您在路上，预计 {chosen.strftime('%H:%M')} 左右到达")
    time.sleep(2)  # offline a while: the sync's time differs from the tap's
    assert on_the_way_sent(standin) == []
    context.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    for _ in range(100):
        if on_the_way_sent(standin):
            break
        time.sleep(0.1)
    with app.app_context():
        [synced] = db.session.execute(select(SyncOp).where(SyncOp.kind == "visit.on_the_way")).scalars()
        visit = access.get_ticket(number).current_visit
        assert before - timedelta(seconds=1) <= visit.on_the_way_at <= after + timedelta(seconds=1)
        # after 23:15 in Shanghai the 45 minutes cross midnight: the customer then reads the date too
        same_day = chosen.date() == visit.on_the_way_at.astimezone(SHANGHAI).date()
        [sms] = on_the_way_sent(standin)
        assert sms["phone"] == CUSTOMER and sms["vars"] == {
            "number": number, "name": "Test technician",
            "time": chosen.strftime("%H:%M") if same_day else chosen.strftime("%m-%d %H:%M")}
        assert synced.received_at - visit.on_the_way_at > timedelta(seconds=1.5)  # sent later, dated at the tap
        assert visit.expected_arrival_at.astimezone(SHANGHAI).strftime("%H:%M") == chosen.strftime("%H:%M")
    page.reload()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    assert len(on_the_way_sent(standin)) == 1
    assert problems == []
