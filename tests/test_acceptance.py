"""Acceptance before signing (the policy: the device is tested with the customer and confirmed before they sign):
every item of the device's checklist has a result (passed, failed, or not applicable with its reason) before the
customer may confirm and sign; a failed item only with the customer's acknowledgement, printed on the order.
Through the sync applier, as the phone sends it; the phone's side is in test_field_app.py and test_flow_agreement.py."""
from __future__ import annotations

import subprocess

import pytest

from domain.core.db import db
from domain.documents import orders
from domain.requests import access

from .orderfactory import make_prepared_visit, signature_data_url
from .phones import op, phone

MIXER = ["各通道输入有信号", "耳返与主输出正常", "无底噪与爆音", "USB 声卡被电脑识别"]
SIGN = {"signer_name": "赵远", "rating": 4, "comment": "", "signature_png": signature_data_url(),
        "strokes": [[[1, 2, 0], [3, 4, 9]]]}


@pytest.fixture
def on_site(app, make_user):
    """A mixer's visit for t1, arrived, with the cause and the work written."""
    with app.app_context():
        number = make_prepared_visit(make_user, tech="t1", other_tech="t2")["number"]
    client = phone(app)
    assert send(client, [op("visit.arrived", number, minutes=-30),
                         op("work.recorded", number, {"cause": "输出模块故障", "work_done": "更换线缆"},
                            minutes=-25)]) == ["applied", "applied"]
    return client, number


def send(client, ops) -> list[str]:
    response = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": ops})
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["status"] if r["status"] != "rejected" else r["code"] for r in response.json["results"]]


def item_result(number, item, passed=True, minutes=-20, **more):
    return op("test.recorded", number, {"item": item, "passed": passed, "note": "", **more}, minutes=minutes)


def test_confirming_and_signing_wait_for_every_item_of_the_checklist(app, on_site):
    client, number = on_site
    assert send(client, [item_result(number, MIXER[0]), item_result(number, MIXER[1]),
                         op("customer.confirmed", number, {"note": ""}, minutes=-19),
                         op("order.signed", number, SIGN, minutes=-18)]) == \
        ["applied", "applied", "tests_unanswered", "tests_unanswered"]
    # An item of the technician's own does not stand in for the checklist's; an English name does count.
    assert send(client, [item_result(number, "外接耳机正常"), item_result(number, "No hum or pops"),
                         op("customer.confirmed", number, {"note": ""}, minutes=-17)]) == \
        ["applied", "applied", "tests_unanswered"]
    assert send(client, [item_result(number, MIXER[3]), op("customer.confirmed", number, {"note": ""}, minutes=-16),
                         op("order.signed", number, SIGN, minutes=-15)]) == ["applied"] * 3
    with app.app_context():
        assert access.get_ticket(number).signature is not None


def test_not_applicable_needs_its_reason_and_is_no_failure(app, on_site):
    client, number = on_site
    assert send(client, [item_result(number, MIXER[3], False, not_applicable=True),
                         # spaces only: past the declared rule (the phone trims), refused by the domain alike
                         op("test.recorded", number, {"item": MIXER[3], "passed": False, "not_applicable": True,
                                                      "note": "   "}, minutes=-20)]) == \
        ["reason_required", "reason_required"]
    oks = [item_result(number, item) for item in MIXER[:3]]
    na = op("test.recorded", number, {"item": MIXER[3], "passed": True, "not_applicable": True,
                                      "note": "客户不使用 USB 录音"}, minutes=-20)
    assert send(client, [*oks, na, op("customer.confirmed", number, {"note": "正常"}, minutes=-10)]) == \
        ["applied"] * 5
    with app.app_context():
        ticket = access.get_ticket(number)
        item = next(t for t in ticket.tests if t.item == MIXER[3])
        # Not applicable is never "passed", whatever the phone said; and no acknowledgement was needed.
        assert item.not_applicable and not item.passed and item.note == "客户不使用 USB 录音"
        assert not ticket.visits[-1].failures_acknowledged


def test_a_failed_item_is_confirmed_only_knowingly_and_printed_on_the_order(app, on_site, tmp_path):
    client, number = on_site
    tests = [item_result(number, MIXER[0]), item_result(number, MIXER[1], False), item_result(number, MIXER[2]),
             op("test.recorded", number, {"item": MIXER[3], "passed": False, "not_applicable": True,
                                          "note": "现场无电脑"}, minutes=-20)]
    assert send(client, [*tests, op("customer.confirmed", number, {"note": ""}, minutes=-12),
                         op("customer.confirmed", number, {"note": "", "failures_acknowledged": False},
                            minutes=-12)]) == ["applied"] * 4 + ["failures_unacknowledged"] * 2
    assert send(client, [op("customer.confirmed", number, {"note": "主输出待返厂", "failures_acknowledged": True},
                            minutes=-11)]) == ["applied"]
    # A failure recorded after the confirmation voids it, acknowledgement included: the customer confirms again.
    assert send(client, [item_result(number, MIXER[2], False, minutes=-10),
                         op("order.signed", number, SIGN, minutes=-9),
                         op("customer.confirmed", number, {"failures_acknowledged": True}, minutes=-8),
                         op("order.signed", number, SIGN, minutes=-7)]) == \
        ["applied", "not_confirmed", "applied", "applied"]
    with app.app_context():
        order = access.get_ticket(number).service_order
        content = orders.customer_copy(order)[0]
        assert content["visit"]["failures_acknowledged"] is True
        assert [(t["item"], t["passed"], t["not_applicable"]) for t in content["tests"]] == [
            (MIXER[0], True, False), (MIXER[1], False, False), (MIXER[2], False, False), (MIXER[3], False, True)]
        assert orders.render_order(order)
        db.session.commit()
        pdf = tmp_path / "order.pdf"
        pdf.write_bytes(db.session.get(orders.Blob, order.pdf_sha256).data)
    text = "".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert "设备部分功能未恢复，客户已知悉" in text and "不适用" in text and "现场无电脑" in text
    assert "客户确认设备运行正常" not in text


def test_an_item_added_to_the_checklist_after_the_confirmation_holds_the_signature(app, on_site):
    """The checklist is the device category's as it is now: an item the company adds meanwhile needs its result."""
    client, number = on_site
    assert send(client, [*(item_result(number, item) for item in MIXER),
                         op("customer.confirmed", number, {"note": ""}, minutes=-10)]) == ["applied"] * 5
    with app.app_context():
        category = access.get_ticket(number).device_category
        category.acceptance_tests = [*category.acceptance_tests, {"zh": "幻象电源正常", "en": "Phantom power works"}]
        db.session.commit()
    assert send(client, [op("order.signed", number, SIGN, minutes=-9)]) == ["tests_unanswered"]
    assert send(client, [item_result(number, "Phantom power works", minutes=-8),
                         op("order.signed", number, SIGN, minutes=-7)]) == ["applied", "applied"]
