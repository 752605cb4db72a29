"""The customer may skip the satisfaction rating (the sync contract: "rating": 1..5 or absent): the signature is
accepted, the order prints no rating, and the weekly satisfaction counts only the ratings given."""
from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import Blob
from domain.documents import orders
from domain.reporting.reports import parse_week, weekly_report
from domain.requests import access

from .helpers import signed_client
from .orderfactory import SHANGHAI, make_prepared_visit, make_signed_order, signature_data_url
from .phones import op, phone, visit_ops


def signing_ops(number: str, **signature) -> list[dict]:
    ops = visit_ops(number)
    signed = next(o for o in ops if o["kind"] == "order.signed")
    signed["data"] = {key: value for key, value in {**signed["data"], **signature}.items() if value != "absent"}
    return [o for o in ops if o["kind"] != "visit.departed"]


def test_a_signature_without_a_rating_is_accepted_and_printed_without_one(app, make_user, tmp_path):
    with app.app_context():
        number = make_prepared_visit(make_user, tech="t1", other_tech="t2")["number"]
    client = phone(app)
    results = client.post("/api/v1/sync", json={"device_id": "phone-1",
                                                "ops": signing_ops(number, rating="absent")}).json["results"]
    assert {r["status"] for r in results} == {"applied"}, results
    with app.app_context():
        order = access.get_ticket(number).service_order
        assert order.ticket.signature.rating is None and orders.customer_copy(order)[0]["signature"]["rating"] is None
        assert orders.render_order(order)
        db.session.commit()
        (tmp_path / "o.pdf").write_bytes(db.session.get(Blob, order.pdf_sha256).data)
    boss = make_user(Role.SUPERVISOR, "boss-r")[0]
    text = subprocess.run(["pdftotext", str(tmp_path / "o.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    # The customer's comment still prints; no stars and no score do.
    assert "客户签字确认" in text and "很专业" in text and "★" not in text and "☆" not in text and "/5" not in text
    page = signed_client(app, boss).get(f"/dispatch/requests/{number}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "★" not in page.get_data(as_text=True)


def test_a_rating_out_of_range_is_still_refused(app, make_user):
    with app.app_context():
        number = make_prepared_visit(make_user, tech="t1", other_tech="t2")["number"]
    client = phone(app)
    ops = signing_ops(number, rating=0)
    results = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": ops}).json["results"]
    assert results[-1]["status"] == "rejected"
    again = op("order.signed", number, {"signer_name": "赵远", "rating": None, "comment": "",
                                        "signature_png": signature_data_url(), "strokes": [[[1, 2, 0]]]})
    assert client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [again]}).json["results"][0][
        "status"] == "applied"


def test_the_weekly_satisfaction_counts_only_the_ratings_given(app, make_user):
    with app.app_context():
        rated = make_signed_order(make_user, photos=0)  # five stars
        number = make_prepared_visit(make_user, tech="t1", other_tech="t2")["number"]
    client = phone(app)
    results = client.post("/api/v1/sync", json={"device_id": "phone-1",
                                                "ops": signing_ops(number, rating="absent")}).json["results"]
    assert {r["status"] for r in results} == {"applied"}
    with app.app_context():
        signed = [access.get_ticket(n).signature.signed_at_client for n in (rated["number"], number)]
        iso = signed[1].astimezone(SHANGHAI).isocalendar()
        now = datetime.now(UTC)
        report = weekly_report(parse_week(f"{iso.year}-W{iso.week:02d}", now, SHANGHAI), now, SHANGHAI)
        satisfaction = report.current.overall["satisfaction"]
        same_week = signed[0].astimezone(SHANGHAI).isocalendar()[:2] == iso[:2]
        assert (satisfaction.numerator, satisfaction.denominator) == ((1, 1) if same_week else (0, 0))
