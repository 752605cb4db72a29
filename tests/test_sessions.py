"""Sessions: logout revokes the sign-in server-side (session and remember-me cookies replayed afterwards are
refused), only by POST; a password change ends every sign-in; an unknown username costs a password hash like a
known one; guessing at a username cannot lock its owner out."""
from __future__ import annotations

from sqlalchemy import select

from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import LoginSession

from .helpers import PASSWORD, csrf_from


def _cookies(client) -> dict[str, str]:
    return {cookie.key: cookie.value for cookie in client._cookies.values()}


def _replay(app, cookies: dict[str, str]):
    """A second browser carrying copies of the cookies (a lost phone, a copied cookie file)."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def test_logout_revokes_the_session_and_the_remember_me_cookie(app, client, auth, make_user):
    _id, name = make_user(Role.TECHNICIAN)
    assert auth.login(name, remember=True).status_code == 302
    cookies = _cookies(client)
    assert {"session", "remember_token"} <= set(cookies)
    assert _replay(app, cookies).get("/api/v1/session").status_code == 200
    assert client.post("/auth/logout").status_code == 302
    # The copies still carry a validly signed session and remember-me cookie: both are refused now.
    assert _replay(app, cookies).get("/api/v1/session").status_code == 401
    assert _replay(app, {"remember_token": cookies["remember_token"]}).get("/api/v1/session").status_code == 401
    with app.app_context():
        assert db.session.execute(select(LoginSession.revoked_at)).scalar_one() is not None


def test_logout_ends_only_that_sign_in(app, make_user):
    _id, name = make_user(Role.TECHNICIAN)
    phone, desk = app.test_client(), app.test_client()
    for client in (phone, desk):
        assert client.post("/auth/login", data={"username": name, "password": PASSWORD}).status_code == 302
    phone.post("/auth/logout")
    assert phone.get("/api/v1/session").status_code == 401
    assert desk.get("/api/v1/session").status_code == 200


def test_get_logout_does_not_sign_out(client, auth, make_user):
    _id, name = make_user(Role.SUPERVISOR)
    auth.login(name)
    page = client.get("/auth/logout", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'method="post"' in page.get_data(as_text=True)
    assert client.get("/api/v1/session").status_code == 200


def test_logout_needs_the_csrf_token(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    _id, name = make_user(Role.SUPERVISOR)
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = csrf_from(page)
    client.post("/auth/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert client.post("/auth/logout").status_code == 400  # a cross-site form cannot sign anyone out
    assert client.get("/api/v1/session").status_code == 200
    token = client.get("/api/v1/session").json["csrf_token"]
    assert client.post("/auth/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/v1/session").status_code == 401


def test_a_password_change_ends_every_other_sign_in(app, make_user):
    _id, name = make_user(Role.TECHNICIAN)
    phone, desk = app.test_client(), app.test_client()
    for client in (phone, desk):
        client.post("/auth/login", data={"username": name, "password": PASSWORD, "remember": "y"})
    old = _cookies(phone)
    response = desk.post("/auth/account", data={"current": PASSWORD, "new": "a-new-password-1",
                                                "confirm": "a-new-password-1"})
    assert response.status_code == 302
    assert desk.get("/api/v1/session").status_code == 200  # signed in again on the device that changed it
    assert phone.get("/api/v1/session").status_code == 401
    assert _replay(app, {"remember_token": old["remember_token"]}).get("/api/v1/session").status_code == 401


def test_an_unknown_username_costs_one_password_hash_like_a_known_one(app, client, make_user, monkeypatch):
    """Timing without a clock: the same work (one hash check) for an unknown user as for a wrong password.
    bench/bench_signin.py measures the medians."""
    from domain.core import models

    _id, name = make_user(Role.TECHNICIAN)
    calls = []
    real = models.check_password_hash
    monkeypatch.setattr(models, "check_password_hash", lambda *a: calls.append(a[0].split("$")[0]) or real(*a))
    client.post("/auth/login", data={"username": name, "password": "wrong-password"})
    client.post("/auth/login", data={"username": "nobody-" + name, "password": "wrong-password"})
    assert len(calls) == 2 and calls[0] == calls[1]  # same method and rounds


def test_guessing_at_a_username_cannot_lock_its_owner_out(make_app, make_user):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="5 per minute", LOGIN_USER_RATE_LIMIT="8 per hour")
    _id, name = make_user(Role.TECHNICIAN, "victim")
    owner = app.test_client()
    assert owner.post("/auth/login", data={"username": name, "password": PASSWORD},
                      environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 302
    owner.post("/auth/logout")
    attacker = app.test_client()
    # 30 guesses from one address: that address is stopped; the owner's is not.
    answers = [attacker.post("/auth/login", data={"username": name, "password": f"guess{i}"},
                             environ_base={"REMOTE_ADDR": "10.6.6.6"}).status_code for i in range(30)]
    assert answers.count(429) >= 20
    # ... and from many addresses: the per-username limit is spent.
    for i in range(12):
        attacker.post("/auth/login", data={"username": name, "password": f"guess{i}"},
                      environ_base={"REMOTE_ADDR": f"10.7.0.{i}"})
    stranger = app.test_client()
    assert stranger.post("/auth/login", data={"username": name, "password": PASSWORD},
                         environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 429
    # The owner's phone has signed in before: it still gets in, from a new network too.
    assert owner.post("/auth/login", data={"username": name, "password": PASSWORD},
                      environ_base={"REMOTE_ADDR": "10.2.2.2"}).status_code == 302
