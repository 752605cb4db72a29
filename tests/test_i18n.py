"""Chinese by default, English complete, and a language choice the account remembers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import User

from .helpers import ROOT

CATALOG = ROOT / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def test_chinese_is_the_default(client):
    body = client.get("/auth/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in body and "登录" in body


def test_english_browser_gets_english(client):
    body = client.get("/auth/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in body and "Sign in" in body and "登录" not in body.replace("中文", "")


def test_switch_is_remembered_by_the_account_across_devices(app, client, signed_in):
    user_id, name = signed_in(Role.TECHNICIAN)
    response = client.post("/lang", data={"lang": "en", "next": "/auth/account"},
                           headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/account"
    with app.app_context():
        assert db.session.get(User, user_id).locale == "en"
    other = app.test_client()  # another phone, Chinese browser
    other.post("/auth/login", data={"username": name, "password": "correct-horse-9"})
    assert "My account" in other.get("/auth/account", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)


def test_switch_before_sign_in_uses_a_cookie_and_is_kept_at_sign_in(app, client, make_user):
    user_id, name = make_user(Role.DISPATCHER)
    client.post("/lang", data={"lang": "en", "next": "/auth/login"})
    assert "Sign in" in client.get("/auth/login").get_data(as_text=True)
    client.post("/auth/login", data={"username": name, "password": "correct-horse-9"})
    with app.app_context():
        assert db.session.get(User, user_id).locale == "en"


def test_unknown_language_is_refused(client):
    assert client.post("/lang", data={"lang": "fr"}).status_code == 400


def test_language_switch_ignores_off_site_next(client):
    response = client.post("/lang", data={"lang": "en", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_every_string_has_a_chinese_translation():
    with CATALOG.open("rb") as f:
        catalog = read_po(f)
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_catalog_holds_every_string_in_the_code(tmp_path):
    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run([str(pybabel), "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "lazy_gettext", "--no-location",
                    "--ignore-dirs", ".venv migrations tests bench build scripts", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        in_code = {m.id for m in read_po(f) if m.id}
    with CATALOG.open("rb") as f:
        in_catalog = {m.id for m in read_po(f) if m.id}
    assert in_code - in_catalog == set(), "run scripts/i18n.sh and translate the new strings"


def test_placeholders_survive_translation():
    import re

    with CATALOG.open("rb") as f:
        for message in read_po(f):
            if message.id and message.string:
                assert set(re.findall(r"%\(\w+\)[sd]", message.id)) == \
                    set(re.findall(r"%\(\w+\)[sd]", message.string)), message.id
