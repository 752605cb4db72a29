"""The device on a visit (issue 22 item 6) through the sync contract: the unit checked against the request's by its
label URL, asset or serial number (a mismatch recorded only with a reason), a faulty unit swapped for a spare in
stock (refused for a spare not in stock, unknown, or the unit itself; the register follows: out to "in repair",
the spare rented to the customer, both histories showing the swap), the spare parts used with counts, replays
applied once, hostile codes refused or kept harmless; and the signed order printing the asset and serial numbers,
the swap and the parts (pdftotext)."""
from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from domain.core.db import db
from domain.core.enums import DeviceState
from domain.core.models import AuditEvent, User
from domain.devices import onsite as device_onsite
from domain.devices.models import Device, DeviceCheck, DeviceSwap, PartUsed
from domain.requests import access
from domain.requests.models import DeviceModel

from .helpers import ON_SITE_PATH, flow_payload, look_at, signed_in_app, step
from .phones import at, phone
from .test_orders import poppler, stored_pdf

SHOTS = Path(os.environ.get("SHOT_DIR", "/tmp"))  # where the phone's screenshots go, to look at


def sync(client, *ops):
    return client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": list(ops)}).json["results"]


def op(kind, number, data, op_id=None):
    return {"op_id": op_id or str(uuid.uuid4()), "kind": kind, "ticket": number, "at": at(0), "data": data}


@pytest.fixture
def on_site(app, assigned):  # noqa: F811
    """The request's device X32-0007 rented to its customer, spares in stock and rented elsewhere, the technician
    arrived on site."""
    number = assigned
    with app.app_context():
        ticket = access.get_ticket(number)
        model = db.session.execute(select(DeviceModel)).scalars().first()

        def device(asset, serial, state, customer=None):
            row = Device(asset_number=asset, serial_number=serial, device_model=model, state=state,
                         customer=customer, label_code=f"label{asset.replace('-', '').lower()}")
            db.session.add(row)
            return row

        ticket.device = device("X32-0007", "S1907X32AA", DeviceState.RENTED, ticket.customer)
        device("X32-0100", "S1907X32SP", DeviceState.IN_STOCK)
        device("X32-0200", "S1907X32RR", DeviceState.RENTED, ticket.customer)
        device("X32-0300", None, DeviceState.IN_REPAIR)
        db.session.commit()
    client = phone(app)
    for kind in ("contact.made", "visit.scheduled", "visit.arrived"):
        with app.app_context():
            data = flow_payload(kind, number, random.Random(1), False)
        assert sync(client, op(kind, number, data))[0]["status"] == "applied"
    return number, client


def states(app) -> dict[str, tuple[str, str | None]]:
    with app.app_context():
        return {d.asset_number: (d.state.value, d.customer.name if d.customer else None)
                for d in db.session.execute(select(Device)).scalars()}


def test_the_unit_matches_by_label_asset_or_serial_and_a_mismatch_needs_its_reason(app, on_site):
    number, client = on_site
    label_url = app.config["PUBLIC_URL"].rstrip("/") + "/d/labelx320007"
    for code in (label_url, "X32-0007", " x32-0007 ", "S1907X32AA"):
        [result] = sync(client, op("device.checked", number, {"code": code, "matched": True}))
        assert result["status"] == "applied", (code, result)
    # Another unit: refused without the reason (by the flow on the phone's reading, by the register on the
    # server's when the phone thought it matched), recorded with it.
    [refused] = sync(client, op("device.checked", number, {"code": "X32-0100", "matched": False}))
    assert (refused["status"], refused["code"]) == ("rejected", "reason_required")
    assert "请说明原因" in refused["message"]  # the technician's language
    [claimed] = sync(client, op("device.checked", number, {"code": "X32-0100", "matched": True}))
    assert (claimed["status"], claimed["code"]) == ("rejected", "reason_required")
    [kept] = sync(client, op("device.checked", number, {"code": "X32-0100", "matched": False,
                                                        "reason": "客户把设备换到了另一个机位"}))
    assert kept["status"] == "applied", kept
    [unknown] = sync(client, op("device.checked", number, {"code": "NOPE-1", "reason": "标签磨损，序列号不在系统"}))
    assert unknown["status"] == "applied"
    with app.app_context():
        checks = db.session.execute(select(DeviceCheck).order_by(DeviceCheck.id)).scalars().all()
        assert [(c.matched, c.device.asset_number if c.device else None) for c in checks] == [
            (True, "X32-0007")] * 4 + [(False, "X32-0100"), (False, None)]
        assert checks[4].reason == "客户把设备换到了另一个机位" and checks[0].reason is None
        assert device_onsite.last_check(access.get_ticket(number)).code == "NOPE-1"


def test_a_swap_moves_the_register_once_and_both_histories_show_it(app, on_site):
    number, client = on_site
    swap = op("device.swapped", number, {"spare": app.config["PUBLIC_URL"] + "/d/labelx320100?src=qr"})
    [result] = sync(client, swap)
    assert result["status"] == "applied", result
    [replayed] = sync(client, swap)  # the answer was lost: the phone sends it again
    assert replayed["status"] in ("applied", "duplicate"), replayed
    after = states(app)
    assert after["X32-0007"] == ("in_repair", None)
    assert after["X32-0100"] == ("rented", "远山音乐现场")
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(DeviceSwap)).scalar_one() == 1
        spare = db.session.execute(select(Device).where(Device.asset_number == "X32-0100")).scalar_one()
        out = db.session.execute(select(Device).where(Device.asset_number == "X32-0007")).scalar_one()
        assert spare.rented_since is not None
        for device in (spare, out):
            [swapped] = device_onsite.device_swaps(device)
            assert (swapped.out_device.asset_number, swapped.in_device.asset_number) == ("X32-0007", "X32-0100")
        events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "device.swapped")).scalars().all()
        assert sorted((e.from_state, e.to_state) for e in events) == [("in_stock", "rented"),
                                                                      ("rented", "in_repair")]
    # Both device pages list the swap.
    from .conftest import signed_client
    desk = signed_client(app, "desk")
    for asset in ("X32-0007", "X32-0100"):
        page = desk.get(f"/devices/{asset}").get_data(as_text=True)
        swap_card = page.split('class="history-swap"', 1)[1]
        assert "X32-0007" in swap_card and "S1907X32AA" in swap_card and "X32-0100" in swap_card
    job = next(j for j in client.get("/api/v1/me/jobs").json["jobs"] if j["number"] == number)
    assert job["device_acts"]["swap"]["spare"] == "X32-0100" and job["device"]["label_code"] == "labelx320007"
    [again] = sync(client, op("device.swapped", number, {"spare": "X32-0300"}))
    assert (again["status"], again["code"]) == ("rejected", "already_done")


def test_each_history_entry_of_the_device_api_and_page_shows_its_swap_out_or_in(app, on_site):
    """GET /api/v1/devices/<asset>: the faulty unit's request carries its swap (out, the spare's number, when);
    the spare's history lists the request it came in on (in, the faulty unit's number), which is no fault of its."""
    number, client = on_site
    swap = op("device.swapped", number, {"spare": "X32-0100"})
    assert sync(client, swap)[0]["status"] == "applied"
    from .helpers import signed_client
    desk = signed_client(app, "desk")
    out, spare = (desk.get(f"/api/v1/devices/{asset}").json for asset in ("X32-0007", "X32-0100"))
    [entry] = out["history"]
    [swapped] = entry["swaps"]
    assert (entry["number"], swapped["direction"], swapped["other_asset_number"]) == (number, "out", "X32-0100")
    with app.app_context():
        at_ = db.session.execute(select(DeviceSwap.swapped_at)).scalar_one()
    assert swapped["swapped_at"] == at_.isoformat()
    [came] = spare["history"]
    assert came["number"] == number and came["swaps"] == [
        {"direction": "in", "other_asset_number": "X32-0007", "swapped_at": at_.isoformat()}]
    assert spare["requests_total"] == 1 and set(spare["faults"].values()) == {0}
    assert out["requests_total"] == 1 and out["faults"]["30d"] == 1
    import jsonschema_rs  # (schemathesis's validator)

    from blueprints.api_contract import DEVICE_WITH_HISTORY
    for answer in (out, spare):
        jsonschema_rs.validate(DEVICE_WITH_HISTORY, answer)  # as documented in /api/v1/openapi.json
    sideways = {**out, "history": [{**entry, "swaps": [{**swapped, "direction": "sideways"}]}]}
    assert not jsonschema_rs.is_valid(DEVICE_WITH_HISTORY, sideways)
    # A device with no swap: its entries carry an empty list.
    other = desk.get("/api/v1/devices/X32-0200").json
    assert other["history"] == [] and other["requests_total"] == 0
    # The pages: under the request, the swap with its direction and both units.
    for asset, direction, badge in (("X32-0007", "out", "作为故障机换出"), ("X32-0100", "in", "作为备用机换入")):
        page = desk.get(f"/devices/{asset}", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
        request_entry = page.split('class="history-request"', 1)[1].split("</ul>", 1)[0]
        assert number in request_entry
        line = request_entry.split('class="history-swap"', 1)[1]
        assert f'data-direction="{direction}"' in line and badge in line
        assert "X32-0007" in line and "X32-0100" in line


@pytest.mark.parametrize("spare, code", [
    ("X32-0200", "spare_not_in_stock"),   # rented to a customer
    ("X32-0300", "spare_not_in_stock"),   # in repair
    ("S1907X32AA", "same_device"),        # the faulty unit's own serial
    ("NO-SUCH-9", "spare_unknown"),
    ("https://fs.example.cn/d/forgedlabel0000", "spare_unknown"),
    ("²", "spare_unknown"),
])
def test_a_spare_not_in_stock_unknown_or_the_unit_itself_is_refused_and_nothing_moves(app, on_site, spare, code):
    number, client = on_site
    before = states(app)
    [result] = sync(client, op("device.swapped", number, {"spare": spare}))
    assert (result["status"], result["code"]) == ("rejected", code), result
    assert result["message"]
    assert states(app) == before
    if code == "spare_not_in_stock":
        assert spare in result["message"]


def test_hostile_codes_are_refused_with_a_clear_answer(app, on_site):
    number, client = on_site
    for kind, field in (("device.checked", "code"), ("device.swapped", "spare")):
        for bad in ("X32\x00-0007", "A" * 5000, "", 12345, None):
            data = {field: bad, "reason": "x"}
            answer = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [op(kind, number, data)]})
            assert answer.status_code in (200, 400), answer.status_code
            if answer.status_code == 200:
                [result] = answer.json["results"]
                assert result["status"] == "rejected" and result["message"], (kind, repr(bad)[:20], result)
    [odd] = sync(client, op("device.checked", number, {"code": "²", "matched": False}))
    assert odd["code"] == "reason_required"
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(DeviceCheck)).scalar_one() == 0


def test_parts_used_replace_the_list_and_bad_counts_are_refused(app, on_site):
    number, client = on_site
    [first] = sync(client, op("parts.used", number, {"items": [{"part": "cable", "count": 2},
                                                               {"part": "power_adapter", "count": 1}]}))
    assert first["status"] == "applied", first
    [second] = sync(client, op("parts.used", number, {"items": [{"part": "fuse", "count": 3},
                                                                {"part": "cable", "count": 1}]}))
    assert second["status"] == "applied"
    for bad in ({"part": "cable", "count": 0}, {"part": "cable", "count": 100}, {"part": "cable", "count": "2"},
                {"part": "toaster", "count": 1}, {"part": "cable", "count": 10**20}, {"part": "ca\x00ble", "count": 1}):
        answer = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [
            op("parts.used", number, {"items": [bad]})]})
        assert answer.status_code in (200, 400)
        if answer.status_code == 200:
            assert answer.json["results"][0]["status"] == "rejected", bad
    with app.app_context():
        rows = db.session.execute(select(PartUsed.part, PartUsed.count).order_by(PartUsed.part)).all()
        assert [tuple(r) for r in rows] == [("cable", 1), ("fuse", 3)]
        assert [(p.zh, n) for p, n in device_onsite.ticket_parts(access.get_ticket(number))] == [
            ("连接线", 1), ("保险丝", 3)]


def test_before_arrival_and_after_signing_the_device_acts_are_refused(app, assigned):  # noqa: F811
    client = phone(app)
    [early] = sync(client, op("parts.used", assigned, {"items": []}))
    assert (early["status"], early["code"]) == ("rejected", "not_on_site")


def test_the_signed_order_prints_the_numbers_the_swap_and_the_parts(app, on_site, tmp_path):
    number, client = on_site
    assert sync(client, op("device.checked", number, {"code": "X32-0007", "matched": True}))[0]["status"] == "applied"
    assert sync(client, op("device.swapped", number, {"spare": "S1907X32SP"}))[0]["status"] == "applied"
    assert sync(client, op("parts.used", number, {"items": [{"part": "power_adapter", "count": 2}]}))[0][
        "status"] == "applied"
    rest = ON_SITE_PATH[ON_SITE_PATH.index("visit.arrived") + 1:ON_SITE_PATH.index("order.signed") + 1]
    rng = random.Random(2)
    for kind in rest:
        with app.app_context():
            data = flow_payload(kind, number, rng, False)
        [result] = sync(client, op(kind, number, data))
        assert result["status"] == "applied", (kind, result)
    [late] = sync(client, op("parts.used", number, {"items": [{"part": "fuse", "count": 1}]}))
    assert (late["status"], late["code"]) == ("rejected", "order_locked")
    from domain.documents import orders
    with app.app_context():
        order = access.get_ticket(number).service_order
        assert orders.render_order(order)
        db.session.commit()
    text = " ".join(poppler("pdftotext", str(stored_pdf(app, number, tmp_path)), "-").split())
    assert "X32-0007" in text and "S1907X32AA" in text  # the request's unit: asset and serial numbers
    assert "X32-0100" in text and "S1907X32SP" in text  # the spare left with the customer
    assert "电源适配器 × 2" in text
    assert "更换设备" in text or "Device swapped" in text


@pytest.fixture
def unit_on_site(app, visit_job):
    """The visit's request names the unit ENC-0007 (label labelenc0007); the technician li has arrived."""
    number = visit_job["number"]
    with app.app_context():
        ticket = access.get_ticket(number)
        model = db.session.execute(select(DeviceModel)).scalars().first()
        ticket.device = Device(asset_number="ENC-0007", serial_number="MW-7", device_model=model,
                               state=DeviceState.RENTED, customer=ticket.customer, label_code="labelenc0007")
        db.session.commit()
    assert sync(phone(app, "li"), op("visit.arrived", number, {}))[0]["status"] == "applied"
    return number


def test_on_the_phone_offline_the_asset_number_is_checked_and_a_swap_recorded(app, unit_on_site, chromium):  # noqa: F811
    """Chromium at 390x844: offline, the technician types the unit's asset number (it matches), a wrong one (the
    mismatch shown, kept with a reason), then the spare's; everything arrives once the network is back."""
    from playwright.sync_api import expect

    number = unit_on_site
    with app.app_context():
        model = db.session.execute(select(DeviceModel)).scalars().first()
        db.session.add(Device(asset_number="ENC-0100", serial_number="MW-100", device_model=model,
                              state=DeviceState.IN_STOCK, label_code="labelenc0100"))
        db.session.commit()
    base, new_context = chromium
    context = new_context(timezone_id="Asia/Shanghai")
    problems = []
    context.on("weberror", lambda e: problems.append(str(e.error)))
    page = signed_in_app(base, context)
    expect(page.get_by_text(number)).to_be_visible(timeout=20000)
    context.set_offline(True)
    page.get_by_text(number).click()
    section = step(page, "device")
    expect(section).to_be_visible(timeout=20000)
    section.locator("summary").click()
    expect(section).to_contain_text("ENC-0007")
    section.get_by_label("设备标签、资产编号或序列号").fill("enc-0007")
    section.get_by_role("button", name="核对设备").click()
    expect(page.locator("#announce")).to_have_text("是本请求的设备。")
    expect(section.locator("[data-recorded]")).to_contain_text("已核对：enc-0007 是本请求的设备。")
    section.get_by_label("设备标签、资产编号或序列号").fill("ENC-9999")
    section.get_by_role("button", name="核对设备").click()
    mismatch = section.locator("[data-mismatch]")
    expect(mismatch).to_contain_text("ENC-9999 不是本请求的设备。")
    mismatch.get_by_role("button", name="连同原因记录这台设备").click()  # refused here: no reason
    expect(page.get_by_text("这不是该请求的设备：请说明原因")).to_be_visible()
    mismatch.locator("textarea").fill("客户把旧机调去了另一个直播间")
    mismatch.get_by_role("button", name="连同原因记录这台设备").click()
    expect(section.locator("[data-mismatch]")).to_have_count(0)
    section.get_by_label("备用机的标签、资产编号或序列号").fill("ENC-0007")
    section.get_by_role("button", name="记录换机").click()
    expect(page.get_by_text("这就是故障机本身：请扫描留给客户的备用机。")).to_be_visible()
    section.get_by_label("电源适配器").fill("2")  # typed before the swap, saved after it
    section.get_by_label("备用机的标签、资产编号或序列号").fill("ENC-0100")
    section.get_by_role("button", name="记录换机").click()
    # The step is drawn again with the swap (its form gone): the count typed is kept as a draft.
    expect(section.get_by_role("button", name="记录换机")).to_have_count(0)
    expect(section.get_by_label("电源适配器")).to_have_value("2")
    section.get_by_role("button", name="保存所用备件").click()
    recorded = section.locator("[data-recorded]")  # shown at once, offline, from the acts' local effects
    expect(recorded).to_contain_text("已连同原因记录：ENC-9999，另一台设备。")
    expect(recorded).to_contain_text("已记录换机：故障机带回维修，备用机 ENC-0100 留给客户。")
    expect(section.get_by_role("button", name="记录换机")).to_have_count(0)
    look_at(section, SHOTS / "device-step-zh.png")
    # Every act queued (the two checks, the swap, the parts) before the network returns.
    expect(page.locator("#sync-status")).to_contain_text("4 条")
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(DeviceSwap)).scalar_one() == 0  # offline
    context.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        checks = db.session.execute(select(DeviceCheck).order_by(DeviceCheck.id)).scalars().all()
        assert [(c.code, c.matched, c.reason) for c in checks] == [
            ("enc-0007", True, None), ("ENC-9999", False, "客户把旧机调去了另一个直播间")]
        [swap] = db.session.execute(select(DeviceSwap)).scalars().all()
        assert (swap.out_device.state, swap.in_device.state) == (DeviceState.IN_REPAIR, DeviceState.RENTED)
        assert swap.in_device.customer_id == access.get_ticket(number).customer_id
        assert [(r.part, r.count) for r in db.session.execute(select(PartUsed)).scalars()] == [("power_adapter", 2)]
    # In English (the technician's language), the same step: the catalog's English names.
    with app.app_context():
        db.session.execute(update(User).where(User.username == "li").values(locale="en"))
        db.session.commit()
    page.reload()
    section = step(page, "device")
    expect(section).to_be_visible(timeout=20000)
    section.locator("summary").click()
    expect(section).to_contain_text("Power adapter")
    expect(section.get_by_label("Power adapter")).to_have_value("2")  # the feed's parts, after the sync
    expect(section.locator("[data-recorded]")).to_contain_text("spare ENC-0100 stays with the customer")
    look_at(section, SHOTS / "device-step-en.png")
    assert problems == []
