"""The offline app in Debian's Chromium at phone size: a whole visit done with no network, then synced once."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import func, select

from domain import dispatch
from domain.db import db
from domain.models import AcceptanceTest, Precaution, ProgressNote, Signature, SyncOp

from .browser import CHROMIUM, CHROMIUM_ARGS, PHONE, live_server, require_chromium
from .conftest import PASSWORD
from .orderfactory import make_prepared_visit

pytestmark = pytest.mark.browser


@pytest.fixture
def visit_job(app, make_user):
    with app.app_context():
        return make_prepared_visit(make_user, tech="li")


@pytest.fixture
def phone(app):
    require_chromium()
    with live_server(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", **PHONE)
        problems = []
        context.on("weberror", lambda e: problems.append(str(e.error)))
        yield base, context, problems
        browser.close()


def signed_in_app(base, context):
    page = context.new_page()
    page.goto(base + "/auth/login?next=/field/")
    page.fill("input[name=username]", "li")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r".*/field/.*"))
    # Wait for the service worker to take control (the app shell is then in its cache). Polled from here:
    # page.wait_for_function evaluates strings, which the strict CSP (rightly) refuses.
    for _ in range(150):
        if page.evaluate("navigator.serviceWorker.controller !== null"):
            return page
        page.wait_for_timeout(100)
    pytest.fail("the service worker never took control of /field/")


def draw_signature(page):
    canvas = page.locator("canvas.signature-pad")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    x, y = box["x"] + 30, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 40):
        page.mouse.move(x + i * 7, y + (25 if i % 2 else -25), steps=2)
    page.mouse.up()


def test_whole_visit_offline_then_synced_exactly_once(app, visit_job, phone):
    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    expect(page.get_by_text(number)).to_be_visible(timeout=10000)

    # No network from here: close the app and open it again; the shell comes from the service worker's cache.
    context.set_offline(True)
    page.close()
    page = context.new_page()
    page.goto(base + "/field/")
    expect(page.get_by_text(number)).to_be_visible(timeout=10000)
    expect(page.locator("#sync-status")).to_contain_text("离线")
    page.get_by_text(number).click()

    page.get_by_role("button", name="我已到达现场").click()
    page.locator("section.step", has_text="与客户确认问题").locator("textarea").fill("主输出模块接触不良")
    page.locator("section.step", has_text="与客户确认问题").get_by_role("button", name="保存").click()
    expect(page.locator("section.step", has_text="与客户确认问题")).to_contain_text("✓ 主输出模块接触不良")
    notes = page.locator("section.step", has_text="处理进展与照片")
    notes.locator("textarea").fill("已重新插紧主输出线缆，声音恢复")
    notes.get_by_role("button", name="添加记录").click()
    expect(page.locator("section.step", has_text="处理进展与照片")).to_contain_text("声音恢复")
    tests = page.locator("section.step", has_text="与客户一起验收测试")
    count = tests.locator("button[data-test]").count()
    assert count >= 3
    for i in range(count):
        page.locator("section.step", has_text="与客户一起验收测试").locator("button[data-test]").nth(i).click()
    page.locator("section.step", has_text="客户确认设备正常").get_by_role("button", name="客户确认设备运行正常").click()
    page.locator("section.step", has_text="告知客户注意事项").get_by_role("button", name="已告知客户").click()
    page.get_by_role("link", name="请客户查看并签字").click()

    expect(page.locator("h1")).to_have_text("服务单：请核对并签字")
    expect(page.locator(".summary")).to_contain_text("声音恢复")
    page.locator(".star[data-rating='5']").click()
    draw_signature(page)
    page.get_by_role("button", name="确认并签字").click()
    page.get_by_role("button", name="离开现场").click()
    expect(page.locator("section.step", has_text="离开现场")).to_contain_text("已离开现场")
    pending = int(re.search(r"(\d+) 条待发送", page.locator("#sync-status").inner_text()).group(1))
    expected_ops = 1 + 1 + 1 + count + 1 + 1 + 1 + 1
    assert pending == expected_ops
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 0  # nothing reached the server

    # The network is back: the outbox flushes by itself.
    context.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        ticket = dispatch.get_ticket(number)
        assert ticket.status.value == "signed" and ticket.visits[-1].departed_at is not None
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == expected_ops
        assert db.session.execute(select(func.count(SyncOp.id)).where(SyncOp.status == "applied")).scalar_one() \
            == expected_ops
        assert db.session.execute(select(func.count(ProgressNote.id))).scalar_one() == 1
        assert db.session.execute(select(func.count(AcceptanceTest.id))).scalar_one() == count
        assert db.session.execute(select(func.count(Precaution.id))).scalar_one() >= 1
        signature = db.session.execute(select(Signature)).scalar_one()
        assert signature.signer_name == "赵远" and signature.rating == 5 and signature.strokes
        assert ticket.service_order is not None and ticket.service_order.pdf_sha256

    # Sent again (a retry after a lost answer): nothing is doubled.
    page.reload()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        assert db.session.execute(select(func.count(ProgressNote.id))).scalar_one() == 1
    assert problems == []


def test_signature_survives_a_resize(app, visit_job, phone):
    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    page.goto(base + f"/field/#/job/{number}")
    page.get_by_role("button", name="我已到达现场").click()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    page.goto(base + f"/field/#/job/{number}/sign")
    expect(page.locator("canvas.signature-pad")).to_be_visible()
    draw_signature(page)
    before = page.evaluate("document.querySelector('canvas.signature-pad').toDataURL().length")
    page.set_viewport_size({"width": 844, "height": 390})  # the phone turned sideways
    page.wait_for_timeout(300)
    after = page.evaluate("document.querySelector('canvas.signature-pad').toDataURL().length")
    blank = page.evaluate("""(() => { const c = document.createElement('canvas');
        const s = document.querySelector('canvas.signature-pad'); c.width = s.width; c.height = s.height;
        return c.toDataURL().length; })()""")
    assert before > blank and after > blank  # still drawn after the resize
    ratio = page.evaluate("document.querySelector('canvas.signature-pad').width / "
                          "document.querySelector('canvas.signature-pad').offsetWidth")
    assert ratio == 2  # a high-DPI canvas: device pixels, not CSS pixels
    assert problems == []


def test_expired_session_keeps_the_outbox(app, visit_job, phone):
    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    page.goto(base + f"/field/#/job/{number}")
    context.set_offline(True)
    page.get_by_role("button", name="我已到达现场").click()
    context.clear_cookies()  # the session ended while the phone was offline
    context.set_offline(False)
    expect(page.locator("#login-needed")).to_be_visible(timeout=15000)
    expect(page.locator("#sync-status")).to_contain_text("1 条待发送")
    page.get_by_role("link", name="重新登录").click()
    page.fill("input[name=username]", "li")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        assert dispatch.get_ticket(number).status.value == "on_site"
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 1
    assert problems == []


def test_answer_lost_after_the_server_committed_then_retry_doubles_nothing(app, visit_job, phone):
    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    page.goto(base + f"/field/#/job/{number}")
    expect(page.get_by_role("button", name="我已到达现场")).to_be_visible()
    delivered = []

    def deliver_then_drop(route):
        response = route.fetch()  # the request reaches the server, which applies and commits the ops...
        delivered.append(response.status)
        try:
            route.abort("connectionreset")  # ...but the answer never reaches the phone
        except Exception:  # noqa: BLE001 - the page reloaded meanwhile: the answer is lost all the same
            pass

    page.route("**/api/v1/sync", deliver_then_drop)
    page.get_by_role("button", name="我已到达现场").click()
    expect(page.locator("section.step", has_text="与客户确认问题")).to_be_visible()
    for _ in range(100):
        if delivered:
            break
        page.wait_for_timeout(100)
    assert delivered and set(delivered) == {200}  # (flushes may be tried more than once meanwhile)
    expect(page.locator("#sync-status")).to_contain_text("1 条待发送")  # the phone still holds the op
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 1
    page.unroute("**/api/v1/sync")
    page.reload()  # the outbox is sent again on load
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        op = db.session.execute(select(SyncOp)).scalar_one()  # still one op, applied once, then replayed
        assert op.status.value == "applied" and op.replays >= 1
        assert dispatch.get_ticket(number).status.value == "on_site"
        from domain.models import AuditEvent

        arrivals = db.session.execute(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "visit.arrived")).scalar_one()
        assert arrivals == 1  # the arrival happened once, however often it was sent
    assert problems == []
