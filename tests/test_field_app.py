"""The offline app in Debian's Chromium at phone size: a whole visit done with no network, then synced once."""
from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import func, select

from domain.alerts.models import OutboxMail
from domain.core.db import db
from domain.fieldwork.models import AcceptanceTest, Precaution, Signature, SyncOp
from domain.fieldwork.signing import INK_LUT, SignatureError, clean_signature_png
from domain.requests import access, assignment, progress_notes
from domain.requests.models import ProgressNote

from .helpers import (
    PASSWORD,
    arrive,
    job_url,
    notes_step,
    open_step,
    ready_to_sign,
    signed_in_app,
    step,
)

pytestmark = pytest.mark.browser


INK = """(canvas) => {
    const blank = document.createElement('canvas');
    blank.width = canvas.width; blank.height = canvas.height;
    return canvas.width > 0 && canvas.toDataURL() !== blank.toDataURL();
}"""


def wait_for_state(page, check, what: str, attempts: int = 200):
    """Poll a condition of the page (the strict CSP refuses page.wait_for_function's strings): a wait on the
    state, bounded by attempts, never a fixed sleep that a loaded machine can outrun."""
    for _ in range(attempts):
        if check():
            return
        page.wait_for_timeout(50)
    pytest.fail(f"never reached: {what}")


def signature_has_ink(page) -> bool:
    canvas = page.locator("canvas.signature-pad")
    return canvas.count() == 1 and canvas.evaluate(INK)


def draw_signature(page):
    canvas = page.locator("canvas.signature-pad")
    expect(canvas).to_be_visible()
    canvas.scroll_into_view_if_needed()
    # Draw only once the canvas stands still (scrolled, laid out): the same box twice in a row.
    boxes = []
    wait_for_state(page, lambda: boxes.append(canvas.bounding_box()) or (len(boxes) > 1 and boxes[-1] == boxes[-2]
                                                                         and boxes[-1]["width"] > 0),
                   "the signature pad at rest")
    box = boxes[-1]
    x, y = box["x"] + 30, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 40):
        page.mouse.move(x + i * 7, y + (25 if i % 2 else -25), steps=2)
    page.mouse.up()
    wait_for_state(page, lambda: signature_has_ink(page), "the signature drawn on the pad")


def status_text(page):
    return page.locator("#sync-status").inner_text()


def assert_status_consistent(page):
    """The status line never says two things that contradict each other."""
    text = status_text(page)
    if "已全部发送" in text:
        assert "离线" not in text and "拒绝" not in text and "待发送" not in text, text


def assert_tap_targets(page):
    """Every visible button, link, select and checkbox (by its label) is at least 44x44 CSS px."""
    small = page.evaluate("""(() => {
        const out = [];
        for (const el of document.querySelectorAll('a[href], button, select, input[type=checkbox], summary')) {
            const target = el.matches('input[type=checkbox]') ? (el.closest('label') || el) : el;
            const r = target.getBoundingClientRect();
            if (!r.width || !r.height || getComputedStyle(target).visibility === 'hidden') continue;
            if (el.closest('.knowledge p')) continue;
            const name = `${el.tagName} ${el.textContent.trim().slice(0, 20)}`;
            if (r.width < 44 || r.height < 44) out.push(`${name} ${r.width}x${r.height}`);
        }
        return out;
    })()""")
    assert small == []


def assert_next_step_shown(page, name):
    """After an act the next step is current and its title shows below the sticky bar and status line."""
    expect(step(page, name)).to_have_attribute("aria-current", "step")
    covered = page.locator("#sync-status").bounding_box()
    title = step(page, name).locator("h2").bounding_box()
    assert covered["y"] + covered["height"] <= title["y"] and title["y"] + title["height"] <= 844, (covered, title)


def tap_steps_to_signature(page, *, tests_pass=True):
    """From arrival to the customer's review, tapping and typing only what the stepper shows."""
    step(page, "arrive").get_by_role("button", name="我已到达现场").click()
    assert_next_step_shown(page, "problem")
    step(page, "problem").locator("textarea").fill("主输出模块接触不良")
    step(page, "problem").get_by_role("button", name="保存").click()
    expect(step(page, "problem")).to_contain_text("✓ 主输出模块接触不良")
    step(page, "work").locator("textarea").fill("已重新插紧主输出线缆，声音恢复")
    step(page, "work").get_by_role("button", name="添加记录").click()
    expect(step(page, "work")).to_contain_text("声音恢复")
    step(page, "cause").get_by_label("原因", exact=True).fill("主输出 XLR 接头松动")
    step(page, "cause").get_by_label("处理措施").fill("重新插紧主输出线缆并固定")
    step(page, "cause").get_by_role("button", name="保存").click()
    assert_next_step_shown(page, "tests")
    tests = step(page, "tests")
    count = tests.locator("button[data-test]").count()
    assert count >= 3
    for i in range(count):
        row = step(page, "tests").locator("li").nth(i)
        row.get_by_role("textbox").fill(f"第 {i + 1} 项已与客户一起确认")
        row.get_by_role("button", name="通过" if tests_pass or i else "未通过", exact=True).click()
        if i < count - 1:  # (the last result completes the step, which folds)
            # The chosen result shows, and the note typed in the row is kept across the redraw.
            row = step(page, "tests").locator("li").nth(i)
            expect(row.locator("button[aria-pressed=true]")).to_have_count(1)
            expect(row.get_by_role("textbox")).to_have_value(f"第 {i + 1} 项已与客户一起确认")
    expect(step(page, "tests")).to_contain_text("已完成")
    return count


def test_on_site_visit_done_on_the_phone_offline_through_submission(app, visit_job, phone):
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
    expect(step(page, "arrive")).to_have_attribute("aria-current", "step")
    assert_tap_targets(page)

    count = tap_steps_to_signature(page)
    step(page, "confirm").get_by_role("button", name="客户确认设备运行正常").click()
    step(page, "precautions").get_by_role("button", name="已告知客户").click()
    step(page, "sign").get_by_role("link", name="请客户查看并签字").click()

    # Customer mode: the order, large, without the technician's chrome.
    expect(page.locator("h1")).to_have_text("服务单：请核对并签字")
    expect(page.locator("#sync-status")).to_be_hidden()
    expect(page.locator("#app-topbar")).to_be_hidden()
    summary = page.locator(".summary")
    for text in (number, "主输出 XLR 接头松动", "重新插紧主输出线缆并固定", "主输出模块接触不良"):
        expect(summary).to_contain_text(text)
    expect(summary).not_to_contain_text("声音恢复")  # an internal note stays internal
    page.locator(".star[data-rating='5']").click()
    draw_signature(page)
    page.get_by_role("button", name="确认并签字").click()
    expect(page.get_by_text("请将手机交还技术员")).to_be_visible()
    page.get_by_role("button", name="将手机交还技术员").click()
    page.get_by_role("link", name="我是技术员：返回工单").click()
    expect(page.locator("#sync-status")).to_be_visible()
    expect(step(page, "sign")).to_contain_text("已完成")

    step(page, "depart").get_by_role("button", name="离开现场").click()
    expect(step(page, "depart")).to_contain_text("已离开现场")
    submit = step(page, "submit")
    expect(submit).to_have_attribute("aria-current", "step")
    category = submit.get_by_label("故障分类")
    if category.locator("option").count() > 1:
        category.select_option(index=1)
    submit.get_by_label("根本原因（内部）").fill("接头长期受力松动")
    submit.get_by_role("button", name="提交主管审核").click()
    expect(step(page, "submit")).to_contain_text("已提交主管审核")
    expected_ops = 1 + 1 + 1 + 1 + count + 1 + 1 + 1 + 1 + 1
    expect(page.locator("#sync-status")).to_contain_text(f"{expected_ops} 条已保存在本机")
    assert_status_consistent(page)
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 0  # nothing reached the server

    # The network is back: the outbox flushes by itself.
    context.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    assert_status_consistent(page)
    with app.app_context():
        ticket = access.get_ticket(number)
        assert db.session.execute(select(func.count(SyncOp.id)).where(SyncOp.status == "applied")).scalar_one() \
            == expected_ops
        assert ticket.status.value == "submitted" and ticket.visits[-1].departed_at is not None
        assert ticket.cause == "主输出 XLR 接头松动" and ticket.work_done == "重新插紧主输出线缆并固定"
        assert ticket.root_cause == "接头长期受力松动"
        assert db.session.execute(select(func.count(ProgressNote.id))).scalar_one() == 1
        assert not db.session.execute(select(ProgressNote)).scalar_one().shown_to_customer  # internal by default
        tests = db.session.execute(select(AcceptanceTest)).scalars().all()
        assert len(tests) == count and tests[0].note == "第 1 项已与客户一起确认"
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


DRAWN_SIZE = "document.querySelector('canvas.signature-pad').toDataURL().length"


def test_signature_survives_a_resize(app, visit_job, phone):
    base, context, problems = phone
    ready_to_sign(app, visit_job["number"])
    page = signed_in_app(base, context)
    number = visit_job["number"]
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    page.goto(base + f"/field/#/job/{number}")
    step(page, "sign").get_by_role("link", name="请客户查看并签字").click()
    expect(page.locator("canvas.signature-pad")).to_be_visible()
    draw_signature(page)
    blank_size = """(() => { const c = document.createElement('canvas');
        const s = document.querySelector('canvas.signature-pad'); c.width = s.width; c.height = s.height;
        return c.toDataURL().length; })()"""
    before, blank_before = page.evaluate(DRAWN_SIZE), page.evaluate(blank_size)
    page.set_viewport_size({"width": 844, "height": 390})  # the phone turned sideways
    page.wait_for_timeout(300)
    after, blank_after = page.evaluate(DRAWN_SIZE), page.evaluate(blank_size)
    assert before > blank_before and after > blank_after  # still drawn after the resize
    ratio = page.evaluate("document.querySelector('canvas.signature-pad').width / "
                          "document.querySelector('canvas.signature-pad').offsetWidth")
    assert ratio == 2  # a high-DPI canvas: device pixels, not CSS pixels
    assert problems == []


def sign_screen(app, chromium, number, density: int, rate: bool = True):
    """The job's signing screen, ready for the customer's signature, on a phone of this pixel density (five stars
    given unless `rate` is false)."""
    base, new_context = chromium
    ready_to_sign(app, number)
    page = signed_in_app(base, new_context(device_scale_factor=density))
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    page.goto(base + f"/field/#/job/{number}")
    step(page, "sign").get_by_role("link", name="请客户查看并签字").click()
    expect(page.locator("canvas.signature-pad")).to_be_visible()
    if rate:
        page.locator(".star[data-rating='5']").click()
    return page


def signed_ops(app) -> list[SyncOp]:
    with app.app_context():
        return db.session.execute(select(SyncOp).where(SyncOp.kind == "order.signed")).scalars().all()


def test_the_phone_sends_the_signature_trimmed_with_the_customers_email(app, visit_job, chromium):
    """A 3x phone: the PNG sent is cropped to the ink at 2 device px per CSS px (the whole pad was ~1070x660 px,
    15 ms of the server's time to decode); an address the server would keep out is refused on the phone first."""
    number = visit_job["number"]
    page = sign_screen(app, chromium, number, density=3)
    canvas = page.locator("canvas.signature-pad")
    pad = canvas.evaluate("(c) => ({width: c.width, height: c.height, css: c.offsetWidth})")
    assert pad["width"] == 3 * pad["css"]
    expect(page.locator(".push-enable")).to_be_hidden()  # the technician's alerts prompt: not the customer's
    draw_signature(page)
    email = page.get_by_label("您的电子邮箱（选填，用于接收已签字服务单）")
    email.fill("zhao.yuan@")
    page.get_by_role("button", name="确认并签字").click()
    expect(page.locator("#announce")).to_have_text("请输入有效的邮箱地址，或留空。")
    expect(email).to_be_focused()
    assert signed_ops(app) == []  # nothing queued
    email.fill("zhao.yuan@example.com")
    page.get_by_role("button", name="确认并签字").click()
    expect(page.get_by_text("请将手机交还技术员")).to_be_visible()
    expect(page.locator("#announce")).to_be_empty()  # the refusal went with the act that was then done
    page.get_by_role("button", name="将手机交还技术员").click()
    page.get_by_role("link", name="我是技术员：返回工单").click()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)

    [op] = signed_ops(app)
    assert op.status == "applied"
    data = json.loads(op.body)["data"]
    assert data["customer_email"] == "zhao.yuan@example.com"
    png = Image.open(io.BytesIO(base64.b64decode(data["signature_png"].split(",", 1)[1])))
    # draw_signature's ink: 39 x 7 CSS px wide and 50 tall, plus the pen's width and 8 px of margin each side.
    assert png.format == "PNG" and png.width < 2 * 320 and png.height < 2 * 80, png.size
    assert png.width >= 2 * 39 * 7 and png.height >= 2 * 50
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.customer_email == "zhao.yuan@example.com" and ticket.signature is not None
        copies = db.session.execute(select(OutboxMail).where(OutboxMail.kind == "customer_copy")).scalars().all()
        assert [mail.recipients for mail in copies] == [["zhao.yuan@example.com"]]


def test_a_dot_is_refused_on_the_phone_as_the_server_would(app, visit_job, chromium):
    """A tap on a 1x phone's pad: not empty to the pad, blank to the server (too few inked pixels). The phone says
    so and queues nothing; the server refuses the same pixels."""
    page = sign_screen(app, chromium, visit_job["number"], density=1)
    canvas = page.locator("canvas.signature-pad")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + 100, box["y"] + 100)
    wait_for_state(page, lambda: signature_has_ink(page), "the dot on the pad")
    page.get_by_role("button", name="确认并签字").click()
    expect(page.locator("#announce")).to_have_text("签名为空：请签字。")
    assert signed_ops(app) == []
    with app.test_request_context(), pytest.raises(SignatureError) as refused:
        clean_signature_png(canvas.evaluate("(c) => c.toDataURL('image/png')"))
    assert refused.value.code == "signature_blank"


def test_a_signature_with_more_points_than_the_server_keeps_is_refused_on_the_phone(app, visit_job, chromium,
                                                                                    monkeypatch):
    """The limit the server declares (lowered here to 30 points, the drawing has more) is the phone's."""
    from domain.fieldwork import signing

    monkeypatch.setattr(signing, "MAX_STROKE_POINTS", 30)
    page = sign_screen(app, chromium, visit_job["number"], density=2)
    draw_signature(page)  # one stroke of ~80 points
    page.get_by_role("button", name="确认并签字").click()
    expect(page.locator("#announce")).to_have_text("签名的笔迹点过多。")
    assert signed_ops(app) == []


def test_the_phone_counts_ink_as_the_server_does(app, visit_job, phone):
    """Every opacity of the pen's colour, and a few other colours, over a transparent pad: the pixels the phone
    counts as ink are those the server's flattening counts (the threshold is the server's, from the page)."""
    base, context, problems = phone
    page = signed_in_app(base, context)
    found = page.evaluate("""async () => {
        const { inkOf } = await import('/static/field/signature.js');
        const rules = JSON.parse(document.getElementById('rules').textContent).signature;
        const c = document.createElement('canvas'); c.width = 256; c.height = 4;
        const g = c.getContext('2d'); const image = g.createImageData(256, 4);
        const colours = [[17, 17, 17], [0, 0, 255], [200, 40, 40], [120, 120, 120]];
        colours.forEach(([r, gr, b], row) => { for (let a = 0; a < 256; a++) {
            image.data.set([r, gr, b, a], (row * 256 + a) * 4); } });
        g.putImageData(image, 0, 0);
        const pixels = g.getImageData(0, 0, 256, 4).data;
        return { count: inkOf(pixels, 256, 4, rules.ink_threshold).count, png: c.toDataURL('image/png') };
    }""")
    image = Image.open(io.BytesIO(base64.b64decode(found["png"].split(",", 1)[1]))).convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image).convert("L")
    server_count = flat.point(INK_LUT).tobytes().count(255)
    assert 100 < server_count < 4 * 256 and found["count"] == server_count
    assert problems == []


def test_a_job_no_longer_on_the_list_says_so_and_links_to_its_page(app, visit_job, phone):
    """An old alert's link to a job since cancelled (or finished, or handed over): once the list came from the
    server the phone says the job is gone, not "open it once while online", and its request page still opens."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from domain.core import context
    from domain.core.models import User

    number = visit_job["number"]
    with app.app_context():
        boss = db.session.get(User, visit_job["ids"]["boss"])
        assignment.cancel(access.get_ticket(number), "客户取消了活动",
                        context.Context(actor=boss, tz=ZoneInfo("Asia/Shanghai"), now=datetime.now(UTC)))
        db.session.commit()
    base, context_, problems = phone
    page = signed_in_app(base, context_)
    page.goto(job_url(base, number))
    gone = page.locator('[data-key="gone"]')
    expect(gone).to_contain_text("此工单已不在您的列表中", timeout=20000)
    gone.get_by_role("link", name="打开需求详情页").click()
    expect(page.locator("h1")).to_contain_text(number)
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
        assert access.get_ticket(number).status.value == "on_site"
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
    # The phone still holds the op (and, with no answer, counts itself offline).
    expect(page.locator("#sync-status")).to_contain_text(re.compile(r"1 条(待发送|已保存在本机)"))
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 1
    page.unroute("**/api/v1/sync")
    page.reload()  # the outbox is sent again on load
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        op = db.session.execute(select(SyncOp)).scalar_one()  # still one op, applied once, then replayed
        assert op.status.value == "applied" and op.replays >= 1
        assert access.get_ticket(number).status.value == "on_site"
        from domain.core.models import AuditEvent

        arrivals = db.session.execute(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "visit.arrived")).scalar_one()
        assert arrivals == 1  # the arrival happened once, however often it was sent
    assert problems == []


def test_an_op_too_large_for_the_server_is_listed_not_retried_forever(app, visit_job, phone):
    """A single op the server answers 413 (larger than its limit) can never go through: it moves to the refused
    list with the server's reason, kept on the phone, and no longer holds up the outbox."""
    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    page.goto(job_url(base, number))
    expect(page.get_by_role("button", name="我已到达现场")).to_be_visible()
    message = "批次超过 2048 KB：请分多次发送。"
    page.route("**/api/v1/sync", lambda route: route.fulfill(
        status=413, content_type="application/json",
        body=json.dumps({"error": {"code": "batch_too_large", "message": message}})))
    page.get_by_role("button", name="我已到达现场").click()
    expect(page.locator("#sync-status")).to_contain_text("1 条被服务器拒绝", timeout=20000)
    expect(page.locator("#sync-status")).to_contain_text("其余均已发送")
    assert "已全部发送" not in status_text(page)  # never "all sent" next to "1 refused"
    # Shown on the job, at the step where it happened, with what to do next.
    refusal = step(page, "arrive").locator(".refusal")
    expect(refusal).to_contain_text(message)
    expect(refusal).to_contain_text("请分多次重新发送")
    page.goto(base + "/field/#/rejected")
    expect(page.locator("li.rejected")).to_contain_text(message)
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 0  # it never reached the server
    assert problems == []


def test_a_second_tab_of_the_same_job_doubles_nothing(app, visit_job, phone):
    """Two tabs of the app on the same job, both recording while offline, both flushing the moment the network
    returns: one tab sends at a time (Web Locks), so no op even reaches the server twice, and each act is
    stored once."""
    base, context, problems = phone
    first = signed_in_app(base, context)
    number = visit_job["number"]
    arrive(first, base, number)
    second = context.new_page()
    second.goto(job_url(base, number))
    expect(notes_step(second)).to_be_visible(timeout=10000)

    context.set_offline(True)
    texts = {first: "第一个标签页：已重新插紧主输出线缆", second: "第二个标签页：更换了备用电源"}
    for page, text in texts.items():
        notes_step(page).locator("textarea").fill(text)
        notes_step(page).get_by_role("button", name="添加记录").click()
        expect(notes_step(page)).to_contain_text(text)
    for page, text in texts.items():
        notes_step(page).locator("textarea").fill(f"{text}（补充）")
        notes_step(page).get_by_role("button", name="添加记录").click()
        expect(notes_step(page)).to_contain_text(f"{text}（补充）")
    expect(second.locator("#sync-status")).to_contain_text("4 条已保存在本机")  # one outbox, shared by the tabs

    context.set_offline(False)  # both tabs hear "online" and try to flush at the same moment
    for page in (first, second):
        expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=30000)
    with app.app_context():
        ops = db.session.execute(select(SyncOp)).scalars().all()
        assert sorted(o.kind for o in ops) == ["note.added"] * 4 + ["visit.arrived"]
        assert {o.status.value for o in ops} == {"applied"}
        assert sum(o.replays for o in ops) == 0  # no op was sent twice, not even to be answered "duplicate"
        assert sorted(db.session.execute(select(ProgressNote.text)).scalars()) == sorted(
            [*texts.values(), *(f"{text}（补充）" for text in texts.values())])
        from domain.core.models import AuditEvent

        added = db.session.execute(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "note.added")).scalar_one()
        assert added == 4
    for page in (first, second):
        page.reload()
        for text in texts.values():  # each tab shows both notes, once
            exact = re.compile(re.escape(text) + r"$")  # not the "（补充）" note that starts the same
            expect(notes_step(page).locator("li", has_text=exact)).to_have_count(1, timeout=10000)
    assert problems == []


def test_an_update_while_a_draft_is_open_keeps_the_draft(app, visit_job, phone, monkeypatch):
    """A new version is deployed while the technician is typing: the app offers to reload, never reloads by
    itself, and what was typed is there again after the reload."""
    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    arrive(page, base, number)
    draft = "客户要求下次上门前先电话确认"
    notes_step(page).locator("textarea").fill(draft)
    version = page.locator("meta[name=app-version]").get_attribute("content")

    from blueprints.field import routes

    new_version = f"next-{version}"[:20]
    monkeypatch.setattr(routes, "shell_version", lambda: new_version)  # the deployment: a new shell, a new worker
    page.evaluate("navigator.serviceWorker.getRegistration('/field/').then((r) => r.update())")
    banner = page.locator("#update-ready")
    expect(banner).to_be_visible(timeout=30000)
    expect(notes_step(page).locator("textarea")).to_have_value(draft)  # nothing reloaded underneath the typing
    assert page.locator("meta[name=app-version]").get_attribute("content") == version

    banner.get_by_role("button", name="重新加载").click()
    expect(page.locator("meta[name=app-version]")).to_have_attribute("content", new_version, timeout=30000)
    expect(notes_step(page).locator("textarea")).to_have_value(draft, timeout=10000)  # the draft came back
    with app.app_context():
        assert db.session.execute(select(func.count(ProgressNote.id))).scalar_one() == 0  # a draft, not a note
    assert problems == []


def camera_jpeg(width=3000, height=2000) -> bytes:
    """A phone camera's JPEG: large, taken sideways (EXIF orientation 6), with GPS coordinates."""
    import io

    from PIL import Image

    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=92)
    return out.getvalue()


PHOTOS_IN_INDEXEDDB = """(async () => {
    const db = await new Promise((resolve, reject) => {
        const request = indexedDB.open('fieldservice');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    const photos = await new Promise((resolve, reject) => {
        const request = db.transaction('photos').objectStore('photos').getAll();
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    db.close();
    const out = [];
    for (const photo of photos) {
        const bitmap = await createImageBitmap(photo.blob);
        const bytes = new Uint8Array(await photo.blob.arrayBuffer());
        let exif = false;
        for (let i = 0; i + 3 < bytes.length; i++) {
            if (bytes[i] === 0x45 && bytes[i + 1] === 0x78 && bytes[i + 2] === 0x69 && bytes[i + 3] === 0x66) {
                exif = true;
                break;
            }
        }
        out.push({ type: photo.blob.type, size: photo.blob.size, width: bitmap.width, height: bitmap.height, exif });
    }
    return out;
})()"""


def test_a_photo_is_downscaled_on_the_phone_and_stored_once(app, visit_job, phone, tmp_path):
    import io
    import json

    from PIL import Image

    from domain.core.models import Blob
    from domain.fieldwork.models import Photo

    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    arrive(page, base, number)
    original = tmp_path / "IMG_0412.jpg"
    original.write_bytes(camera_jpeg())

    context.set_offline(True)  # the photo waits in the outbox: what the phone stored can be looked at
    # One tap per photo: the caption written first goes with it; a second photo, taken back before it is ever sent.
    notes_step(page).get_by_label("下一张照片的说明（可选）").fill("主输出接口特写")
    for _ in range(2):  # the large camera button, twice
        with page.expect_file_chooser() as chooser:
            notes_step(page).locator("label.camera").click()
        chooser.value.set_files(str(original))
        expect(notes_step(page).get_by_label("下一张照片的说明（可选）")).to_have_value("", timeout=20000)
    waiting = notes_step(page).locator(".thumbs li:has(.thumb-waiting)")
    expect(waiting).to_have_count(2, timeout=20000)
    expect(waiting.nth(0)).to_contain_text("主输出接口特写")
    # The screen is redrawn (as when a sync brings new data): both still there, waiting.
    page.evaluate("window.dispatchEvent(new HashChangeEvent('hashchange'))")
    expect(waiting).to_have_count(2)
    waiting.nth(1).get_by_role("button", name="撤回").click()
    expect(waiting).to_have_count(1)
    expect(notes_step(page)).to_contain_text("1 张照片", timeout=20000)
    (stored,) = page.evaluate(PHOTOS_IN_INDEXEDDB)
    assert stored["type"] == "image/jpeg" and not stored["exif"]
    assert (stored["width"], stored["height"]) == (1067, 1600)  # upright, at most 1600 px, before storage
    assert stored["size"] < original.stat().st_size / 3

    context.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=30000)
    assert page.evaluate(PHOTOS_IN_INDEXEDDB) == []  # sent, then removed from the phone
    with app.app_context():
        (photo,) = db.session.execute(select(Photo)).scalars().all()
        assert max(photo.width, photo.height) <= 1600 and (photo.width, photo.height) == (1067, 1600)
        image = Image.open(io.BytesIO(db.session.get(Blob, photo.blob_sha256).data))
        assert not image.getexif() and "exif" not in image.info
        (op,) = db.session.execute(select(SyncOp).where(SyncOp.kind == "photo.added")).scalars().all()
        assert op.status.value == "applied" and op.replays == 0
        assert json.loads(op.body)["data"]["size"] == stored["size"]  # the phone uploaded the downscaled copy
        assert photo.caption == "主输出接口特写"

    # Sent earlier: the job shows its thumbnail (from the jobs feed), and again offline (the service worker's cache).
    for offline in (False, True):
        if offline:
            context.set_offline(True)
            page.reload()
        thumb = notes_step(page).locator(".thumbs img[alt='主输出接口特写']")
        expect(thumb).to_be_visible(timeout=20000)
        assert f"/photos/{photo.id}?size=thumb" in thumb.get_attribute("src")
        for _ in range(100):  # loaded, not a broken image (polled: the strict CSP refuses wait_for_function)
            if thumb.evaluate("(img) => img.complete && img.naturalWidth") > 0:
                break
            page.wait_for_timeout(100)
        assert thumb.evaluate("(img) => img.naturalWidth") > 0, f"thumbnail not loaded (offline={offline})"
        # A tap opens it full size (1067 px wide); offline, where only thumbnails are kept, its thumbnail, saying so
        # (the browser's HTTP cache emptied first: it kept the full size opened online, and may evict it any time).
        if offline:
            page.context.new_cdp_session(page).send("Network.clearBrowserCache")
        notes_step(page).get_by_role("button", name="查看大图：主输出接口特写").click()
        view = page.locator("dialog.photo-view")
        expect(view).to_be_visible()
        large = view.locator("img")
        for _ in range(100):
            if large.evaluate("(img) => img.complete && img.naturalWidth > 0 && (img.src.includes('size=thumb') "
                              "|| img.naturalWidth === 1067)"):
                break
            page.wait_for_timeout(100)
        if offline:
            assert "size=thumb" in large.get_attribute("src")
            expect(view).to_contain_text("手机联网后才能看原图")
        else:
            assert large.evaluate("(img) => img.naturalWidth") == 1067
            expect(view.get_by_text("手机联网后才能看原图")).to_be_hidden()
        view.get_by_role("button", name="关闭照片").click()
        expect(view).to_have_count(0)
    # Kept in the service worker's runtime cache (not only the browser's HTTP cache, which it may evict).
    kept = page.evaluate("caches.open('field-thumbs').then((c) => c.keys()).then((k) => k.map((r) => r.url))")
    assert [u for u in kept if f"/photos/{photo.id}?size=thumb" in u], kept
    assert problems == []


def test_knowledge_base_answers_for_the_job_are_there_offline(app, visit_job, phone):
    from datetime import UTC, datetime

    from domain.core.enums import ArticleStatus
    from domain.knowledge.models import KbArticle

    number = visit_job["number"]
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.device_category_id is not None
        common = {"device_category_id": ticket.device_category_id, "created_by_id": visit_job["ids"]["boss"]}
        db.session.add_all([
            KbArticle(title="调音台主输出无声的排查", symptoms="主输出无声，推子有电平显示",
                      solution="检查主输出线缆与 Main LR 跳线设置，重新插紧 XLR 接头",
                      precautions="开关机前先将主推子归零", status=ArticleStatus.PUBLISHED,
                      published_at=datetime.now(UTC), **common),
            KbArticle(title="尚未发布的草稿", symptoms="x", solution="y", status=ArticleStatus.DRAFT, **common),
        ])
        db.session.commit()
    base, context, problems = phone
    page = signed_in_app(base, context)
    expect(page.get_by_text(number)).to_be_visible(timeout=10000)

    context.set_offline(True)  # the answers came with the jobs: no network needed to read them
    page.close()
    page = context.new_page()
    page.goto(job_url(base, number))
    knowledge = page.locator("section.knowledge")
    expect(knowledge.locator("h2")).to_have_text("知识库", timeout=10000)
    expect(knowledge.locator("summary")).to_have_text(["调音台主输出无声的排查"])  # published ones only
    solution = knowledge.get_by_text("重新插紧 XLR 接头")
    expect(solution).to_be_hidden()  # folded: one line per answer
    knowledge.locator("summary").click()
    expect(solution).to_be_visible()
    expect(knowledge).to_contain_text("故障现象")
    expect(knowledge).to_contain_text("开关机前先将主推子归零")
    expect(page.locator("#sync-status")).to_contain_text("离线")
    page.get_by_role("button", name="我已到达现场").click()  # a redraw keeps the answer open
    expect(notes_step(page)).to_be_visible()
    expect(page.locator("section.knowledge").get_by_text("重新插紧 XLR 接头")).to_be_visible()
    assert problems == []


def test_remote_path_done_on_the_phone_offline_through_submission(app, assigned_job, phone):
    base, context, problems = phone
    page = signed_in_app(base, context)
    number = assigned_job["number"]
    expect(page.get_by_text(number)).to_be_visible(timeout=10000)
    context.set_offline(True)
    page.get_by_text(number).click()

    contact = step(page, "contact")
    expect(contact).to_have_attribute("aria-current", "step")
    contact.get_by_label("备注（内部）").fill("客户在直播间，电话接通")
    contact.get_by_role("button", name="保存联系记录").click()
    expect(step(page, "contact")).to_contain_text("已完成")
    step(page, "guide").locator("summary").click()
    step(page, "guide").get_by_label("指导客户操作的步骤").fill("降低码率到 6 Mbps，改用有线网络")
    step(page, "guide").get_by_role("button", name="记录远程指导").click()
    choose = step(page, "choose")
    expect(choose).to_have_attribute("aria-current", "step")
    choose.get_by_label("原因", exact=True).fill("无线网络上行带宽不足")
    choose.get_by_label("处理措施").fill("指导客户改用有线网络并降低码率，推流稳定")
    choose.get_by_role("button", name="已远程解决：生成服务单").click()
    submit = step(page, "submit")
    expect(submit).to_have_attribute("aria-current", "step")
    expect(submit.get_by_label("解决方案摘要（用于知识库）")).to_have_value("指导客户改用有线网络并降低码率，推流稳定")
    category = submit.get_by_label("故障分类")
    if category.locator("option").count() > 1:
        category.select_option(index=1)
    submit.get_by_role("button", name="提交主管审核").click()
    expect(step(page, "submit")).to_contain_text("已提交主管审核")
    expect(page.locator("#sync-status")).to_contain_text("4 条已保存在本机")
    assert_tap_targets(page)

    context.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.status.value == "submitted"
        assert ticket.cause == "无线网络上行带宽不足"
        kinds = [o.kind for o in db.session.execute(select(SyncOp).order_by(SyncOp.id)).scalars()]
        assert kinds == ["contact.made", "remote.guided", "remote.resolved", "order.submitted"]
        assert {o.status.value for o in db.session.execute(select(SyncOp)).scalars()} == {"applied"}
    assert problems == []


def arrive_offline(base, context, number):
    """Signed in, the job opened, the network cut, and the arrival tapped: the start of an offline visit."""
    page = signed_in_app(base, context)
    expect(page.get_by_text(number)).to_be_visible(timeout=10000)
    context.set_offline(True)
    page.get_by_text(number).click()
    step(page, "arrive").get_by_role("button", name="我已到达现场").click()
    return page


def test_signing_before_the_acceptance_test_is_impossible_offline(app, visit_job, phone):
    base, context, problems = phone
    number = visit_job["number"]
    page = arrive_offline(base, context, number)
    sign = step(page, "sign")
    expect(sign.get_by_role("link", name="请客户查看并签字")).to_have_count(0)  # not offered...
    expect(sign.locator(".why")).not_to_be_empty()  # ...and it says why (the server's own message)
    depart = step(page, "depart")
    expect(depart.get_by_role("button")).to_have_count(0)
    # Opened by its address all the same: refused with the reason, nothing signed.
    page.goto(base + f"/field/#/job/{number}/sign")
    expect(page.locator("canvas.signature-pad")).to_have_count(0)
    expect(page.locator("h1")).to_have_text("客户签字")
    expect(page.locator("#app-topbar")).to_be_visible()
    context.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        assert [o.kind for o in db.session.execute(select(SyncOp)).scalars()] == ["visit.arrived"]
    assert problems == []


def test_signing_before_the_cause_and_work_done_is_impossible_offline(app, visit_job, phone):
    """The order the customer signs prints the cause and the work done: with the test passed and the customer's
    confirmation but nothing written, signing is not offered (the server's reason shown) until they are."""
    base, context, problems = phone
    number = visit_job["number"]
    page = arrive_offline(base, context, number)
    expect(step(page, "arrive")).to_contain_text("已完成")
    count = open_step(page, "tests").locator("button[data-test]").count()
    assert count >= 1
    for i in range(count):
        open_step(page, "tests").locator("li").nth(i).get_by_role("button", name="通过", exact=True).click()
    expect(step(page, "tests")).to_contain_text("已完成")
    open_step(page, "confirm").get_by_role("button", name="客户确认设备运行正常").click()
    expect(step(page, "confirm")).to_contain_text("已完成")
    sign = step(page, "sign")
    expect(sign.get_by_role("link", name="请客户查看并签字")).to_have_count(0)
    expect(sign.locator(".why")).to_have_text("请先记录故障原因和处理措施。")
    cause = open_step(page, "cause")
    cause.get_by_label("原因", exact=True).fill("主输出 XLR 接头松动")
    cause.get_by_label("处理措施").fill("重新插紧主输出线缆并固定")
    cause.get_by_role("button", name="保存").click()
    expect(step(page, "cause")).to_contain_text("已完成")
    expect(step(page, "sign").locator(".why")).to_have_count(0)
    expect(open_step(page, "sign").get_by_role("link", name="请客户查看并签字")).to_be_visible()
    assert problems == []


def test_reschedule_then_the_preparation_is_confirmed_again(app, visit_job, phone):
    from datetime import UTC, datetime, timedelta

    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    page.goto(job_url(base, number))
    expect(step(page, "arrive")).to_have_attribute("aria-current", "step", timeout=10000)
    expect(step(page, "prepare")).to_contain_text("已完成")
    schedule = step(page, "schedule")
    schedule.locator("summary").click()
    moved = page.evaluate("""(() => { const d = new Date(Date.now() + 26 * 3600 * 1000);
        const p = (n) => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    })()""")
    schedule.get_by_label("上门日期和时间").fill(moved)
    schedule.get_by_role("button", name="修改上门时间").click()
    prepare = step(page, "prepare")
    expect(prepare).to_have_attribute("aria-current", "step")
    expect(step(page, "arrive").get_by_role("button")).to_have_count(0)  # arrival waits for the preparation
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    boxes = prepare.locator("label.check-row")
    expect(boxes.first).to_be_visible(timeout=10000)
    for i in range(boxes.count()):
        boxes.nth(i).click()
    prepare.get_by_role("button", name="全部确认，已备齐").click()
    expect(step(page, "prepare")).to_contain_text("已完成")
    expect(step(page, "arrive")).to_have_attribute("aria-current", "step")
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        ops = db.session.execute(select(SyncOp).order_by(SyncOp.id)).scalars().all()
        assert [(o.kind, o.status.value) for o in ops] == [("visit.scheduled", "applied"),
                                                           ("prep.confirmed", "applied")]
        visit = access.get_ticket(number).visits[-1]
        scheduled = visit.scheduled_at.replace(tzinfo=visit.scheduled_at.tzinfo or UTC)
        assert scheduled > datetime.now(UTC) + timedelta(hours=25) and visit.prep_confirmed_at is not None
    assert problems == []


CLOCK_OFFSET_IN_INDEXEDDB = """(async () => {
    const db = await new Promise((resolve) => {
        const r = indexedDB.open('fieldservice');
        r.onsuccess = () => resolve(r.result);
    });
    const value = await new Promise((resolve) => {
        const r = db.transaction('meta').objectStore('meta').get('clock_offset');
        r.onsuccess = () => resolve(r.result);
    });
    db.close();
    return value === undefined ? null : value;
})()"""


@pytest.mark.parametrize("skew_minutes", [-5, 5])
def test_a_phone_clock_minutes_off_loses_nothing_and_sends_corrected_times(app, visit_job, phone, skew_minutes):
    from datetime import UTC, datetime, timedelta

    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    page.clock.set_system_time(datetime.now(UTC) + timedelta(minutes=skew_minutes))
    page.goto(job_url(base, number))
    page.reload()  # the phone's clock is off from the start; the app's first exchange estimates the offset
    for _ in range(300):  # (polled from here: the strict CSP refuses page.wait_for_function's strings)
        offset = page.evaluate(CLOCK_OFFSET_IN_INDEXEDDB)
        if offset is not None and abs(offset + skew_minutes * 60000) < 30000:
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail(f"the phone never estimated its clock offset (last {offset})")
    tapped = datetime.now(UTC)
    step(page, "arrive").get_by_role("button", name="我已到达现场").click()
    expect(step(page, "arrive")).to_contain_text("已完成", timeout=20000)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    synced = datetime.now(UTC)
    tolerance = timedelta(seconds=30)  # the offset's estimate (half a round trip) and the test's own steps
    with app.app_context():
        (op,) = db.session.execute(select(SyncOp)).scalars().all()
        assert op.status.value == "applied"
        body = json.loads(op.body)
        sent_at = datetime.fromisoformat(body["at"])
        device_at = datetime.fromisoformat(body["device_at"])
        # Corrected to the server's clock (within the real time of the tap), the phone's own clock kept.
        assert tapped - tolerance <= sent_at <= synced + tolerance, (tapped, sent_at, synced)
        skew = timedelta(minutes=skew_minutes)
        assert tapped + skew - tolerance <= device_at <= synced + skew + tolerance, (tapped, device_at, skew)
        # What is stored is the real time of the tap, neither the phone's clock nor corrected twice.
        arrived = access.get_ticket(number).visits[-1].arrived_at
        assert tapped - tolerance <= arrived <= synced + tolerance, (tapped, arrived, synced)
        assert op.client_at == sent_at and op.device_at == device_at
    assert problems == []


def test_a_refused_signature_is_shown_on_the_job_and_stays_recoverable(app, visit_job, phone):
    number = visit_job["number"]
    ready_to_sign(app, number)
    base, context, problems = phone
    page = signed_in_app(base, context)
    page.goto(job_url(base, number))
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    # Each done step shows its tick and the time the server recorded, the cause and the test included.
    for name in ("arrive", "problem", "cause", "tests", "confirm", "precautions"):
        expect(step(page, name)).to_have_class(re.compile(r"\bdone\b"), timeout=20000)
        expect(step(page, name).locator("h2 .step-time")).to_have_count(1)
        expect(step(page, name).locator("h2 .step-no")).to_have_text("✓")
    message = "客户尚未确认设备运行正常。"

    def refuse(route):
        ops = json.loads(route.request.post_data)["ops"]
        route.fulfill(status=200, content_type="application/json", body=json.dumps({
            "results": [{"op_id": o["op_id"], "status": "rejected", "code": "not_confirmed", "message": message}
                        for o in ops], "server_time": None}))

    page.route("**/api/v1/sync", refuse)
    step(page, "sign").get_by_role("link", name="请客户查看并签字").click()
    page.get_by_label("您的姓名").fill("王五")
    page.locator(".star[data-rating='4']").click()
    draw_signature(page)
    page.get_by_role("button", name="确认并签字").click()
    page.get_by_role("button", name="将手机交还技术员").click()
    page.get_by_role("link", name="我是技术员：返回工单").click()
    refusal = step(page, "sign").locator(".refusal")
    expect(refusal).to_contain_text(message, timeout=20000)
    expect(refusal).to_contain_text("请先请客户确认设备运行正常")
    expect(page.locator("#sync-status")).to_contain_text("1 条被服务器拒绝", timeout=20000)
    assert_status_consistent(page)
    refusal.get_by_role("button", name="知道了").click()
    expect(step(page, "sign").locator(".refusal")).to_have_count(0)
    # Acknowledged, not deleted: the customer's name, rating and signature are there again.
    page.unroute("**/api/v1/sync")
    step(page, "sign").get_by_role("link", name="请客户查看并签字").click()
    expect(page.get_by_label("您的姓名")).to_have_value("王五")
    expect(page.locator(".star[data-rating='4']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("canvas.signature-pad")).to_be_visible()
    # Drawn again from the kept strokes (waited for as a state: the screen may be redrawn meanwhile).
    wait_for_state(page, lambda: signature_has_ink(page), "the refused signature drawn again")
    page.get_by_role("button", name="确认并签字").click()
    page.get_by_role("button", name="将手机交还技术员").click()
    page.get_by_role("link", name="我是技术员：返回工单").click()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        signature = db.session.execute(select(Signature)).scalar_one()
        assert signature.signer_name == "王五" and signature.rating == 4
    assert problems == []


def test_every_field_screen_passes_axe(app, visit_job, phone):
    """axe-core (WCAG 2.2 AA + best practice) on the jobs list, a job with every step folded and opened, the
    customer's signing screen, the refused list and the offline page; and the tap targets on each."""
    from .helpers import axe_violations

    number = visit_job["number"]
    ready_to_sign(app, number)
    base, context, problems = phone
    page = signed_in_app(base, context)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    expect(page.get_by_text(number)).to_be_visible()
    assert axe_violations(page) == []
    page.goto(job_url(base, number))
    expect(step(page, "sign")).to_have_attribute("aria-current", "step")
    assert axe_violations(page) == []
    assert_tap_targets(page)
    for summary in page.locator("section.step details > summary").all():
        summary.click()  # every done step opened for review
    assert axe_violations(page) == []
    assert_tap_targets(page)
    step(page, "sign").get_by_role("link", name="请客户查看并签字").click()
    expect(page.locator("canvas.signature-pad")).to_be_visible()
    assert axe_violations(page) == []
    assert_tap_targets(page)
    # Handed back (the customer's screen holds until then), then the refused list.
    page.locator(".handback-bar").get_by_role("button", name="将手机交还技术员").click()
    page.locator(".handback-bar").get_by_role("link", name="我是技术员：返回工单").click()
    expect(step(page, "sign")).to_be_visible()
    page.goto(base + "/field/#/rejected")
    expect(page.locator("h1")).to_have_text("服务器拒绝的记录")
    assert axe_violations(page) == []
    page.goto(base + "/field/offline")
    assert axe_violations(page) == []
    assert problems == []


def test_the_first_steps_pass_axe_in_english(app, assigned_job, phone):
    from .helpers import axe_violations

    base, context, problems = phone
    page = signed_in_app(base, context)
    with app.app_context():
        from domain.core.models import User

        db.session.execute(select(User).where(User.username == "li")).scalar_one().locale = "en"
        db.session.commit()
    page.goto(job_url(base, assigned_job["number"]))
    page.reload()
    expect(step(page, "contact").locator("h2")).to_contain_text("First contact")
    assert axe_violations(page) == []
    step(page, "contact").get_by_role("button", name="Save the contact").click()
    expect(step(page, "choose")).to_have_attribute("aria-current", "step")
    assert axe_violations(page) == []
    assert_tap_targets(page)
    assert problems == []


def test_new_data_from_the_server_never_replaces_the_control_being_typed_in(app, visit_job, phone):
    """A sync brings new data while the technician types a note: the text area (the same element, focused, with its
    text) stays; the part nobody is using is redrawn with the new data."""
    from datetime import UTC, datetime

    number = visit_job["number"]
    base, context, problems = phone
    page = signed_in_app(base, context)
    arrive(page, base, number)
    box = notes_step(page).locator("textarea")
    box.click()
    box.press_sequentially("客户要求")
    page.evaluate("document.activeElement.dataset.marker = 'typing'")
    problem_before = step(page, "problem").evaluate("(el) => { el.dataset.marker = 'old'; return el.textContent; }")
    with app.app_context():  # the same job changed elsewhere (the desktop page): new data at the next sync
        from zoneinfo import ZoneInfo

        from domain.core import context as domain_context
        from domain.core.models import User
        from domain.fieldwork import onsite

        ticket = access.get_ticket(number)
        ctx = domain_context.Context(actor=db.session.get(User, ticket.assignee_id), tz=ZoneInfo("Asia/Shanghai"))
        onsite.confirm_problem(ticket, ctx, "桌面端确认：主输出无声", datetime.now(UTC))
        progress_notes.add_note(ticket, "桌面端记录：已更换线缆", ctx)  # the part being typed in changes too
        db.session.commit()
    page.evaluate("window.dispatchEvent(new Event('online'))")  # the network "comes back": a sync
    expect(step(page, "problem")).to_contain_text("桌面端确认：主输出无声", timeout=20000)
    assert step(page, "problem").evaluate("(el) => el.dataset.marker || ''") == ""  # that part was redrawn...
    assert problem_before != step(page, "problem").inner_text()
    focused = page.evaluate("[document.activeElement.dataset.marker, document.activeElement.value]")
    assert focused == ["typing", "客户要求"]  # ...the one being typed in was not
    box.press_sequentially("下次先电话确认")
    expect(notes_step(page).locator("textarea")).to_have_value("客户要求下次先电话确认")
    # Once the technician is done there, the next redraw brings that part up to date, the draft kept.
    page.locator("h1").click()
    with app.app_context():
        ticket = access.get_ticket(number)
        ctx = domain_context.Context(actor=db.session.get(User, ticket.assignee_id), tz=ZoneInfo("Asia/Shanghai"))
        progress_notes.add_note(ticket, "桌面端记录：再次确认", ctx)
        db.session.commit()
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(notes_step(page)).to_contain_text("桌面端记录：已更换线缆", timeout=20000)
    expect(notes_step(page).locator("textarea")).to_have_value("客户要求下次先电话确认")
    assert problems == []


def test_a_returned_order_comes_back_with_the_supervisors_comment_and_is_submitted_again(app, make_user, phone):
    from zoneinfo import ZoneInfo

    from domain.core import context as domain_context
    from domain.core.models import User
    from domain.documents import review
    from domain.requests.models import FaultCategory

    from .orderfactory import make_signed_order

    with app.app_context():
        made = make_signed_order(make_user, photos=0)
        ticket = access.get_ticket(made["number"])
        tz = ZoneInfo("Asia/Shanghai")
        tech = domain_context.Context(actor=db.session.get(User, made["ids"]["tech"]), tz=tz)
        fault = db.session.execute(select(FaultCategory).where(
            FaultCategory.device_category_id == ticket.device_category_id)).scalars().first()
        from domain.fieldwork import onsite

        onsite.depart(ticket, tech, None)
        review.save_internal_fields(ticket, tech, fault_category_id=fault.id if fault else None, root_cause="",
                                    solution_summary="更换 SDI 线缆", parts_used="")
        review.submit(ticket, tech)
        review.review(ticket, domain_context.Context(actor=db.session.get(User, made["ids"]["boss"]), tz=tz),
                      approve=False, comment="请写明根本原因：线缆为何松动")
        db.session.commit()
        username = db.session.get(User, made["ids"]["tech"]).username
    base, context, problems = phone
    page = signed_in_app(base, context, username)
    number = made["number"]
    expect(page.get_by_text(number)).to_be_visible(timeout=10000)
    expect(page.locator("li", has_text=number)).to_contain_text("主管已退回")
    page.get_by_text(number).click()
    expect(page.locator("section.returned")).to_contain_text("请写明根本原因：线缆为何松动")
    submit = step(page, "submit")
    expect(submit).to_have_attribute("aria-current", "step")
    expect(submit.get_by_label("解决方案摘要（用于知识库）")).to_have_value("更换 SDI 线缆")  # the earlier write-up
    submit.get_by_label("根本原因（内部）").fill("机柜内线缆受力，接头长期松动")
    submit.get_by_role("button", name="提交主管审核").click()
    expect(step(page, "submit")).to_contain_text("已提交主管审核")
    expect(page.locator("section.returned")).to_have_count(0)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.status.value == "submitted" and ticket.root_cause == "机柜内线缆受力，接头长期松动"
    assert problems == []


def test_the_customer_confirms_only_a_finished_test_and_a_failure_knowingly(app, visit_job, phone, tmp_path):
    """Offline, tapping only: an item not applicable needs its reason; the customer's confirmation is not offered
    while an item has no result; with a failed item it is refused until the acknowledgement is ticked, and the
    server then records exactly that (the same declared rules on both sides)."""
    base, context, problems = phone
    number = visit_job["number"]
    page = arrive_offline(base, context, number)
    expect(step(page, "arrive")).to_contain_text("已完成")
    rows = open_step(page, "tests").locator("li")
    count = rows.count()
    assert count == 4  # the mixer's checklist
    rows.nth(0).get_by_role("button", name="不适用", exact=True).click()
    expect(page.locator("#announce")).to_have_text("请写明此项不适用的原因。")
    expect(rows.nth(0).locator(".badge")).to_have_count(0)  # nothing recorded
    rows.nth(0).get_by_role("textbox").fill("客户现场无此信号源")
    rows.nth(0).get_by_role("button", name="不适用", exact=True).click()
    expect(open_step(page, "tests").locator("li").nth(0).locator(".badge")).to_have_text("— 不适用")
    open_step(page, "tests").locator("li").nth(1).get_by_role("button", name="未通过", exact=True).click()
    # Two items still without a result: the confirmation is not offered, and the step says why.
    expect(step(page, "confirm").get_by_role("button", name="客户确认设备运行正常")).to_have_count(0)
    expect(step(page, "confirm").locator(".why")).to_contain_text("验收测试的每一项都须先有结果")
    for i in (2, 3):
        open_step(page, "tests").locator("li").nth(i).get_by_role("button", name="通过", exact=True).click()
    expect(open_step(page, "confirm").locator(".ack")).to_contain_text("未恢复：耳返与主输出正常")
    open_step(page, "confirm").get_by_role("button", name="客户确认设备运行正常").click()
    expect(page.locator("#announce")).to_contain_text("验收测试有未通过的项目")
    expect(step(page, "confirm")).not_to_contain_text("已完成")
    open_step(page, "confirm").get_by_label("设备部分功能未恢复，客户已知悉").check()
    open_step(page, "confirm").get_by_role("button", name="客户确认设备运行正常").click()
    expect(step(page, "confirm")).to_contain_text("设备部分功能未恢复，客户已知悉")
    cause = open_step(page, "cause")
    cause.get_by_label("原因", exact=True).fill("主输出模块损坏")
    cause.get_by_label("处理措施").fill("更换备用线缆，主输出待返厂维修")
    cause.get_by_role("button", name="保存").click()
    expect(step(page, "cause")).to_contain_text("已完成")
    # What the customer reviews before signing says what does not work and what they acknowledged.
    open_step(page, "sign").get_by_role("link", name="请客户查看并签字").click()
    summary = page.locator('[data-key="summary"]')
    expect(summary).to_contain_text("— 不适用: 各通道输入有信号 (客户现场无此信号源)")
    expect(summary).to_contain_text("✗ 耳返与主输出正常")
    expect(summary).to_contain_text("设备部分功能未恢复，客户已知悉")
    page.screenshot(path=str(tmp_path / "sign-summary.png"), full_page=True)
    context.set_offline(False)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    with app.app_context():
        ticket = access.get_ticket(number)
        kinds = [o.kind for o in db.session.execute(select(SyncOp).order_by(SyncOp.id)).scalars()]
        assert kinds == ["visit.arrived", *["test.recorded"] * 4, "customer.confirmed", "work.recorded"]
        assert {o.status.value for o in db.session.execute(select(SyncOp)).scalars()} == {"applied"}
        na = [t for t in ticket.tests if t.not_applicable]
        assert len(na) == 1 and na[0].note == "客户现场无此信号源" and not na[0].passed
        assert ticket.visits[-1].failures_acknowledged and ticket.visits[-1].customer_confirmed_at is not None
    assert problems == []


def test_the_customer_may_sign_without_rating(app, visit_job, chromium):
    """The rating is the customer's to give or skip (the sync contract: "1..5 or absent"): no stars, and the
    signature goes, the order is signed, the request page and the weekly figures leave the rating out."""
    number = visit_job["number"]
    page = sign_screen(app, chromium, number, density=2, rate=False)
    expect(page.get_by_text("您对本次服务满意吗？（1 到 5 分，可不评）")).to_be_visible()
    draw_signature(page)
    page.get_by_role("button", name="确认并签字").click()
    expect(page.get_by_text("请将手机交还技术员")).to_be_visible()
    page.get_by_role("button", name="将手机交还技术员").click()
    page.get_by_role("link", name="我是技术员：返回工单").click()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    [op] = signed_ops(app)
    assert op.status == "applied" and "rating" not in json.loads(op.body)["data"]
    with app.app_context():
        assert access.get_ticket(number).signature.rating is None


def test_the_first_load_asks_for_the_jobs_once_and_never_before_what_waits_to_be_sent(app, visit_job, phone):
    """static/field/early.js asks for the feed as the page is read (the modules take seconds on a slow line); the
    first sync uses that answer instead of asking again, unless the phone had acts waiting: they go first, and the
    list comes from a feed asked after them (the early one could predate them)."""
    base, context, problems = phone
    number = visit_job["number"]
    page = signed_in_app(base, context)
    expect(page.get_by_text(number)).to_be_visible(timeout=20000)
    feeds = []
    page.on("request", lambda r: feeds.append(r.url) if "/api/v1/me/jobs" in r.url else None)
    page.reload()
    expect(page.get_by_text(number)).to_be_visible(timeout=20000)
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    page.wait_for_timeout(500)
    assert len(feeds) == 1
    # An act that could not be sent (the network fails under it), waiting when the app is opened again.
    page.goto(job_url(base, number))
    page.route("**/api/v1/sync", lambda route: route.abort())
    step(page, "arrive").get_by_role("button", name="我已到达现场").click()
    expect(page.locator("#sync-status")).to_contain_text("1 条", timeout=20000)
    page.unroute("**/api/v1/sync")
    feeds.clear()
    page.reload()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
    page.wait_for_timeout(500)
    assert len(feeds) == 2  # the early answer left unused: the list's feed was asked after the act was sent
    with app.app_context():
        assert access.get_ticket(number).visits[-1].arrived_at is not None
    assert problems == []
