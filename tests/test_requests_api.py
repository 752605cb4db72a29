"""The intake API for other systems: POST /api/v1/requests, assignment, and the request with its clocks."""
from __future__ import annotations

import re

import pytest

from domain.core import accounts
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import User

from .helpers import API_BODY, API_STAFF, PASSWORD, csrf_from, signed_client, staff_fixture

staff = staff_fixture(API_STAFF)


@pytest.fixture
def token(app, staff):
    with app.app_context():
        plain, _ = accounts.create_api_token("website form", db.session.get(User, staff["desk"]))
        db.session.commit()
    return plain


def test_create_with_a_session_answers_201_with_the_number(app, staff):
    client = signed_client(app, "desk")
    response = client.post("/api/v1/requests", json=API_BODY)
    assert response.status_code == 201
    number = response.get_json()["number"]
    assert re.fullmatch(r"FS-\d{4}-\d{6}", number)
    assert response.headers["Location"] == f"/api/v1/requests/{number}"
    data = client.get(f"/api/v1/requests/{number}").get_json()
    assert data["status"] == "new" and data["urgency"] == "urgent" and data["assignee"] is None
    assert data["device_category"] == "video_switcher"
    clocks = {c["name"]: c for c in data["clocks"]}
    assert set(clocks) == {"intake", "first_contact", "remote_fix", "order_filed", "preparation", "submission",
                           "case_analysis"}
    assert clocks["intake"]["state"] == "met" and clocks["first_contact"]["state"] == "pending"
    assert clocks["case_analysis"] == {"name": "case_analysis", "due_at": None, "done_at": None,
                                       "state": "not_applicable"}


def test_create_with_an_api_token_needs_no_session_or_csrf(make_app, staff, token):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/api/v1/requests", json=API_BODY, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201
    # The token does not open the pages.
    assert client.get("/dispatch/board", headers={"Authorization": f"Bearer {token}"}).status_code == 302


def test_a_wrong_or_revoked_token_is_401(app, staff, token):
    client = app.test_client()
    assert client.post("/api/v1/requests", json=API_BODY, headers={"Authorization": "Bearer nope"}).status_code == 401
    with app.app_context():
        from domain.core.models import ApiToken
        from domain.core.types import utcnow

        for t in db.session.query(ApiToken):
            t.revoked_at = utcnow()
        db.session.commit()
    assert client.post("/api/v1/requests", json=API_BODY,
                       headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_browser_session_still_needs_the_csrf_header(make_app, staff):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    csrf = csrf_from(page)
    client.post("/auth/login", data={"username": "desk", "password": PASSWORD, "csrf_token": csrf})
    response = client.post("/api/v1/requests", json=API_BODY)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "csrf_failed"
    token = client.get("/api/v1/session").get_json()["csrf_token"]
    assert client.post("/api/v1/requests", json=API_BODY, headers={"X-CSRFToken": token}).status_code == 201


@pytest.mark.parametrize("changes,field", [
    ({"customer_name": ""}, "customer_name"), ({"urgency": "asap"}, "urgency"),
    ({"reported_at": "2999-01-01T00:00:00+08:00"}, "reported_at"), ({"problem": None}, "problem"),
    # A value of another type, or too long, is refused naming the field, never altered: a list would be stored as
    # its Python text, an address cut to 254 characters would send the signed order to another domain.
    ({"customer_email": ["a@b.co"]}, "customer_email"), ({"contact_phone": 13800138000}, "contact_phone"),
    ({"customer_email": "a" * 249 + "@b.com"}, "customer_email"), ({"customer_name": "客" * 201}, "customer_name"),
])
def test_bad_body_is_422_with_the_fields(app, staff, changes, field):
    client = signed_client(app, "desk")
    response = client.post("/api/v1/requests", json={**API_BODY, **changes})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", "null"])
def test_non_object_body_is_400(app, staff, payload):
    client = signed_client(app, "desk")
    response = client.post("/api/v1/requests", data=payload, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_json"


def test_technicians_cannot_create_requests(app, staff):
    response = signed_client(app, "li").post("/api/v1/requests", json=API_BODY)
    assert response.status_code == 403 and response.is_json


def test_assign_by_username(app, staff):
    number = signed_client(app, "desk").post("/api/v1/requests", json=API_BODY).get_json()["number"]
    boss = signed_client(app, "boss")
    response = boss.post(f"/api/v1/requests/{number}/assign", json={"technician": "li"})
    assert response.status_code == 200 and response.get_json()["assignee"] == "li"
    assert response.get_json()["status"] == "assigned"
    # The technician now sees it; the expert does not.
    assert signed_client(app, "li").get(f"/api/v1/requests/{number}").status_code == 200
    assert signed_client(app, "chen").get(f"/api/v1/requests/{number}").status_code == 403


def test_assign_errors(app, staff, make_user):
    number = signed_client(app, "desk").post("/api/v1/requests", json=API_BODY).get_json()["number"]
    make_user(Role.TECHNICIAN, "gone", active=False)
    boss = signed_client(app, "boss")
    assert boss.post(f"/api/v1/requests/{number}/assign", json={"technician": "nobody"}).status_code == 422
    assert boss.post(f"/api/v1/requests/{number}/assign", json={"technician": "gone"}).status_code == 422
    assert boss.post(f"/api/v1/requests/{number}/assign", json={"technician": "chen"}).status_code == 422
    assert boss.post(f"/api/v1/requests/{number}/assign",
                     json={"technician": "li", "version": "x"}).status_code == 422
    stale = boss.post(f"/api/v1/requests/{number}/assign", json={"technician": "li", "version": 99})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "changed_meanwhile"
    missing = boss.post("/api/v1/requests/FS-2000-000001/assign", json={"technician": "li"})
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "no_request"
    assert signed_client(app, "desk").post(f"/api/v1/requests/{number}/assign",
                                   json={"technician": "li"}).status_code == 403


def test_unknown_request_is_404_json(app, staff):
    response = signed_client(app, "boss").get("/api/v1/requests/FS-1999-000001")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "no_request"


def test_an_address_at_the_limit_is_kept_whole(app, staff):
    address = "a" * 248 + "@b.com"  # 254 characters
    response = signed_client(app, "desk").post("/api/v1/requests", json={**API_BODY, "customer_email": address})
    assert response.status_code == 201
    with app.app_context():
        from domain.requests import access

        assert access.get_ticket(response.get_json()["number"]).customer_email == address
