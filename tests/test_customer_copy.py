"""What the customer signs and receives: only what is theirs (no internal notes, contact log, deadlines or review
fields), with the signature on the page of what it confirms; the whole record is a second document for staff,
never reachable from a customer link. Checked on real PDFs with poppler-utils."""
from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
from pathlib import Path

import pytest

from domain.core.db import db
from domain.core.models import Blob
from domain.core.site import current as current_site
from domain.documents import orders
from domain.requests import access

from .helpers import ZH, signed_client
from .orderfactory import make_signed_order

SHARED_NOTE = "已更换 SDI 线缆，画面恢复。"
INTERNAL_NOTE = "内部备注：客户设备外壳有摔痕，疑似人为损坏，建议核查押金。"


def pdf_text(data: bytes, tmp_path: Path, *pages: int) -> str:
    path = tmp_path / "order.pdf"
    path.write_bytes(data)
    span = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    return subprocess.run(["pdftotext", "-enc", "UTF-8", *span, str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def attached_json(data: bytes, tmp_path: Path) -> str:
    path, out = tmp_path / "attached.pdf", tmp_path / "attached.json"
    path.write_bytes(data)
    subprocess.run(["pdfdetach", "-save", "1", "-o", str(out), str(path)], capture_output=True, check=True)
    return out.read_text(encoding="utf-8")


def page_count(data: bytes, tmp_path: Path) -> int:
    path = tmp_path / "count.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


@pytest.fixture
def mixed_notes_order(app, make_user):
    """A signed order with a note shown to the customer and an internal one, rendered, with a review's internal
    fields filled in afterwards."""
    with app.app_context():
        made = make_signed_order(make_user, notes=(SHARED_NOTE,), internal_notes=(INTERNAL_NOTE,), photos=1)
        ticket = access.get_ticket(made["number"])
        ticket.root_cause = "根因：接头氧化（内部）"
        assert orders.render_order(ticket.service_order)
        db.session.commit()
        made["token"] = orders.share_token(ticket.service_order, current_site())
    return made


def test_customer_copy_leaves_out_internal_notes_contacts_deadlines_and_review_fields(app, mixed_notes_order,
                                                                                     tmp_path):
    made = mixed_notes_order
    customer = app.test_client().get(f"/o/{made['token']}", headers=ZH)
    assert customer.status_code == 200 and customer.mimetype == "application/pdf"
    boss = signed_client(app, made["ids"]["boss"])
    downloaded = boss.get(f"/orders/{made['number']}/pdf", headers=ZH)
    # The PDF the supervisor downloads to send is the customer's copy too.
    assert downloaded.status_code == 200 and downloaded.data == customer.data
    text = "".join(pdf_text(customer.data, tmp_path).split())
    assert "".join(SHARED_NOTE.split()) in text and "客户签字确认" in text
    for internal in (INTERNAL_NOTE, "服务时限", "计时中", "联系记录", "根因", "内部", "检查清单"):
        assert "".join(internal.split()) not in text, internal
    attached = attached_json(customer.data, tmp_path)
    content = json.loads(attached)
    assert INTERNAL_NOTE not in attached and "根因" not in attached
    assert {"clocks", "contacts", "channel", "created_at"}.isdisjoint(content)
    assert "device_id" not in content["signature"] and "strokes_sha256" not in content["signature"]
    assert [n["text"] for n in content["notes"]] == [SHARED_NOTE]
    with app.app_context():
        order = access.get_ticket(made["number"]).service_order
        view, copy_hash = orders.customer_copy(order)
        # The copy's printed hash is the hash of what it attaches; the full record keeps the internal note.
        assert orders.content_hash(content) == copy_hash and copy_hash in text
        assert content["record_sha256"] == order.content_sha256 and INTERNAL_NOTE in order.content_json


def test_internal_copy_is_for_staff_only_and_shows_the_whole_record(app, mixed_notes_order, make_user, tmp_path):
    made = mixed_notes_order
    path = f"/orders/{made['number']}/internal.pdf"
    for user_id in (made["ids"]["boss"], made["ids"]["expert"], made["ids"]["tech"]):
        response = signed_client(app, user_id).get(path, headers=ZH)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert "no-store" in response.headers["Cache-Control"]
    text = "".join(pdf_text(response.data, tmp_path).split())
    for expected in (INTERNAL_NOTE, SHARED_NOTE, "员工内部版：不得交给客户", "服务时限（截至", "联系记录",
                     "根因：接头氧化（内部）"):
        assert "".join(expected.split()) in text, expected
    assert "计时中" in text or "达标" in text
    assert INTERNAL_NOTE in attached_json(response.data, tmp_path)
    for user_id in (made["ids"]["other"], made["ids"]["desk"]):
        assert signed_client(app, user_id).get(path, headers=ZH).status_code == 403
    assert app.test_client().get(path).status_code in (302, 401)
    # Nothing stored is the internal copy: every PDF a customer link can serve leaves the internal note out.
    with app.app_context():
        stored = db.session.get(Blob, access.get_ticket(made["number"]).service_order.pdf_sha256).data
    assert INTERNAL_NOTE.replace(" ", "") not in "".join(pdf_text(stored, tmp_path).split())


@pytest.mark.parametrize("notes", [0, 5, pytest.param(40, marks=pytest.mark.pdf_layout)])
def test_signature_shares_its_page_with_the_acceptance_test_and_the_precautions(app, make_user, tmp_path, notes):
    with app.app_context():
        made = make_signed_order(make_user, photos=2,
                                 notes=[f"第 {i} 条处理记录：" + "检查线路与设置。" * 12 for i in range(notes)])
        order = access.get_ticket(made["number"]).service_order
        assert orders.render_order(order)
        db.session.commit()
        data = db.session.get(Blob, order.pdf_sha256).data
    pages = page_count(data, tmp_path)
    on_page = {page: pdf_text(data, tmp_path, page) for page in range(1, pages + 1)}
    signed_on = [page for page, text in on_page.items() if "客户签字确认" in text]
    assert len(signed_on) == 1, pages
    text = on_page[signed_on[0]]
    for expected in ("验收测试", "PGM 输出与推流正常", "已告知客户的注意事项", "保持设备通风"):
        assert expected in text, expected


def test_a_copy_issued_before_the_customers_copy_existed_is_still_genuine(app, mixed_notes_order):
    """Orders rendered before this fix were rendered again (migration c0f3e2a91d57), keeping the old PDF's hash:
    a customer's earlier copy uploaded to the verify page is recognised, not called a forgery."""
    made = mixed_notes_order
    earlier = b"%PDF-1.7 an earlier rendering of the order\n"
    with app.app_context():
        order = access.get_ticket(made["number"]).service_order
        order.superseded_pdf_sha256 = hashlib.sha256(earlier).hexdigest()
        db.session.commit()
        token = orders.verify_token(order)
    client = app.test_client()
    answer = client.post(f"/verify/{token}", data={"pdf": (io.BytesIO(earlier), "old.pdf")}, headers=ZH,
                         content_type="multipart/form-data").get_data(as_text=True)
    assert "较早签发的真实副本" in answer and "不一致" not in answer
    other = client.post(f"/verify/{token}", data={"pdf": (io.BytesIO(earlier + b"%"), "old.pdf")}, headers=ZH,
                        content_type="multipart/form-data").get_data(as_text=True)
    assert "较早签发的真实副本" not in other and "签署的真实服务单" not in other
