"""Customer links (/o/...): built on PUBLIC_URL whatever Host the request came with, and revocable from the
request page."""
from __future__ import annotations

import html
import re

from sqlalchemy import select

from domain.core.db import db
from domain.core.models import AuditEvent

from .helpers import PASSWORD
from .orderfactory import make_signed_order


def _share(client, number, base_url="http://localhost") -> str:
    response = client.post(f"/orders/{number}/share", base_url=base_url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return html.unescape(re.search(r'readonly value="([^"]+)"', response.get_data(as_text=True)).group(1))


def test_share_links_use_public_url_and_can_be_withdrawn(make_app, make_user):
    app = make_app(PUBLIC_URL="https://service.example.com/")
    with app.app_context():
        order = make_signed_order(make_user, photos=0)
    boss = app.test_client()
    with app.app_context():
        from domain.core.models import User

        boss_name = db.session.get(User, order["ids"]["boss"]).username
    assert boss.post("/auth/login", data={"username": boss_name, "password": PASSWORD}).status_code == 302
    # Signed in and asking through a forged Host: the link is still on the configured address.
    evil = app.test_client()
    evil.post("/auth/login", data={"username": boss_name, "password": PASSWORD}, base_url="http://evil.example.net")
    link = _share(evil, order["number"], base_url="http://evil.example.net")
    assert link.startswith("https://service.example.com/o/"), link
    path = link[len("https://service.example.com"):]
    customer = app.test_client()
    first = customer.get(path)
    assert first.status_code == 200 and first.mimetype == "application/pdf"

    page = boss.get(f"/dispatch/requests/{order['number']}").get_data(as_text=True)
    assert f"/orders/{order['number']}/share/revoke" in page
    assert boss.post(f"/orders/{order['number']}/share/revoke").status_code == 302
    assert customer.get(path).status_code == 410
    # A new link works again; the withdrawn one stays withdrawn.
    fresh = _share(boss, order["number"])[len("https://service.example.com"):]
    assert customer.get(fresh).status_code == 200
    assert customer.get(path).status_code == 410
    with app.app_context():
        actions = db.session.execute(select(AuditEvent.action)).scalars().all()
        assert "order.share_links_revoked" in actions


def test_another_technician_cannot_withdraw_links(app, make_user):
    with app.app_context():
        order = make_signed_order(make_user, photos=0)
        from domain.core.models import User

        other = db.session.get(User, order["ids"]["other"]).username
    client = app.test_client()
    client.post("/auth/login", data={"username": other, "password": PASSWORD})
    assert client.post(f"/orders/{order['number']}/share/revoke").status_code == 403
