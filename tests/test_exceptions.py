"""The exception paths of a real day, through the sync contract as the phone sends them: a customer who cannot be
reached is escalated to the supervisors after the policy's number of attempts in a row; a technician hands a job
back with the reason, the supervisors are alerted and reassign it, the work done kept; the customer is absent or
refuses to sign (recorded with a photo, the supervisors alerted once, a supervisor decides: another visit or closed
unsigned); a visit that needs another one; where arrival was tapped (issue 24)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from domain.alerts.models import Notification
from domain.core.db import db
from domain.sla.models import PolicySetting

from .phones import op, phone


def _unreachable(app) -> list[Notification]:
    with app.app_context():
        return db.session.execute(select(Notification).where(Notification.kind == "unreachable")
                                  .order_by(Notification.id)).scalars().all()


def _call(client, number, reached: bool, minutes: float):
    result = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [
        op("contact.made", number, {"method": "phone", "reached": reached, "note": "无人接听"}, minutes=minutes)]})
    assert result.json["results"][0]["status"] == "applied", result.json


def test_the_supervisors_are_told_after_the_policys_attempts_without_reaching_the_customer(app, assigned):  # noqa: F811
    client = phone(app)
    for i in range(2):
        _call(client, assigned, False, -20 + i)
    assert _unreachable(app) == []  # two calls: the technician keeps trying
    _call(client, assigned, False, -17)
    (alert,) = _unreachable(app)
    assert alert.params["attempts"] == 3 and alert.params["number"] == assigned
    with app.app_context():
        from domain.core.models import User

        assert db.session.get(User, alert.user_id).username == "boss"  # the supervisor, not the technician
    # The same op sent again (a lost answer): nobody is alerted twice.
    with app.app_context():
        from domain.fieldwork.models import SyncOp

        last = db.session.execute(select(SyncOp).order_by(SyncOp.id.desc())).scalars().first()
        body = __import__("json").loads(last.body)
    replay = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [body]}).json["results"][0]
    assert replay["status"] == "duplicate"
    assert len(_unreachable(app)) == 1
    for i in range(2):
        _call(client, assigned, False, -16 + i)
    assert len(_unreachable(app)) == 1
    _call(client, assigned, False, -14)  # six in a row: told again
    assert [a.params["attempts"] for a in _unreachable(app)] == [3, 6]
    # Reached at last: the first contact is made, and later missed calls escalate nothing.
    _call(client, assigned, True, -13)
    for i in range(3):
        _call(client, assigned, False, -12 + i)
    assert len(_unreachable(app)) == 2
    # The supervisor reads it in their language, with the request's number and the count.
    items = phone(app, "boss").get("/api/v1/notifications").json["items"]
    titles = [item["title"] for item in items if item["kind"] == "unreachable"]
    assert any(assigned in title and "3" in title for title in titles), titles


def test_the_number_of_attempts_is_the_policys(app, assigned):  # noqa: F811
    with app.app_context():
        db.session.add(PolicySetting(key="unreachable_attempts", value="2"))
        db.session.commit()
    client = phone(app)
    _call(client, assigned, False, -10)
    assert _unreachable(app) == []
    _call(client, assigned, False, -9)
    assert [a.params["attempts"] for a in _unreachable(app)] == [2]


def _send(client, number, kind, data, minutes=0):
    return client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [op(kind, number, data, minutes=minutes)]}
                       ).json["results"][0]


def test_a_job_handed_back_waits_for_the_supervisor_who_reassigns_it_with_the_work_kept(app, assigned, make_user):  # noqa: F811
    from domain.core.models import User

    client = phone(app)
    assert _send(client, assigned, "contact.made", {"method": "phone", "reached": True}, -10)["status"] == "applied"
    refused = _send(client, assigned, "job.handed_back", {"reason": "  "}, -5)
    assert (refused["status"], refused["code"]) == ("rejected", "reason_required")
    assert _send(client, assigned, "job.handed_back", {"reason": "身体不适，无法上门"}, -4)["status"] == "applied"
    again = _send(client, assigned, "job.handed_back", {"reason": "再次交回"}, -3)
    assert (again["status"], again["code"]) == ("rejected", "already_done")
    # Still on the technician's phone, saying so, until reassigned.
    (job,) = [j for j in client.get("/api/v1/me/jobs").json["jobs"] if j["number"] == assigned]
    assert job["handback_reason"] == "身体不适，无法上门" and job["handed_back_at"] and job["facts"]["handed_back"]
    with app.app_context():
        alerts = db.session.execute(select(Notification).where(Notification.kind == "handed_back")).scalars().all()
        assert [db.session.get(User, a.user_id).username for a in alerts] == ["boss"]
        assert alerts[0].params["text"] == "身体不适，无法上门"
    boss = phone(app, "boss")
    page = boss.get(f"/dispatch/requests/{assigned}").get_data(as_text=True)
    assert 'id="handed-back"' in page and "身体不适，无法上门" in page
    # The supervisor reassigns it: the new technician has it, with the first contact already made.
    _reassign_to_t2(app, make_user, assigned)
    assert [j["number"] for j in client.get("/api/v1/me/jobs").json["jobs"]] == []
    (job,) = phone(app, "t2").get("/api/v1/me/jobs").json["jobs"]
    assert job["handed_back_at"] is None and job["facts"]["contact_made"] and not job["facts"]["handed_back"]
    assert 'id="handed-back"' not in boss.get(f"/dispatch/requests/{assigned}").get_data(as_text=True)


def test_a_job_is_not_handed_back_once_the_service_is_over(app, assigned):  # noqa: F811
    client = phone(app)
    _send(client, assigned, "contact.made", {"method": "phone", "reached": True}, -10)
    _send(client, assigned, "remote.resolved", {"cause": "码率过高", "work_done": "降低码率"}, -8)
    refused = _send(client, assigned, "job.handed_back", {"reason": "不想做了"}, -5)
    assert (refused["status"], refused["code"]) == ("rejected", "service_ended")


@pytest.mark.parametrize("reason", ["生病\x00了", "\ud800", "²" * 3, "1" * 20, "x" * 20000, 12345678901234567890,
                                    float("inf"), ["深", ["层"]], None])
def test_hostile_hand_back_reasons_are_refused_or_kept_never_a_500(app, assigned, reason):  # noqa: F811
    import json as jsonlib

    client = phone(app)
    body = jsonlib.dumps({"device_id": "phone-1", "ops": [op("job.handed_back", assigned, {"reason": reason})]},
                         allow_nan=True)
    response = client.post("/api/v1/sync", data=body, content_type="application/json")
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:
        (result,) = response.json["results"]
        assert result["status"] in ("applied", "rejected")
        if result["status"] == "applied":  # only a storable text gets through, kept whole up to the limit
            with app.app_context():
                from domain.requests import access

                stored = access.get_ticket(assigned).handback_reason
                assert isinstance(reason, str) and stored and "\x00" not in stored


# --- the customer is not there, or refuses to sign; another visit; where arrival was tapped ----------------------

@pytest.fixture
def prepared(app, make_user):
    """A visit scheduled for t1 and prepared (boss supervises)."""
    from .orderfactory import make_prepared_visit

    with app.app_context():
        return make_prepared_visit(make_user, tech="t1")["number"]


def _alerts(app, kind="unsigned") -> list[Notification]:
    with app.app_context():
        return db.session.execute(select(Notification).where(Notification.kind == kind)
                                  .order_by(Notification.id)).scalars().all()


def _reassign_to_t2(app, make_user, number) -> str:
    """The supervisor reassigns the request to a new technician, t2; returns t2's name."""
    from datetime import UTC, datetime

    from domain.core import context
    from domain.core.enums import Role
    from domain.core.models import User
    from domain.requests import access, assignment

    from .helpers import SHANGHAI

    make_user(Role.TECHNICIAN, "t2")
    with app.app_context():
        ticket = access.get_ticket(number)
        boss = db.session.execute(select(User).where(User.username == "boss")).scalar_one()
        t2 = db.session.execute(select(User).where(User.username == "t2")).scalar_one()
        assignment.assign(ticket, t2, context.Context(actor=boss, tz=SHANGHAI, now=datetime.now(UTC)))
        db.session.commit()
        return t2.display_name


def _ticket(app, number):
    from domain.requests import access

    with app.app_context():
        ticket = access.get_ticket(number)
        _ = [ticket.visits, ticket.signature]  # read while attached: the test reads them after
        db.session.expunge_all()
        return ticket


def _day_chip(app, number) -> tuple[str, str]:
    """The state of the request's visit on the supervisor's day view: (its class, its words)."""
    from .helpers import SHANGHAI

    visit_day = _ticket(app, number).visits[-1].scheduled_at.astimezone(SHANGHAI).date()
    page = phone(app, "boss").get(f"/dispatch/day?day={visit_day.isoformat()}", headers={"Accept-Language": "zh-CN"})
    chip = re.search(r'<li class="visit-chip state-(\w+)"><a href="[^"]*' + number + r'.*?'
                     r'<span class="chip-state">([^<]*)</span>', page.get_data(as_text=True), re.S)
    return chip.group(1), chip.group(2)


def _photo(client, number, minutes=-3):
    import io
    import uuid

    from PIL import Image

    from .phones import at

    image, out = Image.new("RGB", (640, 480), (90, 120, 200)), io.BytesIO()
    image.save(out, "JPEG")
    op_id = str(uuid.uuid4())
    response = client.post("/api/v1/sync/photo", data={
        "op_id": op_id, "ticket": number, "at": at(minutes), "device_id": "phone-1", "caption": "门已锁",
        "file": (io.BytesIO(out.getvalue()), "door.jpg")}, content_type="multipart/form-data")
    assert response.json["results"][0]["status"] == "applied", response.json
    return op_id


def test_the_customer_absent_is_recorded_once_on_site_with_its_photo_and_the_supervisor_alerted_at_once(
        app, prepared):
    client = phone(app)
    absent = {"situation": "absent", "reason": "客户临时外出，电话无人接听，现场门已锁"}
    early = _send(client, prepared, "signature.missing", absent, -12)
    assert (early["status"], early["code"]) == ("rejected", "not_on_site")  # only after arrival
    arrived = _send(client, prepared, "visit.arrived", {"lat": 31.22851, "lng": 121.44516, "accuracy": 18}, -10)
    assert arrived["status"] == "applied"
    leave = _send(client, prepared, "visit.departed", {}, -9)
    assert (leave["status"], leave["code"]) == ("rejected", "not_signed")  # the policy: never unsigned, unsaid
    blank = _send(client, prepared, "signature.missing", {"situation": "absent", "reason": " \u3000 "}, -8)
    assert (blank["status"], blank["code"]) == ("rejected", "reason_required")
    unknown = _send(client, prepared, "signature.missing", {"situation": "gone", "reason": "走了"}, -8)
    assert (unknown["status"], unknown["code"]) == ("rejected", "bad_payload")
    assert _alerts(app) == []
    photo_id = _photo(client, prepared)
    record = op("signature.missing", prepared, {**absent, "photo_op_id": photo_id}, minutes=-2)
    first = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [record]}).json["results"][0]
    assert first["status"] == "applied", first
    # Sent again (the answer was lost): changes nothing, alerts nobody twice; a second record is refused.
    replay = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [record]}).json["results"][0]
    assert replay["status"] == "duplicate"
    again = _send(client, prepared, "signature.missing", {"situation": "refused", "reason": "又拒绝"}, -1)
    assert (again["status"], again["code"]) == ("rejected", "already_done")
    (alert,) = _alerts(app)
    assert alert.params["situation"] == "absent" and alert.params["text"] == absent["reason"]
    with app.app_context():
        from domain.core.models import User

        assert db.session.get(User, alert.user_id).username == "boss"
    titles = [i["title"] for i in phone(app, "boss").get("/api/v1/notifications").json["items"]
              if i["kind"] == "unsigned"]
    assert titles == [f"{prepared}：客户不在场，无法签字"]
    # Recorded: the technician may leave now; the phone shows what was recorded.
    assert _send(client, prepared, "visit.departed", {}, 0)["status"] == "applied"
    (job,) = client.get("/api/v1/me/jobs").json["jobs"]
    assert job["visit"]["unsigned_kind"] == "absent" and job["visit"]["unsigned_reason"] == absent["reason"]
    assert job["facts"]["unsigned"] and job["facts"]["may_leave"] and not job["facts"]["signed"]
    # The request page: the banner with the reason and the photo, the decision, where arrival was tapped.
    page = phone(app, "boss").get(f"/dispatch/requests/{prepared}").get_data(as_text=True)
    banner = page.split('id="unsigned"')[1].split("</div>")[0]
    assert absent["reason"] in banner and f"/photos/{photo_id}?size=thumb" in banner
    assert 'name="unsigned-decision"' in banner
    assert "https://uri.amap.com/marker?position=121.445160,31.228510&amp;coordinate=wgs84" in page
    assert "31.22851, 121.44516" in page and "±18 m" in page
    assert "客户不在场，无法签字" in page.split('class="timeline"')[1]  # in the request's timeline


def test_the_signature_missing_is_refused_once_the_customer_signed(app, prepared):
    from .phones import visit_ops

    client = phone(app)
    results = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": visit_ops(prepared)}).json
    assert {r["status"] for r in results["results"]} == {"applied"}
    late = _send(client, prepared, "signature.missing", {"situation": "refused", "reason": "后悔了"})
    assert (late["status"], late["code"]) == ("rejected", "order_locked")
    followup = _send(client, prepared, "visit.followup_needed", {"reason": "还要换配件"})
    assert (followup["status"], followup["code"]) == ("rejected", "order_locked")
    assert _alerts(app) == []


def _decide(app, number, decision, reason, username="boss"):
    return phone(app, username).post(f"/dispatch/requests/{number}/unsigned",
                                     data={"unsigned-decision": decision, "unsigned-reason": reason},
                                     headers={"Accept-Language": "zh-CN"})


def test_the_supervisor_closes_an_unsigned_visit_with_a_reason(app, prepared, make_user):
    client = phone(app)
    _send(client, prepared, "visit.arrived", {}, -10)
    from domain.core.enums import Role

    _send(client, prepared, "signature.missing", {"situation": "refused", "reason": "客户对维修结果有异议"}, -5)
    make_user(Role.TECHNICIAN, "t2")
    assert _decide(app, prepared, "close", "", username="t2").status_code == 403  # a supervisor's decision
    refused = _decide(app, prepared, "close", "  ")
    assert refused.status_code == 400 and "请说明不签字结案的原因" in refused.get_data(as_text=True)
    assert _ticket(app, prepared).status.value == "on_site"  # nothing changed
    done = _decide(app, prepared, "close", "客户书面确认设备已正常，拒绝签字，主管电话核实后结案")
    assert done.status_code == 302
    ticket = _ticket(app, prepared)
    # Closed, not cancelled: a status of its own; the reason is the decision's, no cancellation recorded.
    assert ticket.status.value == "closed_unsigned" and ticket.closed_at is not None
    assert ticket.cancelled_at is None and ticket.cancel_reason is None and ticket.next_due_at is None
    assert ticket.visits[-1].decision.value == "close" and ticket.visits[-1].decided_at is not None
    assert ticket.visits[-1].decision_reason.startswith("客户书面确认")
    assert client.get("/api/v1/me/jobs").json["jobs"] == []  # off the technician's list
    assert _decide(app, prepared, "close", "再来一次").status_code == 302  # nothing left to decide: flashed
    page = phone(app, "boss").get(f"/dispatch/requests/{prepared}").get_data(as_text=True)
    assert 'id="unsigned"' not in page and "在客户未签字的情况下结案" in page
    assert '<span class="badge status">已结单（客户未签字）</span>' in page and "已取消" not in page
    assert len(_alerts(app)) == 1


def test_visit_again_gives_a_second_visit_with_its_own_preparation_clock_and_the_first_visits_work_kept(
        app, prepared):
    import uuid

    from domain.core.enums import ClockName

    from .phones import at, visit_ops

    client = phone(app)
    note_id = str(uuid.uuid4())
    _send(client, prepared, "visit.arrived", {"lat": 31.2, "lng": 121.4}, -40)
    _send(client, prepared, "note.added", {"note_id": note_id, "text": "电源模块烧毁，需订购"}, -39)
    _send(client, prepared, "work.recorded", {"cause": "电源模块烧毁", "work_done": "拆下检查，待换电源模块"}, -38)
    _send(client, prepared, "signature.missing", {"situation": "absent", "reason": "客户已离开"}, -37)
    assert _decide(app, prepared, "revisit", "").status_code == 302
    first = _ticket(app, prepared)
    assert first.status.value == "contacted" and first.current_visit is None
    assert first.visits[0].ended_at is not None and first.visits[0].decision.value == "revisit"
    (job,) = client.get("/api/v1/me/jobs").json["jobs"]
    assert job["visit"] is None and job["earlier_visits"][0]["reason"] == "客户已离开"
    assert job["facts"]["visited_before"] and not job["facts"]["arrived"] and not job["facts"]["unsigned"]
    assert job["facts"]["work_recorded"] and job["notes"][0]["text"] == "电源模块烧毁，需订购"
    # The second visit: scheduled, its own preparation clock (the first one's kept, met, for the report).
    assert _send(client, prepared, "visit.scheduled", {"scheduled_at": at(90), "address": "上海市静安区万航渡路1188号"},
                 -30)["status"] == "applied"
    with app.app_context():
        from domain.requests import access

        ticket = access.get_ticket(prepared)
        preparation = [c for c in ticket.clocks if c.name == ClockName.PREPARATION]
        assert len(preparation) == 2
        old, new = sorted(preparation, key=lambda c: c.started_at)
        assert old.superseded_at is not None and old.done_at is not None
        assert new.superseded_at is None and new.done_at is None
        items = [i.id for i in ticket.current_visit.prep_items]
        assert len(ticket.visits) == 2
    assert _send(client, prepared, "prep.confirmed", {"items": items}, -29)["status"] == "applied"
    # The visit that ends in signing: the order signed and submitted as on a first visit.
    results = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": visit_ops(prepared)}).json["results"]
    assert [r["status"] for r in results] == ["applied"] * len(results), results
    with app.app_context():
        from domain.core.models import User  # noqa: F401 - the order's relationships

        ticket = access.get_ticket(prepared)
        assert ticket.status.value == "signed" and ticket.signature is not None
        assert ticket.service_order is not None and ticket.current_visit is ticket.visits[-1]
        from datetime import datetime

        printed = __import__("json").loads(ticket.service_order.content_json)["visit"]["arrived_at"]
        assert datetime.fromisoformat(printed) == ticket.visits[-1].arrived_at  # the visit that ended in signing
        assert len(ticket.notes) == 2  # the first visit's note and the second's
    (job,) = client.get("/api/v1/me/jobs").json["jobs"]
    category = job["fault_categories"][0]["id"] if job["fault_categories"] else None
    submitted = _send(client, prepared, "order.submitted", {
        "fault_category_id": category, "root_cause": "电源老化", "solution_summary": "更换电源模块",
        "parts_used": "电源模块"})
    assert submitted["status"] == "applied" and _ticket(app, prepared).status.value == "submitted"
    page = phone(app, "boss").get(f"/dispatch/requests/{prepared}").get_data(as_text=True)
    assert "第 1 次上门（已结束，需再次上门）" in page and "决定：再次上门" in page


def test_the_technician_asks_for_another_visit_from_the_phone(app, prepared):
    client = phone(app)
    early = _send(client, prepared, "visit.followup_needed", {"reason": "需订购电源模块"}, -20)
    assert (early["status"], early["code"]) == ("rejected", "not_on_site")
    _send(client, prepared, "visit.arrived", {}, -15)
    blank = _send(client, prepared, "visit.followup_needed", {"reason": ""}, -10)
    assert (blank["status"], blank["code"]) == ("rejected", "reason_required")
    parts = "需订购电源模块，三天后到货"
    assert _send(client, prepared, "visit.followup_needed", {"reason": parts}, -5)["status"] == "applied"
    (job,) = client.get("/api/v1/me/jobs").json["jobs"]
    assert job["status"] == "contacted" and job["visit"] is None
    assert [v["reason"] for v in job["earlier_visits"]] == [parts] and job["earlier_visits"][0]["ended_at"]
    again = _send(client, prepared, "visit.followup_needed", {"reason": "再一次"}, -4)
    assert (again["status"], again["code"]) == ("rejected", "not_on_site")


def test_the_supervisor_asks_for_another_visit_from_the_request_page(app, prepared):
    client = phone(app)
    boss = phone(app, "boss")
    assert 'id="another-visit"' not in boss.get(f"/dispatch/requests/{prepared}").get_data(as_text=True)
    _send(client, prepared, "visit.arrived", {}, -15)
    assert 'id="another-visit"' in boss.get(f"/dispatch/requests/{prepared}").get_data(as_text=True)
    blank = boss.post(f"/dispatch/requests/{prepared}/another-visit", data={"another-reason": ""})
    assert blank.status_code == 400
    done = boss.post(f"/dispatch/requests/{prepared}/another-visit", data={"another-reason": "等配件到货再上门"})
    assert done.status_code == 302
    ticket = _ticket(app, prepared)
    assert ticket.status.value == "contacted" and ticket.visits[0].end_reason == "等配件到货再上门"
    import uuid

    late = _send(client, prepared, "note.added", {"note_id": str(uuid.uuid4()), "text": "已离开"})
    assert late["status"] == "applied"  # notes go on: the request is still the technician's


HOSTILE_REASONS = ["不在\x00场", "\ud800", "²" * 3, "1" * 20, "x" * 20000, 12345678901234567890, float("inf"),
                   ["深", ["层"]], None]


@pytest.mark.parametrize("reason", HOSTILE_REASONS)
def test_hostile_missing_signature_reasons_are_refused_or_kept_never_a_500(app, prepared, reason):
    import json as jsonlib

    client = phone(app)
    _send(client, prepared, "visit.arrived", {}, -5)
    body = jsonlib.dumps({"device_id": "phone-1", "ops": [
        op("signature.missing", prepared, {"situation": "refused", "reason": reason})]}, allow_nan=True)
    response = client.post("/api/v1/sync", data=body, content_type="application/json")
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:
        (result,) = response.json["results"]
        if isinstance(reason, str) and len(reason) > 1000:
            assert (result["status"], result["code"]) == ("rejected", "bad_payload")
            assert "1000" in result["message"]
        if result["status"] == "applied":
            stored = _ticket(app, prepared).visits[0].unsigned_reason
            assert isinstance(reason, str) and stored == reason.strip() and "\x00" not in stored
        else:
            assert _alerts(app) == []


@pytest.mark.parametrize("where", [
    {"lat": "31.2", "lng": 121.4}, {"lat": 91, "lng": 121.4}, {"lat": 31.2, "lng": -180.5},
    {"lat": 12345678901234567890, "lng": 1}, {"lat": 10 ** 400, "lng": 1}, {"lat": True, "lng": 1},
    {"lat": 31.2}, {"lat": 31.2, "lng": 121.4, "accuracy": -3}, {"lat": 31.2, "lng": 121.4, "accuracy": "20"},
    {"lat": [31.2], "lng": 121.4}, {"lat": {"deg": 31}, "lng": 121.4},
], ids=["text", "lat>90", "lng<-180", "20-digits", "400-digits", "bool", "lat-only", "negative-accuracy",
        "accuracy-text", "list", "object"])
def test_a_hostile_arrival_location_refuses_the_arrival_with_a_clear_reason_never_a_500(app, prepared, where):
    client = phone(app)
    result = _send(client, prepared, "visit.arrived", where, -5)
    assert (result["status"], result["code"]) == ("rejected", "bad_location"), result
    assert "lat" in result["message"] or "lng" in result["message"] or "accuracy" in result["message"] \
        or "经度" in result["message"]
    assert _ticket(app, prepared).status.value == "visit_scheduled"
    # Arrival without a location (the phone's fallback) is recorded.
    assert _send(client, prepared, "visit.arrived", {}, -4)["status"] == "applied"
    assert _ticket(app, prepared).visits[0].arrival_lat is None


@pytest.mark.parametrize("body", ['{"lat": Infinity, "lng": 1}', '{"lat": NaN, "lng": 1}', '{"lat": 1e999, "lng": 1}'])
def test_non_finite_coordinates_never_reach_the_database(app, prepared, body):
    import json as jsonlib

    client = phone(app)
    raw = op("visit.arrived", prepared, {}, -5)
    text = jsonlib.dumps({"device_id": "phone-1", "ops": [raw]}).replace('"data": {}', f'"data": {body}')
    response = client.post("/api/v1/sync", data=text, content_type="application/json")
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:
        assert response.json["results"][0]["status"] == "rejected"
    assert _ticket(app, prepared).status.value == "visit_scheduled"


# --- what each exception path leaves: the status and the figures, the alerts, the customer's page -------------

def _track(app, number, lang="zh-CN") -> str:
    """The customer's tracking page for the request, as the customer's link opens it."""
    from domain.core.site import current
    from domain.customer.tracking import tracking_path
    from domain.requests import access

    with app.app_context():
        path = tracking_path(access.get_ticket(number), current())
    response = app.test_client().get(path, headers={"Accept-Language": lang})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _state(page: str) -> str:
    return page.split('id="state">')[1].split("</p>")[0]


def _timeline_of(page: str) -> str:
    return page.split('class="timeline"')[1].split("</ol>")[0]


INTERNAL = ("客户对维修结果有异议", "主管电话核实", "boss", "需订购电源模块", "身体不适")


def test_closed_unsigned_is_counted_as_received_not_resolved_nor_cancelled_and_told_to_the_customer(app, prepared):
    from datetime import UTC, datetime

    from domain.core.models import User
    from domain.reporting import assessment, reports

    from .helpers import SHANGHAI

    client = phone(app)
    _send(client, prepared, "visit.arrived", {}, -10)
    _send(client, prepared, "signature.missing", {"situation": "refused", "reason": "客户对维修结果有异议"}, -5)
    assert _decide(app, prepared, "close", "主管电话核实后结案").status_code == 302
    boss = phone(app, "boss")
    # The request list, filtered by the new status, names it; the open list no longer has it.
    listed = boss.get("/dispatch/board?status=closed_unsigned", headers={"Accept-Language": "zh-CN"})
    assert prepared in listed.get_data(as_text=True) and "已结单（客户未签字）" in listed.get_data(as_text=True)
    assert prepared not in boss.get("/dispatch/board?open=1").get_data(as_text=True)
    assert boss.get(f"/api/v1/requests/{prepared}").get_json()["status"] == "closed_unsigned"
    # The weekly report: among the requests received (it is not cancelled), not resolved, and shown apart.
    ticket = _ticket(app, prepared)
    created = ticket.created_at.astimezone(SHANGHAI)
    year, week, _ = created.isocalendar()
    now = datetime.now(UTC)
    with app.app_context():
        tech_id = db.session.execute(select(User.id).where(User.username == "t1")).scalar_one()
        weekly = reports.weekly_report(f"{year}-W{week:02d}", now, SHANGHAI)
        for figures in (weekly.current.overall, weekly.current.technician(tech_id)):
            resolution = figures["resolution_rate"].as_dict()
            assert (resolution["numerator"], resolution["denominator"], resolution["closed_unsigned"]) == (0, 1, 1)
        # The monthly assessment (考核): handled, not resolved, closed unsigned apart.
        month = assessment.assessment(f"{created.year}-{created.month:02d}", now, SHANGHAI)
        mine = month.by_technician[tech_id].as_dict()
        assert mine["handled"]["count"] == 1 and mine["handled"]["closed_unsigned"] == 1
        assert (mine["resolution_rate"]["numerator"], mine["resolution_rate"]["denominator"]) == (0, 1)
    page = boss.get(f"/reports/weekly?week={year}-W{week:02d}", headers={"Accept-Language": "zh-CN"})
    assert "其中 1 单客户未签字结单（不计为已解决）" in page.get_data(as_text=True)
    sheet = boss.get(f"/reports/assessment?month={created.year}-{created.month:02d}&technician=t1",
                     headers={"Accept-Language": "zh-CN"})
    assert sheet.status_code == 200 and "其中 1 单客户未签字结单（不计为已解决）" in sheet.get_data(as_text=True)
    # The customer's page: closed without the signature, in plain words; nothing internal.
    track = _track(app, prepared)
    assert "已结单（您未签字）：现场维修工作已完成" in _state(track)
    assert "已结单（您未签字）" in _timeline_of(track) and "服务单未签字" in _timeline_of(track)
    assert "已关闭" not in track and not any(text in track for text in INTERNAL)
    assert "Closed without your signature" in _state(_track(app, prepared, "en"))
    # The supervisor's day view names the visit for what it was, not "left the site".
    assert _day_chip(app, prepared) == ("unsigned", "未签字")
    # The weekly CSV has the count too, for the team and the technician.
    csv_text = boss.get(f"/reports/weekly.csv?week={year}-W{week:02d}").data.decode("utf-8-sig")
    unsigned_rows = [line.split(",") for line in csv_text.splitlines() if ",resolution_rate.closed_unsigned," in line]
    assert len(unsigned_rows) == 2 and all(row[6] == "1" for row in unsigned_rows)
    # Absent or refusing, the customer may still rate the service afterwards on their page, once.
    assert 'name="rating"' in track
    with app.app_context():
        from domain.core.site import current
        from domain.customer.tracking import tracking_path
        from domain.requests import access

        path = tracking_path(access.get_ticket(prepared), current())
    customer = app.test_client()
    rated = customer.post(path + "/rating", data={"rating": "2", "comment": "维修结果有异议"})
    assert rated.status_code == 200 and customer.post(path + "/rating", data={"rating": "5"}).status_code == 409


def test_the_customer_is_told_while_the_missing_signature_waits_then_that_another_visit_follows(app, prepared):
    from .phones import at

    client = phone(app)
    _send(client, prepared, "visit.arrived", {}, -10)
    assert "未能签字" not in _state(_track(app, prepared))  # the plain on-site words until then
    _send(client, prepared, "signature.missing", {"situation": "absent", "reason": "客户对维修结果有异议"}, -5)
    _send(client, prepared, "visit.departed", {}, -4)
    waiting = _track(app, prepared)
    assert "服务单未能签字：我们正在决定下一步，会与您联系。" == _state(waiting)
    assert "服务单未签字" in _timeline_of(waiting) and not any(text in waiting for text in INTERNAL)
    assert _state(_track(app, prepared, "en")).startswith("The service order could not be signed")
    # The supervisor chooses another visit: customer service is told to get it scheduled (not the supervisor who
    # chose it), and the customer reads that a time will be agreed.
    assert _decide(app, prepared, "revisit", "").status_code == 302
    with app.app_context():
        from domain.core.models import User

        assert [db.session.get(User, a.user_id).username for a in _alerts(app, "followup")] == ["desk"]
    again = _track(app, prepared)
    assert _state(again) == "需要再次上门：我们会与您约定时间。"
    assert "需要再次上门" in _timeline_of(again) and not any(text in again for text in INTERNAL)
    assert _day_chip(app, prepared) == ("another_visit", "需要再次上门")
    # Once the next visit is agreed, the page says so.
    visit = {"scheduled_at": at(120), "address": "上海市静安区万航渡路1188号"}
    assert _send(client, prepared, "visit.scheduled", visit, -1)["status"] == "applied"
    assert _state(_track(app, prepared)).startswith("已约定再次上门：")


def test_a_follow_up_from_the_phone_alerts_supervisors_and_customer_service_at_once_with_a_link_to_schedule(
        app, prepared):
    from domain.alerts import channels, delivery
    from domain.alerts.notifications import KIND_ROLES, Kind
    from domain.core.enums import Role
    from domain.core.models import User

    client = phone(app)
    _send(client, prepared, "visit.arrived", {}, -15)
    parts = "需订购电源模块，三天后到货"
    followup = op("visit.followup_needed", prepared, {"reason": parts}, minutes=-5)
    for _ in range(2):  # sent again (the answer was lost): a duplicate, nobody alerted twice
        client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [followup]})
    alerts = _alerts(app, "followup")
    with app.app_context():
        assert sorted(db.session.get(User, a.user_id).username for a in alerts) == ["boss", "desk"]  # not t1
        assert {a.params["text"] for a in alerts} == {parts} and {a.params["number"] for a in alerts} == {prepared}
    # Declared like the others: who it reaches, the robots and e-mail by default.
    assert KIND_ROLES[Kind.FOLLOWUP] == {Role.SUPERVISOR, Role.DISPATCHER}
    assert Kind.FOLLOWUP in channels.ROBOT_KINDS and "followup" in delivery.DEFAULT_CHANNELS["email"]
    for username in ("boss", "desk"):
        reader = phone(app, username)
        (item,) = [i for i in reader.get("/api/v1/notifications", headers={"Accept-Language": "zh-CN"}).json["items"]
                   if i["kind"] == "followup"]
        assert item["title"] == f"{prepared} 需要再次上门：请安排下次上门" and parts in item["body"]
        # Opening it leads to the request page's banner: the reason, and who schedules it.
        opened = reader.post(f"/notifications/{item['id']}/read", data={"open": "1"})
        assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/dispatch/requests/{prepared}"
                                                                                 "#next-visit")
        page = reader.get(f"/dispatch/requests/{prepared}", headers={"Accept-Language": "zh-CN"}).get_data(
            as_text=True)
        banner = page.split('id="next-visit"')[1].split("</div>")[0]
        assert parts in banner and "需要再次上门" in banner
    assert 'href="#assign"' in phone(app, "boss").get(f"/dispatch/requests/{prepared}").get_data(as_text=True)
    # The technician's own page offers the form, open.
    mine = client.get(f"/dispatch/requests/{prepared}").get_data(as_text=True)
    assert 'href="#schedule-visit"' in mine and 'id="schedule-visit" open' in mine
    # The customer reads the plain words, never the technician's reason.
    track = _track(app, prepared)
    assert _state(track) == "需要再次上门：我们会与您约定时间。" and parts not in track
    assert _ticket(app, prepared).status.value == "contacted"


def test_the_customer_reads_that_a_handed_back_job_is_being_passed_to_another_technician(app, assigned, make_user):
    from domain.core.models import User

    client = phone(app)
    _send(client, assigned, "contact.made", {"method": "phone", "reached": True}, -10)
    with app.app_context():
        first = db.session.execute(select(User).where(User.username == "t1")).scalar_one().display_name
    assert first in _track(app, assigned)
    assert _send(client, assigned, "job.handed_back", {"reason": "身体不适，无法上门"}, -4)["status"] == "applied"
    track = _track(app, assigned)
    assert _state(track) == "您的需求正在转交给另一位技术人员：我们会尽快与您联系。"
    assert "正在转交给另一位技术人员" in _timeline_of(track)
    assert 'id="technician"' not in track and not any(text in track for text in INTERNAL)
    second = _reassign_to_t2(app, make_user, assigned)
    reassigned = _track(app, assigned)
    assert "转交" not in _state(reassigned) and second in reassigned.split('id="technician">')[1]


@pytest.mark.parametrize("reason", HOSTILE_REASONS)
def test_hostile_follow_up_reasons_never_a_500_and_the_alert_carries_only_what_was_stored(app, prepared, reason):
    import json as jsonlib

    client = phone(app)
    _send(client, prepared, "visit.arrived", {}, -5)
    body = jsonlib.dumps({"device_id": "phone-1", "ops": [
        op("visit.followup_needed", prepared, {"reason": reason})]}, allow_nan=True)
    response = client.post("/api/v1/sync", data=body, content_type="application/json")
    assert response.status_code in (200, 400), response.status_code
    applied = response.status_code == 200 and response.json["results"][0]["status"] == "applied"
    alerts = _alerts(app, "followup")
    if applied:
        stored = _ticket(app, prepared).visits[0].end_reason
        assert isinstance(reason, str) and "\x00" not in stored
        assert {a.params["text"] for a in alerts} == {stored[:200]} and len(alerts) == 2
    else:
        assert alerts == []
    assert _track(app, prepared).count("需要再次上门") == (2 if applied else 0)  # the state and the timeline
