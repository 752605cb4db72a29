"""The company seal (issue 23, items 3 and 4): after rendering, the worker signs the customer's copy with pyHanko
(PAdES, one signature over the whole file, as an incremental update), with the certificate from SEAL_PKCS12 or one
generated into the instance folder, and with an RFC 3161 timestamp from TSA_URL (a real local TSA on 127.0.0.1:
certomancer's, tests/tsa.py). A TSA that is down leaves the order rendered, retried with backoff, the admin alerted.
Checked with pyHanko's validation and poppler-utils."""
from __future__ import annotations

import io
import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

import worker
from domain.alerts.models import Notification
from domain.core.db import db
from domain.core.enums import Role, SealState
from domain.core.models import Blob
from domain.core.site import current as current_site
from domain.core.types import utcnow
from domain.documents import orders, seal
from domain.documents import tasks as documents_tasks
from domain.documents.models import ServiceOrder
from domain.requests import access

from .helpers import reconfigure
from .orderfactory import make_signed_order
from .tsa import down_tsa, local_tsa


def sealed_order(app, make_user, **kwargs) -> dict:
    """A signed order, rendered by the worker (whose commit starts the seal task: run at once in tests); its
    files."""
    with app.app_context():
        made = make_signed_order(make_user, **kwargs)
        documents_tasks.render_pending_orders()
        order = access.get_ticket(made["number"]).service_order
        return {**made, **order_files(order)}


def order_files(order: ServiceOrder) -> dict:
    return {"state": order.seal_state, "pdf": db.session.get(Blob, order.pdf_sha256).data,
            "unsealed": db.session.get(Blob, order.unsealed_pdf_sha256).data if order.unsealed_pdf_sha256 else None,
            "cert": order.seal_cert_sha256, "timestamp_at": order.seal_timestamp_at, "attempts": order.seal_attempts,
            "error": order.seal_error}


def signatures(data: bytes):
    from pyhanko.pdf_utils.reader import PdfFileReader

    return PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures


def poppler(tool: str, data: bytes, tmp_path: Path, *args: str) -> str:
    path = tmp_path / f"{tool}.pdf"
    path.write_bytes(data)
    return subprocess.run([tool, *args, str(path)], capture_output=True, text=True, check=True).stdout


def validate(data: bytes):
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from domain.documents.seal import outside_any_event_loop

    (signature,) = signatures(data)
    context = ValidationContext(trust_roots=[signature.signer_cert], allow_fetching=False,
                                revocation_mode="soft-fail")
    return signature, outside_any_event_loop(validate_pdf_signature, signature, context, context)


def test_the_worker_seals_the_customers_copy_with_one_signature_over_the_whole_file(app, make_user, tmp_path):
    from pyhanko.sign.validation import SignatureCoverageLevel

    made = sealed_order(app, make_user)
    assert made["state"] == SealState.SEALED
    sealed, unsealed = made["pdf"], made["unsealed"]
    # An incremental update: the rendered file's bytes are kept as they were, the seal is appended.
    assert sealed.startswith(unsealed) and len(sealed) > len(unsealed)
    signature, status = validate(sealed)
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    start, gap_start, gap_end, length = (int(v) for v in signature.sig_object["/ByteRange"])
    assert start == 0 and gap_end + length == len(sealed)
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert signature.signer_cert.sha256.hex() == made["cert"]
    assert "直播设备租赁技术支持部" in signature.signer_cert.subject.human_friendly
    assert made["timestamp_at"] is None and status.timestamp_validity is None  # no TSA_URL: no timestamp
    # Invisible: the seal's field has no area on the page (a visible box would break PDF/A, see seal.py).
    widget = signature.sig_field
    assert [float(v) for v in widget.get("/Rect", [0, 0, 0, 0])] == [0, 0, 0, 0]
    assert "Total document signed" in poppler("pdfsig", sealed, tmp_path)


def test_sealing_keeps_the_pdfa_identification_the_fonts_and_the_attached_json(app, make_user, tmp_path):
    made = sealed_order(app, make_user)
    sealed, unsealed = made["pdf"], made["unsealed"]
    fonts = poppler("pdffonts", sealed, tmp_path).splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # every font embedded
    assert fonts == poppler("pdffonts", unsealed, tmp_path).splitlines()[2:]
    assert "1 embedded files" in poppler("pdfdetach", sealed, tmp_path, "-list")
    out = tmp_path / "attached.json"
    subprocess.run(["pdfdetach", "-save", "1", "-o", str(out), str(tmp_path / "pdfdetach.pdf")], check=True)
    with app.app_context():
        order = access.get_ticket(made["number"]).service_order
        assert json.loads(out.read_text(encoding="utf-8")) == orders.customer_copy(order)[0]
    metadata = poppler("pdfinfo", sealed, tmp_path, "-meta")
    assert 'pdfaid:part="3"' in metadata and 'pdfaid:conformance="B"' in metadata
    assert poppler("pdftotext", sealed, tmp_path, "-enc", "UTF-8") == poppler("pdftotext", unsealed, tmp_path,
                                                                              "-enc", "UTF-8")


def test_without_a_pkcs12_a_company_certificate_is_generated_once_and_kept_private(app, make_user):
    first = sealed_order(app, make_user)
    path = Path(app.config["INSTANCE_PATH_FOR_KEYS"]) / "seal.p12"
    assert path.exists() and oct(path.stat().st_mode)[-3:] == "600"
    written = path.read_bytes()
    second = sealed_order(app, make_user)
    assert path.read_bytes() == written and second["cert"] == first["cert"]  # reused, not made again


def company_p12(path: Path, company: str, password: str) -> str:
    seal.generate_seal_file(path, company, password)
    return str(path)


def test_a_configured_pkcs12_seals_with_that_certificate(make_app, make_user, tmp_path):
    p12 = company_p12(tmp_path / "company.p12", "上海某直播设备租赁有限公司", "s3cret")
    app = make_app(SEAL_PKCS12=p12, SEAL_PASSWORD="s3cret")
    made = sealed_order(app, make_user)
    signature, status = validate(made["pdf"])
    assert status.intact and status.valid
    assert "上海某直播设备租赁有限公司" in signature.signer_cert.subject.human_friendly
    assert not (Path(app.config["INSTANCE_PATH_FOR_KEYS"]) / "seal.p12").exists()  # nothing generated


def test_a_seal_that_cannot_be_made_keeps_the_order_retries_and_alerts_the_admin(make_app, make_user, tmp_path):
    p12 = company_p12(tmp_path / "company.p12", "公司", "right")
    app = make_app(SEAL_PKCS12=p12, SEAL_PASSWORD="wrong")
    made = sealed_order(app, make_user)
    assert made["state"] == SealState.FAILING and made["attempts"] == 1 and "SEAL_PASSWORD" in made["error"]
    assert signatures(made["pdf"]) == []  # the rendered copy is kept and served meanwhile
    with app.app_context():
        admin = make_user(Role.ADMIN, "root-admin")[0]
        order = access.get_ticket(made["number"]).service_order
        first_retry = order.seal_next_at
        assert timedelta(seconds=50) < first_retry - utcnow() <= timedelta(minutes=1)
        db.session.rollback()
        assert documents_tasks.seal_pending_orders(utcnow()) == 0  # not due yet: nothing tried
        assert db.session.get(ServiceOrder, order.id).seal_attempts == 1
        now = first_retry
        for attempts in (2, 3, 4):
            documents_tasks.seal_pending_orders(now)
            order = db.session.get(ServiceOrder, order.id, populate_existing=True)
            assert order.seal_attempts == attempts and order.seal_state == SealState.FAILING
            assert order.seal_next_at - now == orders.seal_pause(attempts)  # 2, 4, 8 minutes
            now = order.seal_next_at
        alerts = db.session.execute(select(Notification).where(Notification.kind == "seal_failing")).scalars().all()
        assert [a.user_id for a in alerts] == [admin]  # once, at the third failure
        assert alerts[0].params["number"] == made["number"]
    # The right password: the next due try seals it, and the order is never lost in between.
    reconfigure(app, SEAL_PASSWORD="right")
    with app.app_context():
        assert documents_tasks.seal_pending_orders(now) == 1
        files = order_files(access.get_ticket(made["number"]).service_order)
    assert files["state"] == SealState.SEALED and files["unsealed"] == made["pdf"]
    assert files["error"] is None


def test_the_download_and_the_customers_link_serve_the_sealed_file(app, make_user):
    from .helpers import signed_client

    made = sealed_order(app, make_user)
    with app.app_context():
        order = access.get_ticket(made["number"]).service_order
        link = orders.share_token(order, current_site())
    anonymous = app.test_client().get(f"/o/{link}")
    assert anonymous.status_code == 200 and anonymous.data == made["pdf"]
    boss = signed_client(app, made["ids"]["boss"])
    staff = boss.get(f"/orders/{made['number']}/pdf")
    assert staff.status_code == 200 and staff.data == made["pdf"] and len(signatures(staff.data)) == 1
    # The request's JSON names the customer's link (on PUBLIC_URL); it serves the sealed file too.
    url = boss.get(f"/api/v1/requests/{made['number']}").json["customer_copy_url"]
    assert url.startswith(app.config["PUBLIC_URL"] + "/o/")
    assert app.test_client().get(urlsplit(url).path).data == made["pdf"]


def test_the_request_page_shows_the_documents_state(app, make_user):
    from .helpers import signed_client

    made = sealed_order(app, make_user)
    page = signed_client(app, made["ids"]["boss"]).get(f"/dispatch/requests/{made['number']}",
                                                       headers={"Accept-Language": "zh-CN"})
    assert "已盖章" in page.get_data(as_text=True)
    with app.app_context():
        order = access.get_ticket(made["number"]).service_order
        order.seal_state, order.seal_attempts, order.seal_next_at = SealState.FAILING, 3, utcnow()
        db.session.commit()
    page = signed_client(app, made["ids"]["boss"]).get(f"/dispatch/requests/{made['number']}",
                                                       headers={"Accept-Language": "zh-CN"})
    assert "盖章失败" in page.get_data(as_text=True)


# --- the time-stamping authority -----------------------------------------------------------------------------


@pytest.fixture
def tsa(tmp_path):
    with local_tsa(tmp_path / "tsa") as served:
        yield served


def test_with_a_tsa_the_seal_carries_its_timestamp_and_the_validation_data(make_app, make_user, tsa, tmp_path):
    from pyhanko.pdf_utils.reader import PdfFileReader

    app = make_app(TSA_URL=tsa["url"])
    made = sealed_order(app, make_user)
    assert made["state"] == SealState.SEALED and tsa["counter"]["requests"] >= 1
    signature, status = validate(made["pdf"])
    assert status.intact and status.valid
    stamp = status.timestamp_validity
    assert stamp is not None and stamp.intact and stamp.valid
    assert "Test Time Stamping Authority" in stamp.signing_cert.subject.human_friendly
    assert made["timestamp_at"] is not None and abs(stamp.timestamp - made["timestamp_at"]) < timedelta(seconds=1)
    assert abs(made["timestamp_at"] - utcnow()) < timedelta(minutes=2)
    # Long-term validation data in the signature's own revision: the seal still covers the whole file.
    reader = PdfFileReader(io.BytesIO(made["pdf"]), strict=False)
    dss_certs = {c.get_object().data for c in reader.root["/DSS"]["/Certs"]}
    assert stamp.signing_cert.dump() in dss_certs and signature.signer_cert.dump() in dss_certs
    assert reader.xrefs.total_revisions == 2  # the rendering, then the seal: nothing after it
    assert "Total document signed" in poppler("pdfsig", made["pdf"], tmp_path)


def test_a_tsa_that_is_down_leaves_the_order_rendered_retried_and_the_admin_alerted(make_app, make_user, tmp_path):
    with down_tsa() as down:
        app = make_app(TSA_URL=down["url"])
        with app.app_context():
            admin = make_user(Role.ADMIN, "ops-admin")[0]
        made = sealed_order(app, make_user)
        assert made["state"] == SealState.FAILING and "did not answer" in made["error"]
        assert down["server"].hits >= 1  # really asked
        with app.app_context():
            order = access.get_ticket(made["number"]).service_order
            now = order.seal_next_at
            db.session.rollback()
            for _ in range(2):
                worker.tick(now)  # the minute tick retries what is due
                order = db.session.get(ServiceOrder, order.id, populate_existing=True)
                now = order.seal_next_at
            assert order.seal_attempts == 3 and order.seal_state == SealState.FAILING
            assert order.pdf_sha256 and order.content_sha256  # the order and its rendered copy are kept
            alert = db.session.execute(select(Notification).where(Notification.kind == "seal_failing")
                                       ).scalar_one()
            assert alert.user_id == admin
    # The TSA is back (another address here: the setting names it): the next due try seals with its time.
    with local_tsa(tmp_path / "tsa-back") as back:
        reconfigure(app, TSA_URL=back["url"])
        with app.app_context():
            assert worker.tick(now)["sealed"] == 1
            files = order_files(access.get_ticket(made["number"]).service_order)
    assert files["state"] == SealState.SEALED and files["timestamp_at"] is not None
    assert files["unsealed"] == made["pdf"]


def test_a_failed_seal_does_not_make_the_others_wait_out_the_timeout(make_app, make_user):
    with down_tsa() as down:
        app = make_app(TSA_URL=down["url"])
        with app.app_context():
            made = [make_signed_order(make_user)["number"] for _ in range(2)]
            documents_tasks.render_pending_orders()
            for number in made:
                order = access.get_ticket(number).service_order
                order.seal_next_at = None
            db.session.commit()
            assert len(orders.orders_to_seal(utcnow())) == 2
            assert len(orders.orders_to_seal(utcnow(), limit=1)) == 1  # a run takes a bounded batch
            hits = down["server"].hits
            documents_tasks.seal_pending_orders(utcnow())
            # One request for the run (pyHanko first asks for a sample token), both recorded as failed.
            assert down["server"].hits - hits <= 2
            states = [access.get_ticket(n).service_order for n in made]
            assert all(o.seal_attempts == 2 and o.seal_state == SealState.FAILING for o in states)


def test_the_generated_key_file_is_created_exclusively(tmp_path):
    path = tmp_path / "seal.p12"
    seal.generate_seal_file(path, "甲公司", None)
    first = path.read_bytes()
    seal.generate_seal_file(path, "乙公司", None)  # a second process starting at once keeps the first
    assert path.read_bytes() == first and os.stat(path).st_mode & 0o077 == 0


def test_seals_after_the_first_reuse_its_space_and_one_that_outgrows_it_is_made_again(make_app, make_user, tsa):
    """The space for the signature is estimated once per certificate and TSA (pyHanko would build a dummy
    signature for every seal); a container that no longer fits is sealed again with a new estimate, never lost."""
    app = make_app(TSA_URL=tsa["url"])
    first = sealed_order(app, make_user)
    with app.app_context():
        site = current_site()
        identity = seal.seal_identity(site)
        key = (identity.fingerprint, site.tsa_url)
        reserved = seal._reserved[key]
        assert reserved and reserved % 2 == 0
        again = seal.seal_pdf(first["unsealed"], site)
        assert seal._reserved[key] == reserved  # the same space: no new estimate
        seal._reserved[key] = 200  # far too small for a certificate and a timestamp token
        requests = tsa["counter"]["requests"]
        outgrown = seal.seal_pdf(first["unsealed"], site)
        assert tsa["counter"]["requests"] > requests and seal._reserved[key] == reserved
    for sealed in (again, outgrown):
        _, status = validate(sealed.pdf)
        assert status.intact and status.valid and status.timestamp_validity.valid
