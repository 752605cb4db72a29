"""The dispatch pages: intake form, board (filters, search, order, pagination, query count), assignment,
escalation, and the technician's online steps."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from domain.core import context
from domain.core.db import db
from domain.core.enums import ClockName, Role, TicketStatus
from domain.core.models import User
from domain.requests import access, intake
from domain.requests.models import DeviceModel, Ticket
from domain.sla.models import TicketClock

from .helpers import DESK_STAFF, PASSWORD, SHANGHAI, ZH, assign_to, make_requests, signed_client, staff_fixture

staff = staff_fixture(DESK_STAFF)


# --- intake ---------------------------------------------------------------------------------------------


def test_intake_form_shows_the_urgency_definitions(app, staff):
    client = signed_client(app, "desk")
    body = client.get("/dispatch/new", headers=ZH).get_data(as_text=True)
    assert "影响直播：30 分钟内联系客户" in body and "1 小时内联系客户" in body
    assert 'type="datetime-local"' in body


def test_intake_form_creates_the_request(app, staff):
    client = signed_client(app, "desk")
    with app.app_context():
        model_id = db.session.execute(select(DeviceModel.id).where(DeviceModel.model == "Vidiu X")).scalar_one()
    reported = (datetime.now(SHANGHAI) - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/dispatch/new", data={
        "customer_name": "小满带货工作室", "contact_person": "林小满", "contact_phone": "13700137003",
        "address": "杭州市余杭区", "device_model_id": str(model_id), "serial_number": "TDX-1",
        "problem": "推流鉴权失败", "channel": "web", "urgency": "urgent", "reported_at": reported})
    assert response.status_code == 302
    number = response.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.device_model.model == "Vidiu X" and ticket.channel.value == "web"
        assert {c.name for c in ticket.clocks} == {ClockName.INTAKE, ClockName.FIRST_CONTACT}
    page = client.get(response.headers["Location"], headers=ZH).get_data(as_text=True)
    assert "已录入" in page and "15 分钟内转交需求" in page and "剩余" in page


@pytest.mark.parametrize("changes,message", [
    ({"customer_name": ""}, "请输入客户名称"),
    ({"problem": ""}, "请描述问题"),
    ({"urgency": ""}, "请选择紧急程度"),
    ({"device_model_id": "99999", "device_model": ""}, "未知设备型号"),
    ({"reported_at": "2099-01-01T10:00"}, "客户联系时间不能晚于当前时间"),
])
def test_bad_intake_keeps_what_was_typed(app, staff, changes, message):
    client = signed_client(app, "desk")
    data = {"customer_name": "远山音乐现场", "contact_phone": "13600136004", "device_model": "某调音台",
            "problem": "主输出无声", "urgency": "urgent", "channel": "phone"}
    data.update(changes)
    response = client.post("/dispatch/new", data=data, headers=ZH)
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and message in body
    assert "13600136004" in body  # nothing typed is lost
    with app.app_context():
        assert db.session.execute(select(func.count(Ticket.id))).scalar_one() == 0


# --- board ------------------------------------------------------------------------------------------------


def test_board_shows_unassigned_first_and_urgent_before_normal(app, staff):
    numbers = make_requests(app, staff, 6)
    assign_to(app, staff, numbers[0], "li")  # urgent but assigned
    client = signed_client(app, "boss")
    body = client.get("/dispatch/board").get_data(as_text=True)
    order = re.findall(r"<strong>(FS-\d{4}-\d{6})</strong>", body)
    assert order[-1] == numbers[0]
    unassigned = order[:-1]
    urgent = [n for n in unassigned if int(n[-6:]) % 3 == 1]  # i % 3 == 0 -> numbers 1, 4
    assert unassigned[:len(urgent)] == urgent


@pytest.mark.parametrize("query,expected", [
    ("status=assigned", {0}), ("urgency=urgent", {0, 3}), ("technician=0", {1, 2, 3, 4}),
    ("q=客户002", {2}), ("q=13800000004", {4}), ("q=atem", {0, 1, 2, 3, 4}), ("q=nothing-like-it", set()),
])
def test_board_filters(app, staff, query, expected):
    numbers = make_requests(app, staff, 5)
    assign_to(app, staff, numbers[0], "li")
    client = signed_client(app, "boss")
    body = client.get(f"/dispatch/board?{query}").get_data(as_text=True)
    shown = set(re.findall(r"<strong>(FS-\d{4}-\d{6})</strong>", body))
    assert shown == {numbers[i] for i in expected}


def test_board_filters_by_technician_and_number_search(app, staff):
    numbers = make_requests(app, staff, 3)
    assign_to(app, staff, numbers[1], "zhang")
    client = signed_client(app, "boss")
    with app.app_context():
        zhang = staff["zhang"]
    body = client.get(f"/dispatch/board?technician={zhang}").get_data(as_text=True)
    assert set(re.findall(r"<strong>(FS-\d{4}-\d{6})</strong>", body)) == {numbers[1]}
    body = client.get(f"/dispatch/board?q={numbers[2].lower()}").get_data(as_text=True)
    assert set(re.findall(r"<strong>(FS-\d{4}-\d{6})</strong>", body)) == {numbers[2]}


def test_overdue_only_and_date_range(app, staff):
    numbers = make_requests(app, staff, 3)
    with app.app_context():
        # The first request was entered two days ago and never contacted: overdue.
        ticket = access.get_ticket(numbers[0])
        past = datetime.now(UTC) - timedelta(days=2)
        ticket.created_at = past
        for clock in ticket.clocks:
            clock.started_at, clock.due_at = past, past + timedelta(minutes=30)
        ticket.next_due_at = past + timedelta(minutes=30)
        db.session.commit()
    client = signed_client(app, "boss")
    body = client.get("/dispatch/board?overdue=1").get_data(as_text=True)
    assert set(re.findall(r"<strong>(FS-\d{4}-\d{6})</strong>", body)) == {numbers[0]}
    today = datetime.now(SHANGHAI).date().isoformat()
    body = client.get(f"/dispatch/board?from={today}&to={today}").get_data(as_text=True)
    assert set(re.findall(r"<strong>(FS-\d{4}-\d{6})</strong>", body)) == set(numbers[1:])
    # A bad date is ignored rather than an error.
    assert client.get("/dispatch/board?from=31-02-2026&page=abc").status_code == 200


def test_board_paginates(app, staff):
    make_requests(app, staff, 35)
    client = signed_client(app, "boss")
    first = client.get("/dispatch/board", headers=ZH).get_data(as_text=True)
    second = client.get("/dispatch/board?page=2", headers=ZH).get_data(as_text=True)
    assert "第 1 / 2 页" in first and "共 35 条需求" in first
    assert len(re.findall(r"<strong>FS-", first)) == 30 and len(re.findall(r"<strong>FS-", second)) == 5
    assert "第 2 / 2 页" in client.get("/dispatch/board?page=99", headers=ZH).get_data(as_text=True)
    # A search link past its last page shows the last page rather than nothing.
    stale = client.get("/dispatch/board?q=客户&page=9", headers=ZH).get_data(as_text=True)
    assert "第 2 / 2 页" in stale and len(re.findall(r"<strong>FS-", stale)) == 5


def _count_queries(app, client, url):
    statements = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def test_board_query_count_does_not_grow_with_rows(app, staff):
    make_requests(app, staff, 3)
    client = signed_client(app, "boss")
    few = _count_queries(app, client, "/dispatch/board")
    numbers = make_requests(app, staff, 27)
    for number in numbers[:10]:
        assign_to(app, staff, number, "li")
    many = _count_queries(app, client, "/dispatch/board")
    assert few == many, (few, many)
    assert many <= 10


# --- assignment from the pages ----------------------------------------------------------------------------


def test_assign_from_the_board(app, staff):
    number = make_requests(app, staff, 1)[0]
    client = signed_client(app, "boss")
    with app.app_context():
        version = access.get_ticket(number).version
    response = client.post(f"/dispatch/requests/{number}/assign",
                           data={"technician": staff["li"], "version": version, "next": "/dispatch/board"})
    assert response.headers["Location"] == "/dispatch/board"
    with app.app_context():
        assert access.get_ticket(number).assignee.username == "li"


def test_second_supervisor_sees_what_happened(app, staff, make_user):
    number = make_requests(app, staff, 1)[0]
    with app.app_context():
        version = access.get_ticket(number).version
    first, second = signed_client(app, "boss"), signed_client(app, make_user(Role.SUPERVISOR, "boss2")[1])
    first.post(f"/dispatch/requests/{number}/assign", data={"technician": staff["li"], "version": version})
    response = second.post(f"/dispatch/requests/{number}/assign",
                           data={"technician": staff["zhang"], "version": version}, headers=ZH,
                           follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "刚刚已被他人修改" in body and "Test technician" in body
    with app.app_context():
        assert access.get_ticket(number).assignee.username == "li"


def test_assigning_to_an_inactive_technician_shows_an_error(app, staff, make_user):
    number = make_requests(app, staff, 1)[0]
    gone = make_user(Role.TECHNICIAN, "gone", active=False)[0]
    client = signed_client(app, "boss")
    body = client.post(f"/dispatch/requests/{number}/assign", data={"technician": gone}, headers=ZH,
                       follow_redirects=True).get_data(as_text=True)
    assert "已停用，不能接收工作" in body
    with app.app_context():
        assert access.get_ticket(number).assignee is None


def test_escalation_gives_the_expert_the_request(app, staff):
    number = make_requests(app, staff, 1)[0]
    boss = signed_client(app, "boss")
    expert = signed_client(app, "chen")
    assert expert.get(f"/dispatch/requests/{number}").status_code == 403
    boss.post(f"/dispatch/requests/{number}/escalate",
              data={"escalate-expert": staff["chen"], "escalate-reason": "疑似主板故障"})
    assert number in expert.get("/dispatch/escalated").get_data(as_text=True)
    assert expert.get(f"/dispatch/requests/{number}").status_code == 200
    expert.post(f"/dispatch/requests/{number}/notes", data={"note-text": "先检查电源模块"})
    assert "先检查电源模块" in boss.get(f"/dispatch/requests/{number}").get_data(as_text=True)


def test_cancel_needs_a_reason(app, staff):
    number = make_requests(app, staff, 1)[0]
    client = signed_client(app, "boss")
    response = client.post(f"/dispatch/requests/{number}/cancel", data={"cancel-reason": ""}, headers=ZH)
    assert response.status_code == 400 and "请填写取消原因" in response.get_data(as_text=True)
    client.post(f"/dispatch/requests/{number}/cancel", data={"cancel-reason": "重复录入"})
    with app.app_context():
        assert access.get_ticket(number).status == TicketStatus.CANCELLED


# --- the technician's online steps -------------------------------------------------------------------------


def test_technician_contacts_and_resolves_remotely(app, staff):
    number = make_requests(app, staff, 1)[0]
    assign_to(app, staff, number, "li")
    tech = signed_client(app, "li")
    assert number in tech.get("/dispatch/mine").get_data(as_text=True)
    tech.post(f"/dispatch/requests/{number}/contact", data={"contact-method": "phone", "contact-reached": "y"})
    tech.post(f"/dispatch/requests/{number}/remote",
              data={"remote-method": "screen_share", "remote-steps": "检查输出设置", "remote-outcome": "resolved"})
    response = tech.post(f"/dispatch/requests/{number}/resolve", data={"resolve-cause": "分辨率设置错误",
                                                                       "resolve-work_done": "改为 1080p30"})
    assert response.status_code == 302
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.status == TicketStatus.REMOTE_RESOLVED and ticket.remote_sessions[0].steps == "检查输出设置"
        states = {c.name: c for c in ticket.clocks}
        assert states[ClockName.ORDER_FILED].done_at is not None
        # The remote order's PDF was rendered right after the fix was saved.
        assert ticket.service_order.kind.value == "remote" and ticket.service_order.pdf_sha256


def test_technician_schedules_and_prepares_a_visit(app, staff):
    number = make_requests(app, staff, 1)[0]
    assign_to(app, staff, number, "li")
    tech = signed_client(app, "li")
    tech.post(f"/dispatch/requests/{number}/contact", data={"contact-method": "phone", "contact-reached": "y"})
    when = (datetime.now(SHANGHAI) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = tech.post(f"/dispatch/requests/{number}/visit", data={"visit-scheduled_at": when,
                                                                     "visit-address": "上海市静安区"})
    assert response.status_code == 302
    page = tech.get(f"/dispatch/requests/{number}", headers=ZH).get_data(as_text=True)
    item_ids = re.findall(r'name="item" value="(\d+)"', page)
    assert len(item_ids) >= 4 and "确认准备工作" in page
    response = tech.post(f"/dispatch/requests/{number}/prepare", data={"item": item_ids[:1]}, headers=ZH)
    assert response.status_code == 400 and "尚未确认" in response.get_data(as_text=True)
    tech.post(f"/dispatch/requests/{number}/prepare", data={"item": item_ids})
    with app.app_context():
        ticket = access.get_ticket(number)
        clock = db.session.execute(select(TicketClock).where(TicketClock.ticket_id == ticket.id,
                                                             TicketClock.name == ClockName.PREPARATION)).scalar_one()
        assert clock.done_at is not None and clock.done_at <= clock.due_at


def test_visit_in_the_past_is_refused_and_nothing_changes(app, staff):
    number = make_requests(app, staff, 1)[0]
    assign_to(app, staff, number, "li")
    tech = signed_client(app, "li")
    tech.post(f"/dispatch/requests/{number}/contact", data={"contact-method": "phone", "contact-reached": "y"})
    when = (datetime.now(SHANGHAI) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = tech.post(f"/dispatch/requests/{number}/visit", data={"visit-scheduled_at": when,
                                                                     "visit-address": "x"}, headers=ZH)
    assert response.status_code == 400 and "上门时间已经过去" in response.get_data(as_text=True)
    with app.app_context():
        assert access.get_ticket(number).status == TicketStatus.CONTACTED


def test_an_illegal_step_is_explained(app, staff):
    number = make_requests(app, staff, 1)[0]
    assign_to(app, staff, number, "li")
    tech = signed_client(app, "li")
    response = tech.post(f"/dispatch/requests/{number}/resolve",
                         data={"resolve-cause": "x", "resolve-work_done": "y"}, headers=ZH, follow_redirects=True)
    assert "请先记录与客户的首次联系" in response.get_data(as_text=True)  # what to do, from the declared flow


def test_other_technicians_cannot_act_on_the_request(app, staff):
    number = make_requests(app, staff, 1)[0]
    assign_to(app, staff, number, "li")
    other = signed_client(app, "zhang")
    assert other.get(f"/dispatch/requests/{number}").status_code == 403
    assert other.post(f"/dispatch/requests/{number}/contact", data={"contact-method": "phone"}).status_code == 403


def test_times_show_in_the_configured_zone(make_app, make_user):
    make_user(Role.SUPERVISOR, "tzboss")
    desk_id = make_user(Role.DISPATCHER, "tzdesk")[0]
    for zone, expected in (("Asia/Shanghai", "2026-11-24 10:00"), ("Europe/Berlin", "2026-11-24 03:00")):
        app = make_app(TIMEZONE=zone)
        with app.app_context():
            ctx = context.Context(actor=db.session.get(User, desk_id), tz=ZoneInfo(zone),
                                   now=datetime(2026, 11, 24, 2, 5, tzinfo=UTC))
            number = intake.create_request({"customer_name": "时区", "contact_phone": "1", "device_model": "x",
                                              "problem": "p", "urgency": "normal",
                                              "reported_at": "2026-11-24T02:00:00+00:00"}, ctx).number
            db.session.commit()
        client = app.test_client()
        client.post("/auth/login", data={"username": "tzboss", "password": PASSWORD})
        assert expected in client.get(f"/dispatch/requests/{number}").get_data(as_text=True), zone
