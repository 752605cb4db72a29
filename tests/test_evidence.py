"""The evidence record (issue 23 item 5): what the phone knew when the customer signed is written once with the
signature, through the sync contract, never changed; its hash is in the frozen order; the order's PDF and the
request page say which evidence the order has."""
from __future__ import annotations

import subprocess

import pytest

from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import Blob
from domain.documents import orders
from domain.fieldwork import evidence
from domain.fieldwork.models import AppendOnlyError, SigningEvidence
from domain.requests import access

from .conftest import signed_client
from .orderfactory import make_prepared_visit
from .phones import phone, visit_ops

PHONE_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"


def sign(app, number: str, *, arrival: dict | None = None, signing: dict | None = None, ua: str = PHONE_UA):
    ops = [o for o in visit_ops(number) if o["kind"] != "visit.departed"]
    ops[0]["data"].update(arrival or {})
    ops[-1]["data"].update(signing or {})
    body = phone(app).post("/api/v1/sync", json={"device_id": "phone-ev", "ops": ops},
                           headers={"User-Agent": ua}).json
    return body["results"]


@pytest.fixture
def number(app, make_user):
    with app.app_context():
        return make_prepared_visit(make_user, tech="t1", other_tech="t2")["number"]


def test_the_signature_writes_the_evidence_record_and_the_order_seals_its_hash(app, number):
    results = sign(app, number, arrival={"lat": 31.2304, "lng": 121.4737, "accuracy": 25},
                   signing={"lat": 31.23041, "lng": 121.47372, "accuracy": 12.5})
    assert {r["status"] for r in results} == {"applied"}, results
    with app.app_context():
        ticket = access.get_ticket(number)
        record = evidence.evidence_of(ticket.id)
        signature = ticket.signature
        assert record is not None and record.signature_id == signature.id
        assert record.device_id == "phone-ev" and record.user_agent == PHONE_UA
        assert record.signer_name == "赵远" and record.strokes == [[[1, 2, 0], [3, 4, 9]]]
        assert record.signed_at_client == signature.signed_at_client and record.signed_at == signature.signed_at
        assert record.customer_mobile == ticket.contact_phone and record.customer_mobile
        assert (record.arrival_lat, record.arrival_lng, record.arrival_accuracy_m) == (31.2304, 121.4737, 25)
        assert (record.signing_lat, record.signing_lng, record.signing_accuracy_m) == (31.23041, 121.47372, 12.5)
        assert record.code_state == "not_asked"
        # The record's hash is recomputed from what is stored, and the frozen order (what the seal covers) holds it.
        assert record.record_sha256 == evidence.record_hash(record)
        content = orders.json.loads(ticket.service_order.content_json)
        assert content["evidence"]["record_sha256"] == record.record_sha256
        assert content["evidence"]["user_agent"] == PHONE_UA and content["evidence"]["signing"]["lat"] == 31.23041
        assert orders.content_hash(content) == ticket.service_order.content_sha256
        # The customer's copy says which evidence there is, not the device or the coordinates.
        view = orders.customer_copy(ticket.service_order)[0]["evidence"]
        assert view == {"record_sha256": record.record_sha256, "signed_at": content["evidence"]["signed_at"],
                        "signed_at_client": content["evidence"]["signed_at_client"], "device": True,
                        "location_at_arrival": True, "location_at_signing": True, "code": "not_asked"}


def test_without_locations_the_record_says_so(app, number):
    assert {r["status"] for r in sign(app, number)} == {"applied"}
    with app.app_context():
        record = evidence.evidence_of(access.get_ticket(number).id)
        assert record.arrival_lat is None and record.signing_lat is None
        content = orders.json.loads(access.get_ticket(number).service_order.content_json)
        assert content["evidence"]["arrival"] is None and content["evidence"]["signing"] is None


@pytest.mark.parametrize("bad", [{"lat": 31.2}, {"lng": 121.4}, {"lat": 95, "lng": 1}, {"lat": 1, "lng": 181},
                                 {"lat": "²", "lng": 1}, {"lat": 1, "lng": 1, "accuracy": -1},
                                 {"lat": 12345678901234567890, "lng": 1}, {"lat": "1\x00", "lng": 1}])
def test_a_malformed_location_at_signing_is_refused_with_its_code(app, number, bad):
    results = sign(app, number, signing=bad)
    assert results[-1]["status"] == "rejected" and results[-1]["code"] in ("bad_location", "nul_character"), results
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.signature is None and evidence.evidence_of(ticket.id) is None


def test_the_record_is_append_only(app, number):
    sign(app, number)
    with app.app_context():
        record = evidence.evidence_of(access.get_ticket(number).id)
        record.signer_name = "someone else"
        with pytest.raises(AppendOnlyError):
            db.session.flush()
        db.session.rollback()
        record = evidence.evidence_of(access.get_ticket(number).id)
        db.session.delete(record)
        with pytest.raises(AppendOnlyError):
            db.session.flush()
        db.session.rollback()
        assert db.session.query(SigningEvidence).count() == 1
        assert evidence.evidence_of(access.get_ticket(number).id).signer_name == "赵远"


def test_the_order_pdf_and_the_request_page_name_the_evidence(app, number, make_user, tmp_path):
    sign(app, number, arrival={"lat": 31.2304, "lng": 121.4737})
    with app.app_context():
        order = access.get_ticket(number).service_order
        record_sha = evidence.evidence_of(order.ticket_id).record_sha256
        assert orders.render_order(order)
        db.session.commit()
        (tmp_path / "o.pdf").write_bytes(db.session.get(Blob, order.pdf_sha256).data)
    text = subprocess.run(["pdftotext", "-raw", str(tmp_path / "o.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "签署证据" in text and "到场位置" in text and "签字时无位置" in text and "未要求短信验证码" in text, text
    assert record_sha[:16] in text.replace("\n", "")
    boss = make_user(Role.SUPERVISOR, "boss-ev")[0]
    page = signed_client(app, boss).get(f"/dispatch/requests/{number}", headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "location at arrival" in html and "no location at signing" in html and "SMS code not asked" in html
    assert "phone-ev" in html
