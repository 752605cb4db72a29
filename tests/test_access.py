"""Every route against every role: who may open what. A new route must be added to this table."""
from __future__ import annotations

import pytest

from blueprints.access import PUBLIC
from domain.enums import Role

ANON = "anonymous"
EVERY_ROLE = set(Role)
ADMIN_ONLY = {Role.ADMIN}

# (method, url, endpoint): who gets in. "public" means everyone, signed in or not.
ROUTES = [
    ("GET", "/auth/login", "auth.login", PUBLIC),
    ("POST", "/auth/logout", "auth.logout", PUBLIC),
    ("GET", "/healthz", "core.healthz", PUBLIC),
    ("POST", "/lang", "core.set_language", PUBLIC),
    ("GET", "/", "core.index", EVERY_ROLE),
    ("GET", "/auth/account", "auth.account", EVERY_ROLE),
    ("GET", "/api/v1/session", "auth_api.api_session", EVERY_ROLE),
    ("GET", "/admin/users", "admin.users", ADMIN_ONLY),
    ("GET", "/admin/users/new", "admin.new_user", ADMIN_ONLY),
    ("GET", "/admin/users/{user_id}", "admin.edit_user", ADMIN_ONLY),
    ("POST", "/admin/users/{user_id}/active", "admin.set_active", ADMIN_ONLY),
    ("POST", "/admin/users/{user_id}/password", "admin.reset_password", ADMIN_ONLY),
]


def test_every_route_is_in_the_table(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints == {endpoint for *_, endpoint, _ in ROUTES}


def test_every_view_declares_who_may_use_it(app):
    for endpoint, view in app.view_functions.items():
        if endpoint == "static":
            continue
        allowed = getattr(view, "allowed_roles", None)
        assert allowed is not None, f"{endpoint} has no role check"
        table = next(who for *_, e, who in ROUTES if e == endpoint)
        assert allowed == (PUBLIC if table == PUBLIC else frozenset(table)), endpoint


CASES = [(method, url, endpoint, allowed, who) for method, url, endpoint, allowed in ROUTES
         for who in [ANON, *Role]]


@pytest.mark.parametrize("method,url,endpoint,allowed,who", CASES,
                         ids=[f"{c[0]} {c[1]} as {c[4]}" for c in CASES])
def test_route_by_role(client, make_user, auth, method, url, endpoint, allowed, who):
    target_id, _ = make_user(Role.TECHNICIAN, "target-user")
    if who != ANON:
        _, name = make_user(who)
        assert auth.login(name).status_code == 302
    response = client.open(url.format(user_id=target_id), method=method,
                           data={"active": "1", "lang": "en", "password": "long-enough-pw"})
    if allowed == PUBLIC or (who != ANON and who in allowed):
        assert response.status_code in (200, 302, 400), response.status_code
        if response.status_code == 302:
            assert "/auth/login?next=" not in response.headers["Location"]
    elif who == ANON:
        if url.startswith("/api/"):
            assert response.status_code == 401 and response.is_json
        else:
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/auth/login?next=")
    else:
        assert response.status_code == 403


def test_supervisor_with_admin_flag_manages_users(client, make_user, auth):
    _, name = make_user(Role.SUPERVISOR, is_admin=True)
    auth.login(name)
    assert client.get("/admin/users").status_code == 200


def test_navigation_shows_only_what_the_role_may_open(client, make_user, auth):
    _, name = make_user(Role.TECHNICIAN)
    auth.login(name)
    assert "/admin/users" not in client.get("/").get_data(as_text=True)
    auth.logout()
    _, admin = make_user(Role.ADMIN)
    auth.login(admin)
    assert "/admin/users" in client.get("/").get_data(as_text=True)
