"""Verify in plain words (issue 23, item 6): POST /api/v1/verify (no account), the /verify pages and the command
line answer any upload with one sentence naming what is wrong, from pyHanko's validation of the company seal and the
content hash on record. Each way of tampering with a sealed order is built for real (an edited byte, an incremental
update over the text, the signature image replaced, a copy re-saved by PDFium, another company's seal) and named."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from domain.core.db import db
from domain.core.models import Blob
from domain.documents import orders, seal
from domain.documents import tasks as documents_tasks
from domain.documents.verify import REASONS, Verdict, sentence
from domain.requests import access

from .helpers import ZH, reconfigure
from .orderfactory import make_signed_order
from .tsa import local_tsa

EN = {"Accept-Language": "en"}


def make_sealed(app, make_user) -> dict:
    with app.app_context():
        made = make_signed_order(make_user)
        documents_tasks.render_pending_orders()  # its commit starts the seal task (run at once in tests)
        order = access.get_ticket(made["number"]).service_order
        assert order.seal_state.value == "sealed"
        return {**made, "sealed": db.session.get(Blob, order.pdf_sha256).data,
                "unsealed": db.session.get(Blob, order.unsealed_pdf_sha256).data,
                "token": orders.verify_token(order)}


@pytest.fixture
def sealed(app, make_user):
    return make_sealed(app, make_user)


def ask(app, data: bytes, headers=ZH, name: str = "order.pdf"):
    response = app.test_client().post("/api/v1/verify", data={"file": (io.BytesIO(data), name)}, headers=headers,
                                      content_type="multipart/form-data")
    assert response.is_json, response.status_code
    return response


# --- the tampered files ---------------------------------------------------------------------------------------


def edit_one_byte(data: bytes) -> bytes:
    """One byte changed inside a page's content stream, as a hex editor would: the file's layout stays."""
    at = data.index(b"stream", 200) + 40
    return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1:]


def update_over_the_text(data: bytes) -> bytes:
    """An incremental update that paints a white box with other text over the first page (what an editor that
    'saves changes' appends)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    buffer = io.BytesIO(data)
    writer = IncrementalPdfFileWriter(buffer, strict=False)
    box = generic.StreamObject(stream_data=b"q 1 1 1 rg 40 600 400 120 re f Q BT /F1 18 Tf 60 650 Td (PAID) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(box))
    writer.write_in_place()
    return buffer.getvalue()


def replace_the_signature_image(data: bytes) -> bytes:
    """An incremental update that swaps the customer's signature (the page's grey-scale image: the photos are
    JPEG in colour) for a blank one of the same size."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    buffer = io.BytesIO(data)
    writer = IncrementalPdfFileWriter(buffer, strict=False)
    reader = writer.prev
    for idnum in range(1, int(reader.trailer["/Size"])):
        ref = generic.Reference(idnum, 0, reader)
        try:
            image = ref.get_object()
        except Exception:  # noqa: BLE001 - a free object number
            continue
        if isinstance(image, generic.StreamObject) and image.get("/Subtype") == "/Image" \
                and image.get("/ColorSpace") == "/DeviceGray":
            width, height = int(image["/Width"]), int(image["/Height"])
            blank = generic.StreamObject({generic.NameObject(k): v for k, v in image.items()
                                          if k not in ("/Filter", "/DecodeParms", "/Length")},
                                         stream_data=b"\xff" * (width * height))
            writer.objects[(ref.generation, ref.idnum)] = blank
            writer.mark_update(ref)
            writer.write_in_place()
            return buffer.getvalue()
    raise AssertionError("no signature image in the order")


def resave_with_pdfium(data: bytes) -> bytes:
    """The file opened and saved again by another program (PDFium, as in Chrome and many phone viewers)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(data)
    out = io.BytesIO()
    document.save(out, flags=pdfium_c.FPDF_NO_INCREMENTAL)
    document.close()
    return out.getvalue()


def other_company_seal(app, unsealed: bytes, tmp_path: Path) -> bytes:
    from dataclasses import replace

    from domain.core.site import current as current_site

    with app.app_context():
        other = replace(current_site(), company="另一家设备租赁公司", instance_path=str(tmp_path / "other"),
                        seal_pkcs12=None, tsa_url=None)
        return seal.seal_pdf(unsealed, other).pdf


def plain_pdf() -> bytes:
    from weasyprint import HTML

    return HTML(string="<p>付款通知 发票</p>").write_pdf()


def test_each_kind_of_file_gets_its_own_plain_answer(app, sealed, tmp_path):
    data = sealed["sealed"]
    cases = {
        "genuine": data,
        "earlier_copy": sealed["unsealed"],  # downloaded before the seal was added
        "seal_broken": edit_one_byte(data),
        "content_changed": update_over_the_text(data),
        "image_replaced": replace_the_signature_image(data),
        "modified_after_sealing": data + b"\n%% appended after sealing\n",
        "resaved_copy": resave_with_pdfium(data),
        "foreign_certificate": other_company_seal(app, sealed["unsealed"], tmp_path),
        "no_seal": plain_pdf(),
        "not_pdf": b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,
        "empty": b"",
        "damaged": b"%PDF-1.7\n" + bytes(range(256)) * 40,
    }
    answers = {}
    for expected, upload in cases.items():
        response = ask(app, upload)
        assert response.status_code == 200
        answers[expected] = response.json
        assert response.json["reason"] == expected, (expected, response.json)
        assert response.json["genuine"] is (expected in ("genuine", "earlier_copy"))
    assert answers["earlier_copy"]["number"] == sealed["number"]
    genuine = answers["genuine"]
    assert genuine["number"] == sealed["number"]
    assert genuine["message"].startswith("这是 直播设备租赁技术支持部 于 ") and "签署的真实服务单" in genuine["message"]
    assert "签署后未被修改" in genuine["message"]
    for reason in ("seal_broken", "content_changed", "image_replaced", "modified_after_sealing", "foreign_certificate",
                   "resaved_copy"):
        assert answers[reason]["message"].startswith("此文件与签署时的服务单不一致："), reason
    assert "印章已被破坏" in answers["seal_broken"]["message"]
    assert "客户签名" in answers["image_replaced"]["message"]
    assert "另存" in answers["resaved_copy"]["message"] and answers["resaved_copy"]["number"] == sealed["number"]
    assert "不是 直播设备租赁技术支持部 的" in answers["foreign_certificate"]["message"]
    assert answers["not_pdf"]["message"] == "该文件不是 PDF。" and answers["not_pdf"]["number"] is None
    assert len({a["message"] for a in answers.values()}) == len(answers)  # each its own sentence


def test_the_answer_follows_the_callers_language(app, sealed):
    answer = ask(app, sealed["sealed"], headers=EN).json
    assert answer["message"].startswith("This is a genuine service order of ")
    assert "not been changed since it was signed" in answer["message"]
    tampered = ask(app, edit_one_byte(sealed["sealed"]), headers=EN).json
    assert tampered["message"].startswith("This file does not match the service order as it was signed: the company "
                                          "seal is broken")


def test_a_file_larger_than_the_site_takes_is_answered_not_refused_blindly(make_app):
    app = make_app(MAX_CONTENT_LENGTH=512 * 1024)
    # The body encoded here: the test client spools a large upload to a file it leaves open.
    body = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n%PDF-1.7\n" + b"0" * (600 * 1024) + b"\r\n--B--\r\n")
    response = app.test_client().post("/api/v1/verify", data=body, headers=ZH,
                                      content_type="multipart/form-data; boundary=B")
    assert response.status_code == 413 and response.json["reason"] == "too_large"
    assert response.json["genuine"] is False and response.json["message"]


def test_no_file_is_a_clear_400(app):
    response = app.test_client().post("/api/v1/verify", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and response.json["error"]["code"] == "no_file"


def test_the_public_check_is_rate_limited(make_app, sealed):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    codes = [client.post("/api/v1/verify", data={"file": (io.BytesIO(b"not a pdf"), "x.pdf")},
                         content_type="multipart/form-data").status_code for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429
    assert client.post("/api/v1/verify", data={}, content_type="multipart/form-data").is_json


def test_the_verify_page_answers_in_one_sentence_with_the_details_folded(app, sealed):
    client = app.test_client()
    page = client.get(f"/verify/{sealed['token']}", headers=ZH).get_data(as_text=True)
    assert sealed["number"] in page and "盖章时间" in page and "未使用时间戳服务机构" in page
    answer = client.post(f"/verify/{sealed['token']}", data={"pdf": (io.BytesIO(sealed["sealed"]), "copy.pdf")},
                         headers=ZH, content_type="multipart/form-data").get_data(as_text=True)
    assert "签署的真实服务单" in answer and "<details" in answer
    assert "本服务器自行生成的证书" in answer  # the self-created certificate, with its fingerprint
    assert "盖章时未使用时间戳服务机构" in answer  # no TSA_URL: the page says the time is the server's
    tampered = client.post("/verify", data={"pdf": (io.BytesIO(update_over_the_text(sealed["sealed"])), "x.pdf")},
                           headers=ZH, content_type="multipart/form-data").get_data(as_text=True)
    assert "此文件与签署时的服务单不一致：盖章后页面或文字被修改过。" in tampered
    empty = client.post("/verify", data={}, headers=ZH, content_type="multipart/form-data")
    assert empty.status_code == 400 and "请选择要检查的 PDF 文件" in empty.get_data(as_text=True)
    assert client.get("/verify", headers=EN).status_code == 200


def test_with_a_tsa_the_answer_names_the_trusted_time(make_app, make_user, tmp_path):
    with local_tsa(tmp_path / "tsa") as tsa:
        app = make_app(TSA_URL=tsa["url"])
        made = make_sealed(app, make_user)
    # The TSA is gone: the check needs nothing but the file and the record.
    answer = app.test_client().post(f"/verify/{made['token']}", data={"pdf": (io.BytesIO(made["sealed"]), "a.pdf")},
                                    headers=ZH, content_type="multipart/form-data").get_data(as_text=True)
    assert "签署的真实服务单" in answer and "Test Time Stamping Authority" in answer and "可信时间" in answer
    assert "盖章时未使用时间戳服务机构" not in answer


def test_every_reason_has_its_sentence(app):
    from domain.core.site import current as current_site

    with app.test_request_context(headers=ZH), app.app_context():
        site = current_site()
        sentences = {reason: sentence(Verdict(reason in REASONS[:3], reason, "FS-1"), site) for reason in REASONS}
    assert all(text and reason not in text for reason, text in sentences.items())
    assert len(set(sentences.values())) == len(REASONS)


# --- the command line -----------------------------------------------------------------------------------------


def test_flask_orders_verify_prints_the_sentence_and_exits_0_only_for_a_genuine_order(app, sealed, tmp_path):
    runner = app.test_cli_runner()
    genuine, tampered, other = tmp_path / "a.pdf", tmp_path / "b.pdf", tmp_path / "c.txt"
    genuine.write_bytes(sealed["sealed"])
    tampered.write_bytes(edit_one_byte(sealed["sealed"]))
    other.write_text("not a pdf")
    result = runner.invoke(args=["orders", "verify", str(genuine)])
    assert result.exit_code == 0 and "签署的真实服务单" in result.output and sealed["number"] in result.output
    result = runner.invoke(args=["orders", "verify", str(tampered), "--lang", "en", "--details"])
    assert result.exit_code == 1 and "the company seal is broken" in result.output
    assert "reason: seal_broken" in result.output and "cert_sha256: " in result.output
    result = runner.invoke(args=["orders", "verify", str(other)])
    assert result.exit_code == 1 and "该文件不是 PDF。" in result.output
    assert runner.invoke(args=["orders", "verify", str(tmp_path / "missing.pdf")]).exit_code == 2


def test_flask_orders_seal_pending_seals_what_waits_whatever_its_retry_time(make_app, make_user, tmp_path):
    from domain.core.enums import SealState

    p12 = tmp_path / "company.p12"
    seal.generate_seal_file(p12, "公司", "right")
    app = make_app(SEAL_PKCS12=str(p12), SEAL_PASSWORD="wrong")
    with app.app_context():
        number = make_signed_order(make_user)["number"]
        documents_tasks.render_pending_orders()
        assert access.get_ticket(number).service_order.seal_state == SealState.FAILING
    runner = app.test_cli_runner()
    result = runner.invoke(args=["orders", "seal-pending"])
    assert result.exit_code == 1 and "still waiting 1" in result.output and number in result.output
    reconfigure(app, SEAL_PASSWORD="right")
    result = runner.invoke(args=["orders", "seal-pending"])  # the next retry is minutes away: sealed now
    assert result.exit_code == 0 and "sealed 1; still waiting 0" in result.output
    with app.app_context():
        order = access.get_ticket(number).service_order
        assert order.seal_state == SealState.SEALED and order.seal_attempts == 2
    assert runner.invoke(args=["orders", "seal-pending"]).output.startswith("sealed 0; still waiting 0")


def bomb_pdf(megabytes: int) -> bytes:
    """A PDF whose attached file inflates from a few KB to `megabytes` MB (a decompression bomb), attached where
    the check looks for the order's JSON."""
    import zlib

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    compressed = zlib.compress(b"{" * (megabytes << 20), 9)
    stream = generic.StreamObject({generic.NameObject("/Type"): generic.NameObject("/EmbeddedFile"),
                                   generic.NameObject("/Filter"): generic.NameObject("/FlateDecode")},
                                  encoded_data=compressed)
    spec = generic.DictionaryObject({generic.NameObject("/Type"): generic.NameObject("/Filespec"),
                                     generic.NameObject("/F"): generic.TextStringObject("FS-1.json"),
                                     generic.NameObject("/EF"): generic.DictionaryObject(
                                         {generic.NameObject("/F"): writer.add_object(stream)})})
    names = generic.ArrayObject([generic.TextStringObject("FS-1.json"), writer.add_object(spec)])
    writer.root[generic.NameObject("/Names")] = generic.DictionaryObject({generic.NameObject("/EmbeddedFiles"):
                                                                          generic.DictionaryObject(
                                                                              {generic.NameObject("/Names"): names})})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(("upload", "reason"), [
    (lambda: b"%PDF-1.7\n1 0 obj\n" + b"[" * 200_000 + b"\nendobj\ntrailer\n<</Root 1 0 R>>\n%%EOF", "damaged"),
    (lambda: b"%PDF-1.7\nxref\n0 99999999999999999999\ntrailer\n<</Size 1e308>>\n%%EOF", "damaged"),
    (lambda: b"%PDF-\x00\xff\xfe" + "\ud800".encode("utf-8", "surrogatepass") * 100, "damaged"),
], ids=["deep-nesting", "absurd-xref", "nul-and-lone-surrogate"])
def test_hostile_files_get_a_plain_answer(app, upload, reason):
    response = ask(app, upload(), name="\x00evil\ud800.pdf".encode("utf-8", "surrogatepass").decode("latin-1"))
    assert response.status_code == 200 and response.json["reason"] == reason and response.json["genuine"] is False


def test_a_decompression_bomb_is_not_inflated(app):
    """300 MB of attachment in 300 KB of PDF: the check reads at most a few MB of it (tracemalloc's peak)."""
    import tracemalloc

    data = bomb_pdf(300)
    tracemalloc.start()
    try:
        response = ask(app, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.json["reason"] == "no_seal" and not response.json["genuine"]
    assert peak < 48 << 20, peak
