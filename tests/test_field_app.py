"""The offline app in Debian's Chromium at phone size: a whole visit done with no network, then synced once."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from domain.core.db import db
from domain.core.models import AcceptanceTest, Precaution, ProgressNote, Signature, SyncOp
from domain.requests import dispatch

from .conftest import PASSWORD, browser_sign_in
from .orderfactory import make_prepared_visit

pytestmark = pytest.mark.browser


@pytest.fixture
def visit_job(app, make_user):
    with app.app_context():
        return make_prepared_visit(make_user, tech="li")


@pytest.fixture
def phone(chromium):
    base, new_context = chromium
    context = new_context()
    problems = []
    context.on("weberror", lambda e: problems.append(str(e.error)))
    return base, context, problems


def signed_in_app(base, context):
    page = context.new_page()
    browser_sign_in(page, base, "li", next_path="/field/")
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
    expect(page.locator("#sync-status")).to_contain_text("已全部发送")
    page.goto(base + "/field/#/rejected")
    expect(page.locator("li.rejected")).to_contain_text(message)
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 0  # it never reached the server
    assert problems == []


def job_url(base, number):
    return base + f"/field/#/job/{number}"


def notes_step(page):
    return page.locator("section.step", has_text="处理进展与照片")


def arrive(page, base, number):
    page.goto(job_url(base, number))
    page.get_by_role("button", name="我已到达现场").click()
    expect(notes_step(page)).to_be_visible()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)


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
    tests = "section.step:has-text('与客户一起验收测试') button[data-test]"
    first.locator(tests).nth(0).click()
    second.locator(tests).nth(1).click()
    expect(second.locator("#sync-status")).to_contain_text("4 条待发送")  # one outbox, shared by the tabs

    context.set_offline(False)  # both tabs hear "online" and try to flush at the same moment
    for page in (first, second):
        expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=30000)
    with app.app_context():
        ops = db.session.execute(select(SyncOp)).scalars().all()
        assert sorted(o.kind for o in ops) == ["note.added", "note.added", "test.recorded", "test.recorded",
                                               "visit.arrived"]
        assert {o.status.value for o in ops} == {"applied"}
        assert sum(o.replays for o in ops) == 0  # no op was sent twice, not even to be answered "duplicate"
        assert sorted(db.session.execute(select(ProgressNote.text)).scalars()) == sorted(texts.values())
        assert db.session.execute(select(func.count(AcceptanceTest.id))).scalar_one() == 2
        from domain.core.models import AuditEvent

        added = db.session.execute(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "note.added")).scalar_one()
        assert added == 2
    for page in (first, second):
        page.reload()
        for text in texts.values():  # each tab shows both notes, once
            expect(notes_step(page).locator("li", has_text=text)).to_have_count(1, timeout=10000)
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

    from domain.core.models import Blob, Photo

    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    arrive(page, base, number)
    original = tmp_path / "IMG_0412.jpg"
    original.write_bytes(camera_jpeg())

    context.set_offline(True)  # the photo waits in the outbox: what the phone stored can be looked at
    notes_step(page).locator("input[type=file][capture]").set_input_files(str(original))
    # The screen is redrawn before the technician taps "add" (as when a sync brings new data): still chosen.
    page.evaluate("window.dispatchEvent(new HashChangeEvent('hashchange'))")
    expect(notes_step(page).locator("input[type=file][capture]")).to_have_js_property("files.length", 1)
    notes_step(page).get_by_role("button", name="添加照片").click()
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
    assert problems == []


def test_knowledge_base_answers_for_the_job_are_there_offline(app, visit_job, phone):
    from datetime import UTC, datetime

    from domain.core.enums import ArticleStatus
    from domain.core.models import KbArticle

    number = visit_job["number"]
    with app.app_context():
        ticket = dispatch.get_ticket(number)
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
