"""The service order PDF: Chinese done right, archive-grade, safe, rendered once, downloadable per role,
verifiable. Checked with poppler-utils on real PDFs."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from domain.core import context
from domain.core.db import db
from domain.core.enums import RenderState, TicketStatus
from domain.core.errors import Conflict, DomainError
from domain.core.models import AuditEvent, Blob, User
from domain.documents import orders
from domain.documents.models import ServiceOrder
from domain.fieldwork import onsite
from domain.requests import access, assignment, intake, progress_notes, remote_work
from domain.requests.models import Ticket

from .helpers import ZH, signed_client
from .orderfactory import SHANGHAI, make_signed_order, signature_data_url


def poppler(tool: str, *args, stdin_pdf: bytes | None = None, tmp: Path | None = None) -> str:
    if not shutil.which(tool):
        pytest.fail(f"{tool} is missing: apt-get install poppler-utils (make test installs it)")
    result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def signed(app, make_user):
    with app.app_context():
        made = make_signed_order(make_user)
        order = access.get_ticket(made["number"]).service_order
        assert orders.render_order(order)
        db.session.commit()
    return made


def stored_pdf(app, number: str, tmp_path: Path) -> Path:
    with app.app_context():
        order = access.get_ticket(number).service_order
        path = tmp_path / f"{number}.pdf"
        path.write_bytes(db.session.get(Blob, order.pdf_sha256).data)
    return path


# --- the document ------------------------------------------------------------------------------------------


def test_chinese_text_font_and_signature(app, signed, tmp_path):
    pdf = stored_pdf(app, signed["number"], tmp_path)
    text = poppler("pdftotext", "-layout", str(pdf), "-")
    for expected in ("技术支持服务单", signed["number"], "鲸鱼电竞俱乐部", "比赛直播中切换台突然无法切换机位",
                     "更换 SDI 线缆并重新插紧", "客户签字确认", "黄磊", "响应很快，处理专业", "页码 1 / "):
        assert expected in text, expected
    fonts = poppler("pdffonts", str(pdf))
    assert "Noto-Sans-CJK-SC" in fonts
    assert not re.search(r"CJK-?JP|CJKjp|JP-", fonts), fonts
    for line in fonts.splitlines()[2:]:
        assert re.search(r"\byes\s+yes\s+yes\b", line), f"font not embedded as a subset: {line}"
    images = poppler("pdfimages", "-list", str(pdf))
    assert len(images.splitlines()) - 2 >= 5  # 4 photos and the signature


def test_pdfa3_metadata_and_attached_canonical_json(app, signed, tmp_path):
    pdf = stored_pdf(app, signed["number"], tmp_path)
    meta = poppler("pdfinfo", "-meta", str(pdf))
    assert 'pdfaid:part="3"' in meta and "技术支持服务单" in meta
    info = poppler("pdfinfo", str(pdf))
    assert re.search(r"Title:\s+技术支持服务单 " + signed["number"], info)
    assert re.search(r"Author:\s+\S", info)
    listing = poppler("pdfdetach", "-list", str(pdf))
    assert f"{signed['number']}.json" in listing
    out = tmp_path / "attached.json"
    poppler("pdfdetach", "-save", "1", "-o", str(out), str(pdf))
    with app.app_context():
        order = access.get_ticket(signed["number"]).service_order
        view, copy_hash = orders.customer_copy(order)
        # The customer's copy attaches what it shows, tied to the full record by the record's hash.
        assert out.read_text(encoding="utf-8") == orders.canonical_json(view)
        assert orders.content_hash(json.loads(out.read_text(encoding="utf-8"))) == copy_hash
        assert view["record_sha256"] == order.content_sha256 == orders.content_hash(json.loads(order.content_json))


@pytest.mark.pdf_layout
def test_every_page_carries_number_hash_and_page_count(app, make_user, tmp_path):
    with app.app_context():
        made = make_signed_order(make_user, notes=[f"第 {i} 条处理记录：" + "检查线路与设置。" * 12 for i in range(40)])
        order = access.get_ticket(made["number"]).service_order
        assert orders.render_order(order)
        db.session.commit()
        sha = orders.customer_copy(order)[1]
    pdf = stored_pdf(app, made["number"], tmp_path)
    pages = int(re.search(r"Pages:\s+(\d+)", poppler("pdfinfo", str(pdf))).group(1))
    assert pages >= 3
    for page in range(1, pages + 1):
        text = poppler("pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-")
        assert made["number"] in text and sha in text and f"页码 {page} / {pages}" in text


def test_english_order_renders_in_english(app, make_user, tmp_path):
    with app.app_context():
        made = make_signed_order(make_user, tech_locale="en")
        order = access.get_ticket(made["number"]).service_order
        assert order.locale == "en" and orders.render_order(order)
        db.session.commit()
    text = poppler("pdftotext", str(stored_pdf(app, made["number"], tmp_path)), "-")
    assert "Technical support service order" in text and "Customer sign-off" in text
    assert "客户签字确认" not in text and "鲸鱼电竞俱乐部" in text


def test_remote_order_is_marked_remote_without_signature(app, make_user, tmp_path):
    from datetime import UTC, datetime, timedelta

    from domain.core.enums import ContactMethod, Role

    with app.app_context():
        tech = make_user(Role.TECHNICIAN, "remote-tech")[0]
        boss = make_user(Role.SUPERVISOR, "remote-boss")[0]
        desk = make_user(Role.DISPATCHER, "remote-desk")[0]
        now = datetime.now(UTC) - timedelta(hours=1)

        def ctx(user_id, minutes):
            return context.Context(actor=db.session.get(User, user_id), tz=SHANGHAI,
                                    now=now + timedelta(minutes=minutes))

        ticket = intake.create_request({"customer_name": "小满带货工作室", "contact_phone": "13700137003",
                                          "device_model": "Elgato HD60 X", "problem": "OBS 里采集卡画面黑屏",
                                          "urgency": "normal"}, ctx(desk, 0))
        db.session.flush()
        assignment.assign(ticket, db.session.get(User, tech), ctx(boss, 2))
        remote_work.record_contact(ticket, ctx(tech, 5), method=ContactMethod.PHONE)
        remote_work.resolve_remotely(ticket, ctx(tech, 20), cause="分辨率设置错误", work_done="改为 1080p30")
        db.session.commit()
        order = ticket.service_order
        assert order.kind.value == "remote" and orders.render_order(order)
        db.session.commit()
        number = ticket.number
    text = poppler("pdftotext", str(stored_pdf(app, number, tmp_path)), "-")
    assert "远程解决" in text and "无客户签字" in text and "客户签字确认" not in text


def test_hostile_note_text_is_escaped_and_never_fetched(app, make_user, tmp_path):
    hostile = ['<img src="http://127.0.0.1:9/steal.png">', "file:///etc/passwd", '<script>alert(1)</script>',
               "<link rel=stylesheet href=http://127.0.0.1:9/x.css>", "超长文本" * 800]
    with app.app_context():
        made = make_signed_order(make_user, notes=hostile,
                                 problem='<img src="file:///etc/passwd"> 画面卡住')
        order = access.get_ticket(made["number"]).service_order
        content = json.loads(order.content_json)
        fetcher = orders.make_fetcher()
        pdf = orders.write_pdf(orders.order_html(order, content), content, fetcher=fetcher)
    assert all(url.startswith(("fs-blob:", "fs-static:")) for url in fetcher.refused), fetcher.refused
    path = tmp_path / "hostile.pdf"
    path.write_bytes(pdf)
    text = poppler("pdftotext", str(path), "-")
    assert '<img src="http://127.0.0.1:9/steal.png">' in text and "file:///etc/passwd" in text
    assert "root:x:0:0" not in text


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.png", "https://example.com/a.css", "file:///etc/passwd",
                                 "data:image/png;base64,iVBORw0KGgo=", "fs-blob:../../etc/passwd",
                                 "fs-blob:" + "0" * 64, "fs-static:../../settings.py", "fs-static:app.css",
                                 "ftp://127.0.0.1/x"])
def test_fetcher_refuses_everything_but_our_own_content(app, url):
    with app.app_context():
        fetcher = orders.make_fetcher()
        with pytest.raises(ValueError):
            fetcher.fetch(url)
        assert fetcher.refused == [url]


def test_fetcher_serves_stored_blobs_and_print_css(app, signed):
    with app.app_context():
        order = access.get_ticket(signed["number"]).service_order
        png = json.loads(order.content_json)["signature"]["png_sha256"]
        fetcher = orders.make_fetcher()
        assert fetcher.fetch(f"fs-blob:{png}").read().startswith(b"\x89PNG")
        assert b"@page" in fetcher.fetch("fs-static:order.css").read()


def test_missing_photo_is_shown_as_missing(app, make_user, tmp_path):
    with app.app_context():
        made = make_signed_order(make_user, photos=2)
        ticket = access.get_ticket(made["number"])
        gone, photo_sha = ticket.photos[0].thumb_sha256, ticket.photos[0].blob_sha256
        db.session.delete(ticket.photos[0])
        db.session.flush()
        db.session.delete(db.session.get(Blob, gone))
        db.session.commit()
        content = json.loads(ticket.service_order.content_json)
        assert gone in [p["thumb_sha256"] for p in content["photos"]]
        assert orders.render_order(ticket.service_order)
        db.session.commit()
    text = poppler("pdftotext", str(stored_pdf(app, made["number"], tmp_path)), "-").replace("\n", "")
    assert "照片在存储中缺失" in text and photo_sha[:12] in text


@pytest.mark.pdf_layout
def test_fifty_photos_paginate(app, make_user, tmp_path):
    with app.app_context():
        made = make_signed_order(make_user, photos=50)
        assert orders.render_order(access.get_ticket(made["number"]).service_order)
        db.session.commit()
    pdf = stored_pdf(app, made["number"], tmp_path)
    assert int(re.search(r"Pages:\s+(\d+)", poppler("pdfinfo", str(pdf))).group(1)) >= 3
    assert len(poppler("pdfimages", "-list", str(pdf)).splitlines()) - 2 >= 51


# --- frozen content and locking -------------------------------------------------------------------------------


def test_content_hash_is_stable_across_renders(app, signed):
    with app.app_context():
        ticket = access.get_ticket(signed["number"])
        order = ticket.service_order
        again = orders.canonical_content(ticket, locale=order.locale, company=json.loads(order.content_json)["company"],
                                         now=ticket.signature.signed_at)
        assert orders.canonical_json(again) == order.content_json
        assert orders.content_hash(again) == order.content_sha256
        first = order.pdf_sha256
        assert orders.render_order(order)
        assert json.loads(order.content_json)["number"] == signed["number"]
        assert order.pdf_sha256  # a re-render is allowed to differ in its timestamp, never in its content
        assert first


def test_frozen_content_lists_what_the_request_holds_in_its_order(app, make_user):
    """Signing reads the order's contacts, remote sessions, checklist, notes and photos with plain SELECTs (not
    the ORM's relationships, one load each): what it froze must be what the relationships hold, in their order."""
    from datetime import timedelta

    from domain.core.enums import ContactMethod, RemoteOutcome
    from domain.fieldwork import signing
    from domain.requests.models import RemoteSession

    with app.app_context():
        made = make_signed_order(make_user, photos=3, notes=("一", "二", "三"), sign=False)
        ticket = access.get_ticket(made["number"])
        first = ticket.contacts[0].at
        for minutes, ended, outcome in ((2, None, RemoteOutcome.IN_PROGRESS), (1, 3, RemoteOutcome.NEEDS_VISIT)):
            db.session.add(RemoteSession(ticket=ticket, technician_id=made["ids"]["tech"],
                                         method=ContactMethod.SCREEN_SHARE, outcome=outcome, steps=f"步骤 {minutes}",
                                         started_at=first + timedelta(minutes=minutes),
                                         ended_at=ended and first + timedelta(minutes=ended)))
        ctx = context.Context(actor=db.session.get(User, made["ids"]["tech"]), tz=SHANGHAI)
        signing.sign_order(ticket, ctx, signer_name="黄磊", rating=5, comment="", signature_png=signature_data_url(),
                           strokes=[[[1, 2, 0]]], device_id="phone-1", signed_at_client=None)
        db.session.commit()
    with app.app_context():
        ticket = access.get_ticket(made["number"])
        content = json.loads(ticket.service_order.content_json)
        assert [r["steps"] for r in content["remote"]] == ["步骤 1", "步骤 2"]
        visit = ticket.current_visit
        assert content["contacts"] == [{"at": c.at.isoformat(), "method": c.method.value, "reached": c.reached,
                                        "note": c.note} for c in ticket.contacts]
        assert content["remote"] == [{"method": r.method.value, "started_at": r.started_at.isoformat(),
                                      "ended_at": r.ended_at and r.ended_at.isoformat(),
                                      "outcome": r.outcome.value, "steps": r.steps} for r in ticket.remote_sessions]
        assert content["visit"]["checklist"] == [{"kind": i.kind.value, "label": i.label, "checked": i.checked}
                                                 for i in visit.prep_items] != []
        assert content["notes"] == [{"id": str(n.id), "at": n.written_at.isoformat(), "author": n.author.display_name,
                                     "text": n.text, "shown_to_customer": n.shown_to_customer}
                                    for n in ticket.notes]
        assert [n["text"] for n in content["notes"]] == ["一", "二", "三"]
        assert content["photos"] == [{"sha256": p.blob_sha256, "thumb_sha256": p.thumb_sha256, "caption": p.caption,
                                      "taken_at": p.taken_at.isoformat(), "width": p.width, "height": p.height}
                                     for p in ticket.photos]
        assert len(content["photos"]) == 3 and content["customer"]["name"] == ticket.customer.name
        assert content["device"]["category"] == (ticket.device_category.code if ticket.device_category else None)


def test_signed_order_cannot_change(app, signed):
    with app.app_context():
        ticket = access.get_ticket(signed["number"])
        tech = db.session.get(User, signed["ids"]["tech"])
        ctx = context.Context(actor=tech, tz=SHANGHAI)
        for attempt in (lambda: progress_notes.add_note(ticket, "事后补充", ctx),
                        lambda: onsite.record_test(ticket, ctx, item="开机自检正常", passed=False),
                        lambda: onsite.confirm_problem(ticket, ctx, "改写问题"),
                        lambda: onsite.tell_precautions(ticket, ctx, ["新的注意事项"])):
            with pytest.raises(Conflict) as raised:
                attempt()
            assert raised.value.code == "order_locked"
        db.session.rollback()
        assert ticket.status == TicketStatus.SIGNED


def test_departure_is_refused_before_the_customer_signs(app, make_user):
    with app.app_context():
        made = make_signed_order(make_user, sign=False)
        ticket = access.get_ticket(made["number"])
        ctx = context.Context(actor=db.session.get(User, made["ids"]["tech"]), tz=SHANGHAI)
        with pytest.raises(DomainError) as raised:
            onsite.depart(ticket, ctx)
        assert raised.value.code == "not_signed"


@pytest.mark.parametrize("png,code", [
    ("data:image/jpeg;base64,/9j/4AAQ", "signature_not_png"),
    ("data:image/png;base64,not-base64!!", "signature_not_png"),
    ("data:image/png;base64,aGVsbG8gd29ybGQ=", "signature_not_png"),
    (signature_data_url(blank=True), "signature_blank"),
    (signature_data_url(width=20, height=10), "signature_bad_size"),
])
def test_bad_signatures_are_refused(app, make_user, png, code):
    from domain.fieldwork.signing import SignatureError, clean_signature_png

    with pytest.raises(SignatureError) as raised:
        clean_signature_png(png)
    assert raised.value.code == code


def test_signature_is_flattened_and_trimmed(app):
    from PIL import Image

    from domain.fieldwork.signing import clean_signature_png

    cleaned = Image.open(io.BytesIO(clean_signature_png(signature_data_url(width=1200, height=400))))
    assert cleaned.mode == "L" and cleaned.width < 1200 and cleaned.height < 400
    assert cleaned.getpixel((0, 0)) == 255  # transparent background became white


def test_a_failed_render_keeps_the_signature_and_is_retried(app, make_user, monkeypatch, runner):
    def broken(*args, **kwargs):
        raise RuntimeError("fonts unavailable")

    with app.app_context():
        monkeypatch.setattr(orders, "write_pdf", broken)  # the worker's render after signing fails too
        made = make_signed_order(make_user)
        order = access.get_ticket(made["number"]).service_order
        assert orders.render_order(order) is False
        db.session.commit()
        assert order.render_state == RenderState.FAILED and "fonts unavailable" in order.render_error
        assert access.get_ticket(made["number"]).signature is not None
    boss = signed_client(app, made["ids"]["boss"])
    response = boss.get(f"/orders/{made['number']}/pdf", headers=ZH)
    assert response.status_code == 503 and "PDF 暂未生成" in response.get_data(as_text=True)
    assert "PDF 待生成" in boss.get(f"/dispatch/requests/{made['number']}", headers=ZH).get_data(as_text=True)
    monkeypatch.undo()
    result = runner.invoke(args=["orders", "render-pending"])
    assert result.exit_code == 0 and "rendered 1" in result.output
    assert boss.get(f"/orders/{made['number']}/pdf").status_code == 200


# --- downloads, links, verification -----------------------------------------------------------------------


def test_downloads_per_role(app, signed, make_user):
    from domain.core.enums import Role

    number = signed["number"]
    for who, status in (("boss", 200), ("expert", 200), ("tech", 200), ("other", 403)):
        response = signed_client(app, signed["ids"][who]).get(f"/orders/{number}/pdf")
        assert response.status_code == status, who
        if status == 200:
            assert response.headers["Content-Disposition"] == f'attachment; filename="{number}.pdf"'
            assert response.data.startswith(b"%PDF-")
    assert signed_client(app, signed["ids"]["desk"]).get(f"/orders/{number}/pdf").status_code == 403
    assert app.test_client().get(f"/orders/{number}/pdf").status_code == 302
    admin = make_user(Role.ADMIN, "just-admin")[0]
    assert signed_client(app, admin).get(f"/orders/{number}/pdf").status_code == 403


def test_second_download_renders_nothing_and_etag_gives_304(app, signed, monkeypatch):
    boss = signed_client(app, signed["ids"]["boss"])
    first = boss.get(f"/orders/{signed['number']}/pdf")
    monkeypatch.setattr(orders, "write_pdf", lambda *a, **k: pytest.fail("rendered again"))
    second = boss.get(f"/orders/{signed['number']}/pdf")
    assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"]
    with app.app_context():
        assert first.headers["ETag"].strip('"') == access.get_ticket(signed["number"]).service_order.pdf_sha256
    cached = boss.get(f"/orders/{signed['number']}/pdf", headers={"If-None-Match": first.headers["ETag"]})
    assert cached.status_code == 304 and cached.data == b""


def test_customer_link_works_until_it_expires(app, signed, monkeypatch):
    tech = signed_client(app, signed["ids"]["tech"])
    page = tech.post(f"/orders/{signed['number']}/share").get_data(as_text=True)
    link = re.search(r'value="(http[^"]+/o/[^"]+)"', page).group(1)
    path = "/o/" + link.rsplit("/o/", 1)[1]
    anonymous = app.test_client()
    response = anonymous.get(path)
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"].startswith("inline")
    assert anonymous.get(path[:-3] + "xyz").status_code == 404
    # The server's clock a moment past the link's validity (an injected clock, not a wait).
    from datetime import timedelta

    import blueprints.orders.routes as order_routes
    from domain.core.types import utcnow

    days = app.config["SHARE_LINK_DAYS"]
    monkeypatch.setattr(order_routes, "utcnow", lambda: utcnow() + timedelta(days=days, seconds=-5))
    assert anonymous.get(path).status_code == 200
    monkeypatch.setattr(order_routes, "utcnow", lambda: utcnow() + timedelta(days=days, seconds=5))
    expired = anonymous.get(path, headers=ZH)
    assert expired.status_code == 410 and "链接已过期" in expired.get_data(as_text=True)


def test_verify_page_compares_an_uploaded_pdf(app, signed):
    with app.app_context():
        order = access.get_ticket(signed["number"]).service_order
        token = orders.verify_token(order)
        original = db.session.get(Blob, order.pdf_sha256).data
        content_sha = orders.customer_copy(order)[1]  # the hash printed on the customer's copy
    client = app.test_client()
    page = client.get(f"/verify/{token}", headers=ZH).get_data(as_text=True)
    assert signed["number"] in page and content_sha in page and "黄磊" in page
    same = client.post(f"/verify/{token}", data={"pdf": (io.BytesIO(original), "copy.pdf")}, headers=ZH,
                       content_type="multipart/form-data")
    # Rendered, not sealed yet (the worker adds the seal: tests/test_seal.py): the stored file itself is genuine.
    assert "签署的真实服务单" in same.get_data(as_text=True) and "稍后加盖公司电子印章" in same.get_data(as_text=True)
    tampered = original + b"\n% appended after signing\n"
    other = client.post(f"/verify/{token}", data={"pdf": (io.BytesIO(tampered), "copy.pdf")}, headers=ZH,
                        content_type="multipart/form-data")
    assert "此文件与签署时的服务单不一致" in other.get_data(as_text=True)
    empty = client.post(f"/verify/{token}", data={}, headers=ZH, content_type="multipart/form-data")
    assert empty.status_code == 400 and "请选择要检查的 PDF 文件" in empty.get_data(as_text=True)
    assert client.get("/verify/not-a-token").status_code == 404


def test_qr_code_points_to_the_verify_page(app, signed):
    with app.app_context():
        order = access.get_ticket(signed["number"]).service_order
        html = orders.order_html(order)
        assert "/verify/" + orders.verify_token(order) in html and "<svg" in html


def test_zip_export_for_a_date_range(app, signed, make_user):
    from datetime import datetime, timedelta

    today = datetime.now(SHANGHAI).date()
    boss = signed_client(app, signed["ids"]["boss"])
    response = boss.get(f"/orders/export.zip?from={today - timedelta(days=1)}&to={today + timedelta(days=1)}")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.namelist() == [f"{signed['number']}.pdf"]
    assert archive.read(f"{signed['number']}.pdf").startswith(b"%PDF-")
    other = boss.get(f"/orders/export.zip?from={today}&to={today}&technician={signed['ids']['other']}")
    assert zipfile.ZipFile(io.BytesIO(other.data)).namelist() == []
    assert boss.get("/orders/export.zip?from=2026-13-01&to=x").status_code == 400
    assert boss.get(f"/orders/export.zip?from={today}&to={today - timedelta(days=3)}").status_code == 400
    tech = signed_client(app, signed["ids"]["tech"])
    assert tech.get(f"/orders/export.zip?from={today}&to={today}").status_code == 403


def test_signing_is_audited_with_device_and_times(app, signed):
    with app.app_context():
        ticket = access.get_ticket(signed["number"])
        event = db.session.execute(select(AuditEvent).where(AuditEvent.ticket_id == ticket.id,
                                                            AuditEvent.action == "order.signed")).scalar_one()
        assert event.data["device_id"] == "phone-1" and event.to_state == "signed"
        signature = ticket.signature
        assert signature.signed_at_client <= signature.signed_at and signature.strokes
        assert db.session.execute(select(ServiceOrder).where(ServiceOrder.ticket_id == ticket.id)).scalar_one()
        assert db.session.execute(select(Ticket.status).where(Ticket.id == ticket.id)).scalar_one() == "signed"


def test_a_document_uses_the_site_it_is_given(app, signed):
    """Rendering takes the deployment's settings as a Site (domain/core/site.py), not from the app: another
    company's address, key and time zone given in are the ones the page uses."""
    from zoneinfo import ZoneInfo

    from domain.core.settings import Settings
    from domain.core.site import Site

    with app.app_context():
        order = access.get_ticket(signed["number"]).service_order
        other = Site(company="Other Co", public_url="https://orders.example.net", secret_key="another key",
                     tz=ZoneInfo("America/New_York"), templates=app.jinja_env)
        html = orders.order_html(order, site=other)
        token = orders.verify_token(order, other)
        assert "https://orders.example.net/verify/" + token in html
        assert token != orders.verify_token(order)  # signed with the given key, not the app's
        assert orders.read_verify_token(token, other) == signed["number"]
        assert orders.read_verify_token(token, Settings.from_config(app.config).site) is None
        signed_at = access.get_ticket(signed["number"]).signature.signed_at_client
        from domain.core.types import in_zone
        assert in_zone(signed_at, ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M") in html
