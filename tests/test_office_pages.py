"""The office pages without a browser (both databases): the review page and the way through the queue, the day
view's rows, the kind of an order by its own name in the archive."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from domain.core.db import db
from domain.documents import review
from domain.requests import access

from .conftest import signed_client
from .dayfactory import SHANGHAI, make_day
from .orderfactory import make_signed_order
from .test_review import ctx_of, fault_of

ZH = {"Accept-Language": "zh-CN"}


def submitted_orders(app, make_user, count: int) -> list[dict]:
    made = []
    with app.app_context():
        for _ in range(count):
            order = make_signed_order(make_user, photos=1, internal_notes=("备用机已带回库房",))
            ticket = access.get_ticket(order["number"])
            review.save_internal_fields(ticket, ctx_of(order, "tech"), fault_category_id=fault_of(ticket).id,
                                        root_cause="接头氧化", solution_summary="更换 SDI 线缆", parts_used="")
            review.submit(ticket, ctx_of(order, "tech"))
            db.session.commit()
            made.append(order)
    return made


def test_the_review_page_shows_what_a_reviewer_checks_with_the_decision_before_the_evidence(app, make_user):
    first, second = submitted_orders(app, make_user, 2)
    boss = signed_client(app, first["ids"]["boss"])
    queue = boss.get("/orders/review", headers=ZH).get_data(as_text=True)
    assert f'href="/orders/{first["number"]}/review"' in queue
    page = boss.get(f"/orders/{first['number']}/review", headers=ZH).get_data(as_text=True)
    for shown in ("更换 SDI 线缆", "接头氧化", "所有输入源正常显示", "黄磊", "备用机已带回库房", "已到达现场",
                  "现场服务", "首次联系客户", second["number"]):
        assert shown in page, shown
    # The decision comes right after the order's summary, before the tests, photos, signature and notes.
    assert page.index('name="decision"') < page.index("所有输入源正常显示") < page.index("signature-image")
    # The request page points to it; an order already decided shows its request page instead.
    assert f'href="/orders/{first["number"]}/review"' in boss.get(f"/dispatch/requests/{first['number']}",
                                                                  headers=ZH).get_data(as_text=True)


def test_a_decision_opens_the_next_order_waiting_then_the_empty_queue(app, make_user):
    first, second = submitted_orders(app, make_user, 2)
    boss = signed_client(app, first["ids"]["boss"])
    refused = boss.post(f"/orders/{first['number']}/review", data={"decision": "return", "comment": " "})
    assert refused.headers["Location"] == f"/orders/{first['number']}/review"  # the reason is asked for there
    done = boss.post(f"/orders/{first['number']}/review", data={"decision": "return", "comment": "补充照片"})
    assert done.headers["Location"] == f"/orders/{second['number']}/review"
    assert boss.get(f"/orders/{first['number']}/review").headers["Location"] == f"/dispatch/requests/{first['number']}"
    last = boss.post(f"/orders/{second['number']}/review", data={"decision": "approve", "comment": ""})
    assert last.headers["Location"] == "/orders/review"
    with app.app_context():
        assert [access.get_ticket(o["number"]).status.value for o in (first, second)] == ["returned", "approved"]
    technician = signed_client(app, first["ids"]["tech"])
    assert technician.get(f"/orders/{first['number']}/review").status_code == 403


def test_the_archive_names_the_kind_of_order_not_a_state(app, make_user):
    with app.app_context():
        order = make_signed_order(make_user, photos=0)
    page = signed_client(app, order["ids"]["boss"]).get("/orders/", headers=ZH).get_data(as_text=True)
    row = page[page.index(order["number"]):]
    assert re.search(r'<span class="badge">现场服务</span>', row)
    assert "现场处理中" not in page  # the state "On site"
    assert '<option value="on_site">现场服务</option>' in page and '<option value="remote">远程解决</option>' in page


@pytest.fixture
def day(app, make_user):
    when = (datetime.now(SHANGHAI) + timedelta(days=1)).date()
    with app.app_context():
        return when, make_day(make_user, when, technicians=3, signed=1)


def test_the_day_view_has_a_row_per_technician_in_time_order(app, day):
    when, made = day
    boss = signed_client(app, made["boss"])
    page = boss.get(f"/dispatch/day?day={when.isoformat()}", headers=ZH).get_data(as_text=True)
    assert page.count('<tr>') == 1 + 3  # the header, one per technician
    first = made["numbers"][made["techs"][0]]
    positions = [page.index(f'<span class="chip-number">{n}</span>') for n in first]
    assert positions == sorted(positions)
    assert "已签字" in page and "在途" in page and "已安排" in page
    assert all(n in page for n in made["waiting"]) and "紧急·未分配" in page
    # Where each was last seen: their latest act today (scheduling the 16:00 visit came last).
    assert "已预约上门" in page
    desk = signed_client(app, made["desk"])
    assert desk.get("/dispatch/day").status_code == 200
    technician = signed_client(app, made["techs"][0])
    assert technician.get("/dispatch/day").status_code == 403
    for hostile in ("not-a-day", "0001-01-01", "9999-12-31", "2026-02-30", "２０２６-01-01", "9" * 20):
        assert boss.get("/dispatch/day", query_string={"day": hostile}).status_code == 200, hostile  # today
    assert boss.get("/dispatch/day", query_string={"day": "\x00"}).status_code == 400  # the app's rule for NUL
