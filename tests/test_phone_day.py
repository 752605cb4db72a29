"""No dead ends on the phone (issue 24), tried as a technician and a customer would, at 390x844: the first open says
the jobs are downloading (never "no jobs" before the server said so), the list puts the deadline that applies
first and shows the visit's time, a submitted job ends on a confirmation with the way back, the customer's Back
gesture keeps them on their screen, a note written after a test's result is saved, a photo leaves with one tap,
and a visit time the server would refuse is refused on the phone, offline, with the server's words."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from domain.core import context
from domain.core.db import db
from domain.core.enums import ContactMethod
from domain.core.models import User
from domain.fieldwork.models import AcceptanceTest, SyncOp
from domain.requests import access, assignment, intake, remote_work

from .helpers import SHANGHAI, arrive, job_url, open_step, ready_to_sign, signed_in_app, step

pytestmark = pytest.mark.browser


def _as(app, user_id, minutes_ago=0):
    return context.Context(actor=db.session.get(User, user_id), tz=SHANGHAI,
                           now=datetime.now(UTC) - timedelta(minutes=minutes_ago))


def test_first_open_says_the_jobs_are_downloading_not_that_there_are_none(app, assigned_job, phone):
    base, context_, problems = phone
    held = []
    context_.route("**/api/v1/me/jobs", lambda route: held.append(route))  # a slow network: the list not here yet
    page = signed_in_app(base, context_)
    expect(page.locator('[data-key="loading"]')).to_contain_text("正在下载您的工单", timeout=20000)
    expect(page.locator('[data-key="empty"]')).to_have_count(0)
    expect(page.locator("#sync-status")).not_to_contain_text("已全部发送")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    held[0].continue_()
    expect(page.get_by_text(assigned_job["number"])).to_be_visible(timeout=20000)
    expect(page.locator('[data-key="loading"]')).to_have_count(0)
    assert problems == []


def test_the_list_puts_the_deadline_that_applies_first_and_shows_the_visit(app, visit_job, phone):
    """An urgent request assigned 25 minutes ago (first contact due in about 5 minutes) comes before a normal one
    just assigned and before the prepared visit; the visit shows its agreed time and address."""
    with app.app_context():
        ids = visit_job["ids"]
        numbers = {}
        for name, urgency, minutes_ago in (("normal", "normal", 0), ("urgent", "urgent", 25)):
            ticket = intake.create_request({
                "customer_name": f"{name} 客户", "contact_phone": "13600136004",
                "address": "上海市静安区万航渡路1188号", "device_model": "Blackmagic ATEM Mini",
                "problem": "切换台无输出", "urgency": urgency},
                _as(app, ids["desk"], minutes_ago))
            db.session.flush()
            assignment.assign(ticket, db.session.get(User, ids["tech"]), _as(app, ids["boss"], minutes_ago))
            numbers[name] = ticket.number
        db.session.commit()
    base, context_, problems = phone
    page = signed_in_app(base, context_)
    items = page.locator(".requests li")
    expect(items).to_have_count(3, timeout=20000)
    shown = [re.search(r"FS-\d{4}-\d+", items.nth(i).inner_text()).group(0) for i in range(3)]
    assert shown[0] == numbers["urgent"], shown
    jobs = {j["number"]: j for j in signed_json(app, "li")}

    def soonest(number):
        running = [c["due_at"] for c in jobs[number]["clocks"] if c["due_at"] and c["state"] == "pending"]
        return min((datetime.fromisoformat(d) for d in running), default=datetime.max.replace(tzinfo=UTC))
    assert [soonest(n) for n in shown] == sorted(soonest(n) for n in shown)
    visit = items.filter(has_text=visit_job["number"])
    expect(visit.locator(".visit-line")).to_contain_text("上门")
    expect(visit.locator(".visit-line")).to_contain_text("上海市静安区万航渡路1188号")
    assert problems == []


def signed_json(app, username):
    from .helpers import signed_client

    return signed_client(app, username).get("/api/v1/me/jobs").json["jobs"]


def test_a_submitted_job_ends_on_a_confirmation_with_the_way_back(app, assigned_job, phone):
    number = assigned_job["number"]
    with app.app_context():
        ticket = access.get_ticket(number)
        tech = assigned_job["ids"]["tech"]
        remote_work.record_contact(ticket, _as(app, tech, 4), method=ContactMethod.PHONE)
        remote_work.resolve_remotely(ticket, _as(app, tech, 3), cause="码率过高", work_done="降低码率",
                                     resolved_at=datetime.now(UTC) - timedelta(minutes=3))
        db.session.commit()
    base, context_, problems = phone
    page = signed_in_app(base, context_)
    page.goto(job_url(base, number))
    submit = step(page, "submit")
    expect(submit).to_have_attribute("aria-current", "step", timeout=20000)
    category = submit.get_by_label("故障分类")
    if category.locator("option").count() > 1:
        category.select_option(index=1)
    submit.get_by_label("解决方案摘要（用于知识库）").fill("降低码率后推流稳定")
    submit.get_by_role("button", name="提交主管审核").click()
    gone = page.locator('[data-key="gone"]')
    expect(gone).to_contain_text("已提交给主管", timeout=20000)
    expect(gone.locator("h1")).to_have_text(number)
    gone.get_by_role("link", name="返回我的工单").click()
    expect(page.locator("h1")).to_have_text("我的工单")
    with app.app_context():
        assert access.get_ticket(number).status.value == "submitted"
    assert problems == []


def test_the_customers_back_gesture_keeps_them_on_their_screen(app, visit_job, phone):
    number = visit_job["number"]
    ready_to_sign(app, number)
    base, context_, problems = phone
    page = signed_in_app(base, context_)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    page.goto(job_url(base, number))
    step(page, "sign").get_by_role("link", name="请客户查看并签字").click()
    expect(page.locator("canvas.signature-pad")).to_be_visible()
    page.get_by_label("您的姓名").fill("赵远")
    for _ in range(2):  # Back, twice: the customer stays where they are, with what they typed
        page.go_back()
        page.wait_for_timeout(300)
        assert page.url.endswith(f"#/job/{number}/sign"), page.url
        expect(page.locator("body")).to_have_class(re.compile(r"\bcustomer-mode\b"))
        expect(page.locator('section[data-step]')).to_have_count(0)
        expect(page.get_by_label("您的姓名")).to_have_value("赵远")
    # The technician takes the phone back with the two taps.
    page.locator(".handback-bar").get_by_role("button", name="将手机交还技术员").click()
    page.locator(".handback-bar").get_by_role("link", name="我是技术员：返回工单").click()
    expect(step(page, "sign")).to_be_visible()
    expect(page.locator("body")).not_to_have_class(re.compile(r"\bcustomer-mode\b"))
    assert problems == []


def test_a_note_written_after_a_tests_result_is_saved(app, visit_job, phone):
    number = visit_job["number"]
    base, context_, problems = phone
    page = signed_in_app(base, context_)
    arrive(page, base, number)
    open_step(page, "tests")
    first = step(page, "tests").locator("li").first
    item = first.get_attribute("data-item")
    first.get_by_role("button", name="通过", exact=True).click()
    expect(first.locator("button[aria-pressed=true]")).to_have_count(1)
    first.get_by_role("textbox").fill("主输出电平 -18 dBFS，正常")
    first.get_by_role("textbox").press("Tab")  # leaving the field saves it with the result
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        for _ in range(50):
            test = db.session.execute(select(AcceptanceTest).where(AcceptanceTest.item == item)).scalar_one()
            if test.note:
                break
            db.session.expire_all()
            page.wait_for_timeout(100)
        assert test.passed is True and test.note == "主输出电平 -18 dBFS，正常"
        kinds = [o.kind for o in db.session.execute(select(SyncOp).order_by(SyncOp.id)).scalars()]
        assert kinds.count("test.recorded") == 2
    assert problems == []


def test_a_visit_time_in_the_past_is_refused_on_the_phone_offline(app, assigned_job, phone):
    number = assigned_job["number"]
    with app.app_context():
        remote_work.record_contact(access.get_ticket(number), _as(app, assigned_job["ids"]["tech"], 2),
                                   method=ContactMethod.PHONE)
        db.session.commit()
    base, context_, problems = phone
    page = signed_in_app(base, context_)
    page.goto(job_url(base, number))
    choose = step(page, "choose")
    expect(choose).to_have_attribute("aria-current", "step", timeout=20000)
    context_.set_offline(True)
    yesterday = (datetime.now(SHANGHAI) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    choose.get_by_label("上门日期和时间").fill(yesterday)
    choose.get_by_role("button", name="预约上门").click()
    expect(page.locator("#announce")).to_have_text("上门时间已经过去。")
    expect(page.locator("#sync-status")).not_to_contain_text("待发送")
    expect(page.locator("#sync-status")).not_to_contain_text("已保存在本机")
    tomorrow = (datetime.now(SHANGHAI) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    choose.get_by_label("上门日期和时间").fill(tomorrow)
    choose.get_by_role("button", name="预约上门").click()
    expect(step(page, "schedule")).to_contain_text("已完成")
    context_.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        assert access.get_ticket(number).status.value == "visit_scheduled"
    assert problems == []


def test_a_job_is_handed_back_from_the_phone_offline_with_its_reason(app, assigned_job, phone):
    number = assigned_job["number"]
    base, context_, problems = phone
    page = signed_in_app(base, context_)
    page.goto(job_url(base, number))
    give_back = page.locator('[data-key="give-back"]')
    expect(give_back).to_be_visible(timeout=20000)
    context_.set_offline(True)
    give_back.locator("summary").click()
    give_back.get_by_role("button", name="交回给主管").click()
    expect(page.locator("#announce")).to_have_text("请说明交回工单的原因。")  # refused here, as the server would
    give_back.get_by_label("原因（主管会看到）").fill("发烧，今天无法上门")
    give_back.get_by_role("button", name="交回给主管").click()
    notice = page.locator('[data-key="handed-back"]')
    expect(notice).to_contain_text("已交回：等待主管重新分配")
    expect(notice).to_contain_text("发烧，今天无法上门")
    expect(page.locator('[data-key="give-back"]')).to_have_count(0)  # not offered twice
    context_.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.handback_reason == "发烧，今天无法上门" and ticket.handed_back_at is not None
    page.goto(base + "/field/")
    expect(page.locator(".requests li").filter(has_text=number)).to_contain_text("已交回")
    assert problems == []


def test_customer_absent_is_recorded_offline_with_where_arrival_was_tapped_and_reaches_the_supervisor(
        app, visit_job, phone):  # noqa: F811
    """At 390x844, offline at the customer's door: arrival tapped (the browser's position, allowed on this phone),
    'the customer is not there' refused without a reason as the server would, then recorded with the reason and a
    photo; the phone says it is recorded and that leaving is allowed; when the network returns everything arrives:
    the record, its photo, the position, and one alert to the supervisor."""
    import io

    from PIL import Image

    from domain.alerts.models import Notification

    number = visit_job["number"]
    base, context_, problems = phone
    context_.grant_permissions(["geolocation"], origin=base)
    context_.set_geolocation({"latitude": 31.22851, "longitude": 121.44516, "accuracy": 25})
    page = signed_in_app(base, context_)
    expect(page.get_by_text(number)).to_be_visible(timeout=20000)
    context_.set_offline(True)
    page.goto(job_url(base, number))
    step(page, "arrive").get_by_role("button", name="我已到达现场").click()
    expect(step(page, "arrive")).to_have_class(re.compile(r"\bdone\b"), timeout=10000)
    unsigned = page.locator('[data-key="unsigned"]')
    unsigned.locator("summary").click()
    unsigned.get_by_role("button", name="记录并通知主管").click()
    expect(page.locator("#announce")).to_have_text("请说明客户无法签字的原因。")  # refused here, as the server would
    unsigned.get_by_label("情况").select_option("absent")
    unsigned.get_by_label("原因（主管会看到）").fill("客户临时外出，电话无人接听，门已锁")
    door, out = Image.new("RGB", (800, 600), (90, 120, 200)), io.BytesIO()
    door.save(out, "JPEG")
    unsigned.locator('input[type="file"]').set_input_files(
        files=[{"name": "door.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}])
    expect(unsigned).to_contain_text("照片已就绪")
    unsigned.get_by_role("button", name="记录并通知主管").click()
    notice = page.locator('[data-key="unsigned-notice"]')
    expect(notice).to_contain_text("已记录：客户不在场，无法签字")
    expect(notice).to_contain_text("客户临时外出，电话无人接听，门已锁")
    expect(page.locator('[data-key="unsigned"]')).to_have_count(0)  # not offered twice
    expect(step(page, "depart")).to_have_class(re.compile(r"\bopen\b"))  # leaving is allowed now (one tap away)
    expect(page.locator("#sync-status")).to_contain_text("已保存在本机")
    with app.app_context():
        assert access.get_ticket(number).status.value == "visit_scheduled"  # nothing sent yet
    context_.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        ticket = access.get_ticket(number)
        visit = ticket.visits[-1]
        assert visit.unsigned_kind.value == "absent" and visit.unsigned_reason == "客户临时外出，电话无人接听，门已锁"
        assert (round(visit.arrival_lat, 5), round(visit.arrival_lng, 5)) == (31.22851, 121.44516)
        assert visit.arrival_accuracy_m == 25
        assert visit.unsigned_photo_id in {p.id for p in ticket.photos}
        alerts = db.session.execute(select(Notification).where(Notification.kind == "unsigned")).scalars().all()
        assert len(alerts) == 1
    page.goto(base + "/field/")
    expect(page.locator(".requests li").filter(has_text=number)).to_contain_text("未签字")
    assert problems == []
