"""Fixtures: an isolated database per test, on SQLite by default or on PostgreSQL with TEST_DATABASE_URL.

SQLite: the schema is built once into a template file, copied for each test.
PostgreSQL: the schema is built once in a private schema of the test database, emptied before each test.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from contextlib import contextmanager
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from app import create_app
from domain.core import accounts
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import User

PASSWORD = "correct-horse-9"
# Flask-WTF's hidden field, as the pages render it.
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _pg_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def hash_passwords_fast(monkeypatch) -> None:
    """Real hashing, fewer rounds: the suite creates hundreds of users."""
    import functools

    from werkzeug.security import generate_password_hash

    import domain.core.models

    monkeypatch.setattr(domain.core.models, "generate_password_hash",
                        functools.partial(generate_password_hash, method="pbkdf2:sha256:1000"))


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    hash_passwords_fast(monkeypatch)


@pytest.fixture
def queued_tasks(monkeypatch):
    """The worker's tasks queued during the test, as (name, args), instead of being queued (the tick's lost-work
    tests look at what it would send)."""
    import worker

    queued = []
    monkeypatch.setattr(worker, "enqueue", lambda name, args=(): queued.append((name, args)))
    return queued


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """Where the tests' schema lives: ("sqlite", template file) or ("postgresql", url)."""
    base_instance = tmp_path_factory.mktemp("instance")
    pg = _pg_url()
    if pg:
        engine = sa.create_engine(pg)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as error:  # the CI PostgreSQL run must never pass by silently skipping
            pytest.exit(f"TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {error}", returncode=3)
        schema = f"fs_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = _with_search_path(pg, schema)
        schema_engine = sa.create_engine(url)
        db.metadata.create_all(schema_engine)
        schema_engine.dispose()
        yield {"kind": "postgresql", "url": url, "schema": schema, "base_url": pg, "instance": base_instance}
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    else:
        template = tmp_path_factory.mktemp("template") / "template.db"
        engine = sa.create_engine(f"sqlite:///{template}")
        db.metadata.create_all(engine)
        engine.dispose()
        yield {"kind": "sqlite", "template": template, "instance": base_instance}


def _empty_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@contextmanager
def private_database(database, folder):
    """A database of its own for a module's shared world, beside the per-test one: a copy of the SQLite template,
    or a new PostgreSQL schema (dropped afterwards). Yields its URL."""
    if database["kind"] == "sqlite":
        path = folder / "world.db"
        shutil.copyfile(database["template"], path)
        yield f"sqlite:///{path}"
        return
    schema = f"fs_world_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(database["base_url"])
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = _with_search_path(database["base_url"], schema)
    schema_engine = sa.create_engine(url)
    db.metadata.create_all(schema_engine)
    schema_engine.dispose()
    try:
        yield url
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def app_settings(database_url: str, **overrides) -> dict:
    """The settings every test app starts from."""
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False, "SERVER_NAME": None, **overrides}


@pytest.fixture
def database_url(database, tmp_path):
    if database["kind"] == "postgresql":
        _empty_postgres(database["url"])
        return database["url"]
    path = tmp_path / "test.db"
    shutil.copyfile(database["template"], path)
    return f"sqlite:///{path}"


@pytest.fixture
def make_app(database_url, tmp_path, monkeypatch):
    """Build an app on this test's database; extra settings override the test defaults."""
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    apps = []

    def factory(**overrides):
        application = create_app(app_settings(database_url, **overrides))
        apps.append(application)
        return application

    yield factory
    for application in apps:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a user directly in the database: make_user(Role.TECHNICIAN, "li")."""

    def factory(role: Role, username: str | None = None, *, password: str = PASSWORD, active: bool = True,
                is_admin: bool = False, locale: str | None = None):
        with app.app_context():
            user = accounts.create_user(username or f"{role.value}-{uuid.uuid4().hex[:6]}", password, role,
                                        display_name=f"Test {role.value}", is_admin=is_admin, via="cli")
            user.active = active
            user.locale = locale
            db.session.commit()
            return user.id, user.username

    return factory


class AuthActions:
    def __init__(self, client):
        self.client = client

    def login(self, username: str, password: str = PASSWORD, remember: bool = False, **headers):
        data = {"username": username, "password": password}
        if remember:
            data["remember"] = "y"
        return self.client.post("/auth/login", data=data, headers=headers)

    def logout(self):
        return self.client.post("/auth/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def signed_in(client, auth, make_user):
    """Sign the test client in as a new user of `role`: signed_in(Role.ADMIN) -> (id, username)."""

    def factory(role: Role, **kwargs):
        user_id, username = make_user(role, **kwargs)
        response = auth.login(username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user_id, username

    return factory


# --- signing in and CSRF: one set of helpers for every test file -----------------------------------------------


def signed_client(app, user: str | int, *, password: str = PASSWORD):
    """A test client of `app` signed in as `user` (a username or a user id); the sign-in must succeed."""
    if isinstance(user, int):
        with app.app_context():
            user = db.session.get(User, user).username
    client = app.test_client()
    response = client.post("/auth/login", data={"username": user, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def csrf_from(page: str) -> str:
    """The CSRF token of the first form in a page's HTML."""
    found = CSRF_FIELD.search(page)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


# --- the browser: Debian's Chromium through Playwright (never a downloaded browser) ------------------------------

CHROMIUM = "/usr/bin/chromium"
# Flags that keep Chromium from reaching for Google's services on a machine with no such network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}


@contextmanager
def live_server(app):
    """Serve `app` on a free port of 127.0.0.1 in a background thread. On the way out it waits (10 s at most) for
    the requests still being answered: one still writing when the next test empties the database deadlocks it
    (PostgreSQL's TRUNCATE waits for the request's locks, the request for the TRUNCATE's)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    answering, done = [0], threading.Condition()
    accept, answer = server.process_request, server.process_request_thread

    def finished():
        with done:
            answering[0] -= 1
            done.notify_all()

    def accepted(request, client_address):  # counted before its thread starts: none slips past the wait
        with done:
            answering[0] += 1
        try:
            accept(request, client_address)
        except BaseException:
            finished()
            raise

    def answered(request, client_address):
        try:
            answer(request, client_address)
        finally:
            finished()

    server.process_request, server.process_request_thread = accepted, answered
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        with done:
            done.wait_for(lambda: answering[0] == 0, timeout=10)
        server.server_close()
        thread.join(timeout=5)


def require_chromium() -> None:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install chromium` "
                    "(make test does this when it can)")


@pytest.fixture(scope="session")
def chromium_browser():
    """One Chromium for the whole run (starting it costs more than most tests): each test gets its own contexts,
    which share nothing (cookies, storage, IndexedDB, service workers), on its own server's origin."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def chromium(app, chromium_browser):
    """`app` served on a local port and Chromium: yields (base URL, a new phone-sized Chinese browser context).
    The contexts a test opens are closed after it."""
    contexts = []

    def new_context(**options):
        # Options of the context may be changed (a 3x phone: device_scale_factor=3).
        context = chromium_browser.new_context(locale="zh-CN", **{**PHONE, **options})
        contexts.append(context)
        return context

    with live_server(app) as base:
        yield base, new_context
        for context in contexts:
            context.close()


def browser_sign_in(page, base: str, username: str, next_path: str = "") -> None:
    """Sign in through the real form (Chinese interface), optionally going on to `next_path`."""
    page.goto(base + "/auth/login" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="登录").click()


AXE = "/static/vendor/axe-core-4.14.1/axe.min.js"  # vendored from npm for the tests; never in the app shell
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2.2 AA and best-practice findings on the page as drawn now, one line per node.
    Loaded from this site (script-src 'self'), so the strict CSP holds."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)
    found = page.evaluate("""(tags) => axe.run(document, { runOnly: { type: 'tag', values: tags } })
        .then((r) => r.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')}`)))""",
                          AXE_TAGS)
    return found


@pytest.fixture
def calendar_without_2027(monkeypatch):
    """The holiday package as it is today, whatever version is installed: no 2027 data."""
    import chinese_calendar

    from domain.sla import workdays

    real = chinese_calendar.is_workday

    def is_workday(day):
        if day.year >= 2027:
            raise NotImplementedError("no data for 2027")
        return real(day)

    monkeypatch.setattr(workdays.chinese_calendar, "is_workday", is_workday)
