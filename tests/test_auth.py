"""Sign-in and sign-out, remember-me, the session endpoint, rate limiting and CSRF."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import AuditEvent, User

from .helpers import PASSWORD, ZH, csrf_from

EN = {"Accept-Language": "en"}


def test_sign_in_and_out(client, auth, make_user):
    _, name = make_user(Role.SUPERVISOR)
    response = auth.login(name)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    response = auth.logout()
    assert response.headers["Location"].startswith("/auth/login")
    assert client.get("/").status_code == 302


def test_sign_in_is_case_insensitive_on_username(client, auth, make_user):
    _, name = make_user(Role.EXPERT, "chen.jing")
    assert auth.login("Chen.Jing").status_code == 302


def test_sign_in_records_the_time_and_an_audit_event(app, auth, make_user):
    user_id, name = make_user(Role.DISPATCHER)
    auth.login(name)
    with app.app_context():
        assert db.session.get(User, user_id).last_login_at is not None
        actions = [e.action for e in db.session.query(AuditEvent).filter_by(actor_id=user_id)]
        assert "user.signed_in" in actions


@pytest.mark.parametrize("headers,expected", [(ZH, "用户名或密码错误"), (EN, "Wrong username or password")])
def test_wrong_password_says_so_in_the_users_language(auth, make_user, headers, expected):
    _, name = make_user(Role.TECHNICIAN)
    response = auth.login(name, "not-the-password", **headers)
    assert response.status_code == 400
    assert expected in response.get_data(as_text=True)


def test_unknown_user_gets_the_same_message_as_a_wrong_password(auth):
    response = auth.login("nobody", "whatever-123", **EN)
    assert response.status_code == 400
    assert "Wrong username or password" in response.get_data(as_text=True)


@pytest.mark.parametrize("headers,expected", [(ZH, "该账号已停用"), (EN, "This account has been deactivated")])
def test_inactive_user_cannot_sign_in(auth, make_user, headers, expected):
    _, name = make_user(Role.TECHNICIAN, active=False)
    response = auth.login(name, **headers)
    assert response.status_code == 400
    assert expected in response.get_data(as_text=True)


@pytest.mark.parametrize("headers,user_msg,pw_msg", [(ZH, "请输入用户名", "请输入密码"),
                                                      (EN, "Enter your username", "Enter your password")])
def test_missing_fields_are_named(client, headers, user_msg, pw_msg):
    response = client.post("/auth/login", data={"username": " ", "password": ""}, headers=headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert user_msg in body and pw_msg in body


def test_remember_me_keeps_a_technician_signed_in_for_30_days(client, auth, make_user):
    _, name = make_user(Role.TECHNICIAN)
    response = auth.login(name, remember=True)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
    expires = re.search(r"Expires=([^;]+)", cookie).group(1)
    expiry = datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    assert timedelta(days=29, hours=23) < expiry - datetime.now(UTC) <= timedelta(days=30, minutes=1)
    assert "HttpOnly" in cookie
    # The browser closes (session cookie gone) and comes back with only the remember cookie.
    client.delete_cookie("session")
    assert client.get("/").status_code == 200


def test_without_remember_me_closing_the_browser_signs_out(client, auth, make_user):
    _, name = make_user(Role.TECHNICIAN)
    response = auth.login(name, remember=False)
    assert not any(c.startswith("remember_token=") for c in response.headers.getlist("Set-Cookie"))
    client.delete_cookie("session")
    assert client.get("/").status_code == 302


def test_login_form_offers_remember_me_checked(client):
    body = client.get("/auth/login").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*name="remember"', body)


def test_next_redirect_only_stays_on_this_site(client, make_user):
    _, name = make_user(Role.ADMIN)
    data = {"username": name, "password": PASSWORD}
    response = client.post("/auth/login?next=/admin/users", data=data)
    assert response.headers["Location"] == "/admin/users"
    client.post("/auth/logout")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post("/auth/login", query_string={"next": evil}, data=data)
        assert response.headers["Location"] == "/", evil
        client.post("/auth/logout")


def test_pages_redirect_to_sign_in_with_next(client):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/admin/users"


def test_session_endpoint_answers_401_json_when_signed_out(client):
    response = client.get("/api/v1/session")
    assert response.status_code == 401
    assert response.is_json and response.get_json()["error"]["code"] == "unauthorized"


def test_session_endpoint_gives_user_role_and_csrf_token(client, signed_in):
    _, name = signed_in(Role.TECHNICIAN)
    data = client.get("/api/v1/session").get_json()
    assert data["username"] == name and data["role"] == "technician"
    assert len(data["csrf_token"]) > 20


def test_password_reset_ends_other_sessions(app, client, signed_in):
    user_id, name = signed_in(Role.TECHNICIAN)
    other = app.test_client()
    assert other.post("/auth/login", data={"username": name, "password": PASSWORD, "remember": "y"}).status_code == 302
    response = client.post("/auth/account",
                           data={"current": PASSWORD, "new": "brand-new-pass", "confirm": "brand-new-pass"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this device stays signed in
    assert other.get("/").status_code == 302  # the other one (remember cookie too) is out


def test_change_password_needs_the_current_one(client, signed_in):
    signed_in(Role.EXPERT)
    response = client.post("/auth/account", data={"current": "wrong", "new": "brand-new-pass",
                                                  "confirm": "brand-new-pass"}, headers=EN)
    assert response.status_code == 400 and "Wrong password" in response.get_data(as_text=True)
    response = client.post("/auth/account", data={"current": PASSWORD, "new": "short", "confirm": "short"},
                           headers=EN)
    assert response.status_code == 400 and "at least 8 characters" in response.get_data(as_text=True)


def test_deactivation_ends_an_open_session(app, client, signed_in):
    user_id, _ = signed_in(Role.TECHNICIAN)
    with app.app_context():
        admin = User(username="boss", display_name="Boss", role=Role.ADMIN, is_admin=True, password_hash="x")
        db.session.add(admin)
        from domain.core.accounts import set_active

        set_active(db.session.get(User, user_id), False, actor=admin)
        db.session.commit()
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/session").status_code == 401


def test_sign_in_is_rate_limited(make_app, make_user):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    with app.app_context():
        from domain.core.accounts import create_user

        create_user("target", PASSWORD, Role.TECHNICIAN)
        db.session.commit()
    for _ in range(3):
        assert client.post("/auth/login", data={"username": "target", "password": "bad-guess"}).status_code == 400
    response = client.post("/auth/login", data={"username": "target", "password": PASSWORD}, headers=ZH)
    assert response.status_code == 429
    assert "尝试次数过多" in response.get_data(as_text=True)
    # Looking at the form is never limited.
    assert client.get("/auth/login").status_code == 200


def test_rate_limit_also_counts_per_username_across_addresses(make_app):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_USER_RATE_LIMIT="3 per minute")
    client = app.test_client()
    for i in range(3):
        client.post("/auth/login", data={"username": "victim", "password": "x"},
                    environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
    response = client.post("/auth/login", data={"username": "victim", "password": "x"},
                           environ_base={"REMOTE_ADDR": "10.0.0.99"})
    assert response.status_code == 429


def test_csrf_token_required_on_sign_in(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        from domain.core.accounts import create_user

        create_user("csrf-user", PASSWORD, Role.TECHNICIAN)
        db.session.commit()
    response = client.post("/auth/login", data={"username": "csrf-user", "password": PASSWORD}, headers=EN)
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)
    page = client.get("/auth/login").get_data(as_text=True)
    token = csrf_from(page)
    response = client.post("/auth/login", data={"username": "csrf-user", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_csrf_failure_on_state_changes_when_signed_in(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        from domain.core.accounts import create_user

        target = create_user("someone", PASSWORD, Role.TECHNICIAN)
        create_user("admin-user", PASSWORD, Role.ADMIN)
        db.session.commit()
        target_id = target.id
    page = client.get("/auth/login").get_data(as_text=True)
    token = csrf_from(page)
    client.post("/auth/login", data={"username": "admin-user", "password": PASSWORD, "csrf_token": token})
    response = client.post(f"/admin/users/{target_id}/active", data={"active": "0"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(User, target_id).active is True
    # A JSON client gets a JSON error with a code.
    response = client.post("/lang", data={"lang": "en"}, headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "csrf_failed"
    # The token from the session endpoint works as the X-CSRFToken header.
    api_token = client.get("/api/v1/session").get_json()["csrf_token"]
    response = client.post("/lang", data={"lang": "en"}, headers={"X-CSRFToken": api_token})
    assert response.status_code == 302
