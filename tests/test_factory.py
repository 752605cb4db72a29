"""The app factory, settings from the environment, and the page-wide security rules."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from app import create_app
from settings import database_url, load_settings

from .helpers import ROOT


def test_config_passed_to_the_factory_overrides_defaults(app):
    assert app.config["TESTING"] is True
    assert app.config["TIMEZONE"] == "Asia/Shanghai"
    assert app.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)


def test_secret_key_is_generated_once_and_kept_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_settings(str(tmp_path))["SECRET_KEY"]
    second = load_settings(str(tmp_path))["SECRET_KEY"]
    assert first == second and len(first) >= 64
    assert (tmp_path / "secret_key").read_text().strip() == first
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_secret_key_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert load_settings(str(tmp_path))["SECRET_KEY"] == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_no_secret_key_literal_in_code():
    for path in ROOT.glob("*.py"):
        assert not re.search(r"SECRET_KEY[\"']?\s*[:=]\s*[\"'][^\"']+[\"']", path.read_text()), path


def test_database_url_defaults_to_sqlite_in_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url(str(tmp_path)) == f"sqlite:///{tmp_path}/fieldservice.db"


@pytest.mark.parametrize("given", ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"])
def test_postgres_urls_use_the_psycopg_driver(given, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", given)
    assert database_url(str(tmp_path)) == "postgresql+psycopg://u@h/db"


def test_environment_settings_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("TIMEZONE", "Asia/Hong_Kong")
    monkeypatch.setenv("COMPANY_NAME", "星播租赁")
    monkeypatch.setenv("MAX_UPLOAD_MB", "7")
    monkeypatch.setenv("REMEMBER_DAYS", "14")
    settings = load_settings(str(tmp_path))
    assert settings["TIMEZONE"] == "Asia/Hong_Kong"
    assert settings["COMPANY_NAME"] == "星播租赁"
    assert settings["MAX_CONTENT_LENGTH"] == 7 * 1024 * 1024
    assert settings["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)


@pytest.mark.parametrize("name,value", [("TIMEZONE", "Mars/Olympus"), ("MAX_UPLOAD_MB", "lots")])
def test_bad_environment_values_fail_clearly(name, value, tmp_path, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=name):
        load_settings(str(tmp_path))


def test_factory_makes_independent_apps(make_app):
    first, second = make_app(COMPANY_NAME="A"), make_app(COMPANY_NAME="B")
    assert first is not second
    assert (first.config["COMPANY_NAME"], second.config["COMPANY_NAME"]) == ("A", "B")


def test_importing_app_creates_no_application():
    import app as app_module

    assert not any(type(v).__name__ == "Flask" for v in vars(app_module).values())
    assert callable(create_app)


def test_security_headers_on_every_page(client):
    response = client.get("/auth/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_templates_have_no_inline_scripts_styles_or_handlers():
    templates = list(ROOT.glob("templates/**/*.html")) + list(ROOT.glob("blueprints/*/templates/**/*.html"))
    assert templates
    for path in templates:
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            # A JSON data block is not executed, so the CSP allows it; anything else must be a file.
            assert "src=" in tag or 'type="application/json"' in tag, f"inline script in {path}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {path}"
        assert not re.search(r"\sstyle\s*=", text), f"inline style in {path}"
        assert "<style" not in text, f"inline stylesheet in {path}"
        assert "http://" not in text and "https://" not in text, f"external URL (CDN?) in {path}"


def test_health_check_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": True}


def test_unknown_page_is_a_translated_404(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_api_errors_are_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_the_domain_reads_no_app_and_imports_no_blueprint():
    """The import rule (blueprints -> domain, never back) and settings passed in (domain/core/settings.py): no module
    of the domain imports a blueprint or reads Flask's current_app."""
    import ast

    root = Path(__file__).resolve().parents[1] / "domain"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n.startswith("blueprints") or n in ("flask.current_app", "app") for n in names):
                offenders.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert offenders == []
