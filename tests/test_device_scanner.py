"""Scanning a device's label on the phone (issue 22 item 6): a QR label made as the label sheets make it (segno)
and played to Chromium as its camera (a Y4M file, Chromium's fake video capture). Desktop Chromium on Linux has no
BarcodeDetector of its own, and the test removes it where it would have one: the vendored ZXing polyfill reads the
label, offline, its WebAssembly from the service worker's cache. Also: a phone with no camera gets the "no camera"
message and types; the polyfill is served from this site only (no CDN), outside the app shell, with the CSP
allowing WebAssembly and nothing broader."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from domain.core.db import db
from domain.devices.models import DeviceCheck

from .helpers import CHROMIUM, CHROMIUM_ARGS, PHONE, live_server, look_at, signed_in_app, step
from .test_device_swaps import op, sync, unit_on_site  # noqa: F401 (a fixture)

SHOTS = Path(os.environ.get("SHOT_DIR", "/tmp"))
LABEL_URL = "http://127.0.0.1:5000/d/labelenc0007"  # the label of the request's unit (the site's PUBLIC_URL)
SCANNER = "/static/vendor/barcode-detector-3.2.2/"


def qr_y4m(text: str, path: Path, frames: int = 10) -> Path:
    """A Y4M video of a QR code of `text` (black on white, centred in 640x480), `frames` identical frames: what
    Chromium plays as its camera with --use-file-for-fake-video-capture. 4:2:0 planes, full range (C420jpeg),
    from Pillow's YCbCr (JPEG's conversion)."""
    import segno
    from PIL import Image

    png = io.BytesIO()
    segno.make(text, error="m").save(png, kind="png", scale=8, border=4)
    code = Image.open(io.BytesIO(png.getvalue())).convert("RGB")
    picture = Image.new("RGB", (640, 480), "white")
    picture.paste(code, ((640 - code.width) // 2, (480 - code.height) // 2))
    y, cb, cr = picture.convert("YCbCr").split()
    planes = y.tobytes() + cb.resize((320, 240)).tobytes() + cr.resize((320, 240)).tobytes()
    with path.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path


def test_the_video_carries_a_readable_code(tmp_path):
    """The fake camera's picture itself decodes (zxing-cpp in Python): a failure below is the phone's."""
    import zxingcpp
    from PIL import Image

    video = qr_y4m(LABEL_URL, tmp_path / "label.y4m", frames=1).read_bytes()
    header, frame = video.split(b"\n", 1)
    assert header.startswith(b"YUV4MPEG2 W640 H480") and frame.startswith(b"FRAME\n")
    luma = Image.frombytes("L", (640, 480), frame[6:6 + 640 * 480])
    assert [r.text for r in zxingcpp.read_barcodes(luma)] == [LABEL_URL]
    assert len(frame) == 6 + 640 * 480 * 3 // 2


@pytest.fixture(scope="module")
def camera_browser(chromium_browser, tmp_path_factory):
    """Debian's Chromium whose camera films the request unit's QR label (the session's Chromium has no camera),
    launched by the session's Playwright (one Playwright a process)."""
    video = qr_y4m(LABEL_URL, tmp_path_factory.mktemp("camera") / "label.y4m")
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}",
            "--use-fake-ui-for-media-stream"]
    browser = chromium_browser.browser_type.launch(executable_path=CHROMIUM, args=args)
    yield browser
    browser.close()


def scanner_kept(page) -> int:
    return page.evaluate("caches.open('field-scanner').then((cache) => cache.keys()).then((keys) => keys.length)")


def test_offline_the_camera_reads_the_label_with_the_polyfill_and_the_unit_matches(app, unit_on_site,  # noqa: F811
                                                                                    camera_browser):
    from playwright.sync_api import expect

    number = unit_on_site
    with live_server(app) as base:
        context = camera_browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **PHONE)
        try:
            context.grant_permissions(["camera"], origin=base)
            # A browser with no BarcodeDetector of its own (iOS Safari, Firefox, desktop Chromium on Linux):
            # removed here in case this Chromium has one, so that the test always proves the polyfill.
            context.add_init_script("delete globalThis.BarcodeDetector;")
            problems, elsewhere, requested = [], [], []
            context.on("weberror", lambda e: problems.append(str(e.error)))
            context.on("request", lambda r: (requested if r.url.startswith(base) else elsewhere).append(r.url))
            page = signed_in_app(base, context)
            expect(page.get_by_text(number)).to_be_visible(timeout=20000)
            assert page.evaluate("'BarcodeDetector' in globalThis") is False
            # Asked for once the app is open (keepScanner): the polyfill kept by the service worker for offline.
            for _ in range(100):
                if scanner_kept(page) == 3:
                    break
                page.wait_for_timeout(100)
            assert scanner_kept(page) == 3
            # Only the service worker's cache from here (the browser's HTTP cache may have been evicted).
            context.new_cdp_session(page).send("Network.clearBrowserCache")
            context.set_offline(True)  # in the basement
            page.get_by_text(number).click()
            section = step(page, "device")
            expect(section).to_be_visible(timeout=20000)
            section.locator("summary").click()
            code = section.get_by_label("设备标签、资产编号或序列号")
            section.get_by_role("button", name="用相机扫码").first.click()
            expect(code).to_have_value(LABEL_URL, timeout=20000)
            expect(section.locator("video")).to_have_count(0)  # the camera stopped once read
            section.get_by_role("button", name="核对设备").click()
            expect(page.locator("#announce")).to_have_text("是本请求的设备。")
            expect(section.locator("[data-recorded]")).to_contain_text(f"已核对：{LABEL_URL} 是本请求的设备。")
            look_at(section, SHOTS / "device-scanned-zh.png")
            context.set_offline(False)
            expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)
        finally:
            context.close()
    with app.app_context():
        [check] = db.session.execute(select(DeviceCheck)).scalars().all()
        assert (check.code, check.matched, check.device.asset_number) == (LABEL_URL, True, "ENC-0007")
    assert elsewhere == []  # no CDN: the library's default .wasm location was never asked for
    assert any(url.endswith(SCANNER + "zxing_reader.wasm") for url in requested)
    assert problems == []


def test_a_reader_that_cannot_be_loaded_is_said_and_typing_goes_on(app, unit_on_site, camera_browser):  # noqa: F811
    """No service worker (so nothing kept the polyfill) and no network when "scan" is tapped: the camera stops,
    the phone says the reader could not be loaded, the code is typed."""
    from playwright.sync_api import expect

    from .helpers import browser_sign_in, job_url

    with live_server(app) as base:
        context = camera_browser.new_context(locale="zh-CN", service_workers="block", **PHONE)
        try:
            context.grant_permissions(["camera"], origin=base)
            context.add_init_script("delete globalThis.BarcodeDetector;")
            problems = []
            context.on("weberror", lambda e: problems.append(str(e.error)))
            page = context.new_page()
            browser_sign_in(page, base, "li", next_path="/field/")
            page.goto(job_url(base, unit_on_site))
            section = step(page, "device")
            expect(section).to_be_visible(timeout=20000)
            section.locator("summary").click()
            context.set_offline(True)
            section.get_by_role("button", name="用相机扫码").first.click()
            expect(page.locator("#announce")).to_have_text("无法加载扫码功能：请手动输入编码。", timeout=20000)
            expect(section.locator("video")).to_have_count(0)
            code = section.get_by_label("设备标签、资产编号或序列号")
            expect(code).to_have_value("")
            code.fill("MW-7")
            section.get_by_role("button", name="核对设备").click()
            expect(page.locator("#announce")).to_have_text("是本请求的设备。")
            assert problems == []
        finally:
            context.close()


def test_with_no_camera_the_technician_is_told_and_types(app, unit_on_site, chromium):  # noqa: F811
    """The session's Chromium has no camera: the scan button is offered (a camera API and the polyfill), the
    camera cannot be had, the "no camera" message says so, typing goes on."""
    from playwright.sync_api import expect

    base, new_context = chromium
    context = new_context()
    problems = []
    context.on("weberror", lambda e: problems.append(str(e.error)))
    page = signed_in_app(base, context)
    page.goto(base + f"/field/#/job/{unit_on_site}")
    section = step(page, "device")
    expect(section).to_be_visible(timeout=20000)
    section.locator("summary").click()
    section.get_by_role("button", name="用相机扫码").first.click()
    expect(page.locator("#announce")).to_have_text("无法使用相机：请手动输入编码。")
    section.get_by_label("设备标签、资产编号或序列号").fill("ENC-0007")
    section.get_by_role("button", name="核对设备").click()
    expect(page.locator("#announce")).to_have_text("是本请求的设备。")
    assert problems == []


def test_the_polyfill_is_served_here_outside_the_shell_and_the_csp_allows_only_webassembly(app, client):
    from blueprints.field.routes import SCANNER_FILES, SHELL_FILES

    csp = client.get("/auth/login").headers["Content-Security-Policy"]
    script_src = next(part.split()[1:] for part in csp.split(";") if part.split()[0] == "script-src")
    assert script_src == ["'self'", "'wasm-unsafe-eval'"]
    sw = client.get("/sw.js").get_data(as_text=True)
    precache = sw.split("const PRECACHE = ", 1)[1].split(";", 1)[0]
    scanner = sw.split("const SCANNER = ", 1)[1].split(";", 1)[0]
    for name in SCANNER_FILES:
        assert name not in SHELL_FILES and f"/static/{name}" not in precache and f"/static/{name}" in scanner
    with client.get(SCANNER + "zxing_reader.wasm", headers={"Accept-Encoding": "br"}) as wasm:
        assert wasm.status_code == 200 and wasm.mimetype == "application/wasm"
        assert wasm.headers["Content-Encoding"] == "br" and len(wasm.data) < 450_000  # 1.1 MB plain
        assert "immutable" in wasm.headers["Cache-Control"]
    # The phone points the library at this site's .wasm (its default is a CDN).
    with client.get("/static/field/devices.js") as served:
        devices_js = served.get_data(as_text=True)
    assert "../vendor/barcode-detector-3.2.2/zxing_reader.wasm" in devices_js and "locateFile" in devices_js
