"""Fixtures: an isolated database per test, on SQLite by default or on PostgreSQL with TEST_DATABASE_URL.

SQLite: the schema is built once into a template file, copied for each test.
PostgreSQL: the schema is built once in a private schema of the test database, emptied before each test.
Each pytest-xdist worker is a session of its own: its own template (under its own basetemp), its own schema (named
after its process), its own Chromium.
"""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from jinja2 import BytecodeCache
from sqlalchemy.engine import Engine

from app import create_app
from domain.core import context
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import User

# The helpers live in tests/helpers.py; the names below are also imported here because other branches still import
# them from conftest (kept for one merge: import them from .helpers).
from .helpers import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    PHONE,
    SHANGHAI,
    T0,
    AuthActions,
    app_settings,
    axe_violations,
    browser_sign_in,
    csrf_from,
    hash_passwords_fast,
    live_server,
    private_database,
    require_chromium,
    signed_client,
    user_factory,
    with_search_path,
)


def _pg_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    hash_passwords_fast(monkeypatch)


@pytest.fixture(scope="session", autouse=True)
def url_builders_compiled_once():
    """Werkzeug compiles a URL builder (Python source through ast and compile) for each of the app's rules, twice,
    every time an app is made: 130 ms of the 170 ms of each test's create_app. A builder is a function of its rule
    alone (the rule's text and defaults; it reaches the rule's converters through the rule it is bound to): each is
    compiled once per run and bound to every app's rule, as Werkzeug binds it."""
    from werkzeug.routing.rules import Rule

    compile_builder, compiled = Rule._compile_builder, {}

    def compiled_once(self, append_unknown=True):
        key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())), append_unknown)
        if key not in compiled:
            compiled[key] = compile_builder(self, append_unknown)
        return compiled[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", compiled_once)
        yield


class _TemplatesCompiledOnce(BytecodeCache):
    """Jinja's bytecode cache in memory, for every app of the run. Each app has its own Jinja environment, which
    compiled every template it rendered again in every test (14% of the access matrix's write cases); a template's
    code is kept under its name and the checksum of its source, so an edited template is compiled again."""

    def __init__(self):
        self.code = {}

    def load_bytecode(self, bucket):
        found = self.code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket):
        self.code[bucket.key] = (bucket.checksum, bucket.code)


class _StatementsCompiledOnce:
    """SQLAlchemy's compiled-statement cache shared by every engine of the run. Each test's app has its own engine, and
    an engine's cache is its own and keyed by its dialect object: every statement was compiled again in every test
    (15% of the access matrix's write cases). Engines of the same dialect class, server version and settings compile
    a statement to the same SQL, so their entries are shared; a dialect of another kind (PostgreSQL beside SQLite in
    the migration tests) keeps its own."""

    def __init__(self):
        self.entries = {}

    @staticmethod
    def _key(key):
        dialect = key[0]
        return (type(dialect), dialect.server_version_info, dialect.paramstyle, dialect.label_length,
                dialect.max_identifier_length, *key[1:])

    def get(self, key, default=None):
        return self.entries.get(self._key(key), default)

    def __setitem__(self, key, value):
        self.entries[self._key(key)] = value

    def __len__(self):
        return len(self.entries)

    def clear(self):
        self.entries.clear()


@pytest.fixture(scope="session", autouse=True)
def templates_and_statements_compiled_once():
    """Jinja templates and SQL statements compiled once per run (see the two classes above), not once per app."""
    from flask import Flask

    templates, statements = _TemplatesCompiledOnce(), _StatementsCompiledOnce()

    def share_the_cache(connection):
        if connection.engine._compiled_cache is not None:
            connection.engine._compiled_cache = statements

    sa.event.listen(Engine, "engine_connect", share_the_cache)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "jinja_options", {**Flask.jinja_options, "bytecode_cache": templates})
        yield
    sa.event.remove(Engine, "engine_connect", share_the_cache)


def _sqlite_without_fsync(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


@pytest.fixture(scope="session", autouse=True)
def sqlite_commits_without_fsync():
    """The tests' SQLite files are thrown away after each test: a commit need not wait for the disk (fsync; 13% of
    the access matrix's write cases on this machine's disk). Locking and WAL are unchanged (the app's own pragmas
    still run first); a commit still reaches the operating system, so a killed worker process loses nothing."""
    sa.event.listen(Engine, "connect", _sqlite_without_fsync)
    yield
    sa.event.remove(Engine, "connect", _sqlite_without_fsync)


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
        url = with_search_path(pg, schema)
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
    """Every table emptied and every sequence restarted, as TRUNCATE ... RESTART IDENTITY would: DELETE in the
    reverse order of the foreign keys, in one round trip. TRUNCATE gives each of the 40 tables new files and took
    0.26-0.64 s a test on this machine (most of the PostgreSQL run's setup); this takes about 20 ms."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        sequences = conn.execute(sa.text("SELECT sequence_name FROM information_schema.sequences "
                                         "WHERE sequence_schema = current_schema()")).scalars().all()
        conn.exec_driver_sql("; ".join([f'DELETE FROM "{t.name}"' for t in reversed(db.metadata.sorted_tables)]
                                       + [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences]))
    engine.dispose()


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
    """Create a user directly in the database: make_user(Role.TECHNICIAN, "li") -> (id, username)."""
    return user_factory(app)


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


# --- the browser: Debian's Chromium through Playwright (never a downloaded browser) ------------------------------


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


# --- the people and jobs several files start from (their helpers: tests/helpers.py) -------------------------------


@pytest.fixture
def people(app, make_user):
    """The dispatch rules' cast: {"dispatcher", "supervisor", "supervisor2", "tech", "tech2", "expert", "gone": id}."""
    from domain.requests.catalog import ensure_catalog

    ids = {
        "dispatcher": make_user(Role.DISPATCHER, "d1")[0],
        "supervisor": make_user(Role.SUPERVISOR, "s1")[0],
        "supervisor2": make_user(Role.SUPERVISOR, "s2")[0],
        "tech": make_user(Role.TECHNICIAN, "t1")[0],
        "tech2": make_user(Role.TECHNICIAN, "t2")[0],
        "expert": make_user(Role.EXPERT, "e1")[0],
        "gone": make_user(Role.TECHNICIAN, "gone", active=False)[0],
    }
    with app.app_context():
        ensure_catalog()
        db.session.commit()
    return ids


@pytest.fixture
def ctx_for(people):
    """ctx_for("tech", at) -> a domain context acting as one of `people`, at T0 unless told."""

    def factory(who: str, now: datetime = T0) -> context.Context:
        return context.Context(actor=db.session.get(User, people[who]), tz=SHANGHAI, now=now, via="test")

    return factory


@pytest.fixture
def assigned(app, make_user):
    """A request just assigned to t1 (desk and boss beside): nothing done yet. Its number."""
    from domain.requests import assignment, intake
    from domain.requests.catalog import ensure_catalog

    with app.app_context():
        desk, boss, tech = (make_user(Role.DISPATCHER, "desk")[0], make_user(Role.SUPERVISOR, "boss")[0],
                            make_user(Role.TECHNICIAN, "t1")[0])
        ensure_catalog()
        now = datetime.now(UTC) - timedelta(minutes=30)
        ticket = intake.create_request({
            "customer_name": "远山音乐现场", "contact_phone": "13600136004", "address": "上海市静安区万航渡路1188号",
            "device_model": "Behringer X32 Compact", "problem": "主输出无声", "urgency": "urgent"},
            context.Context(actor=db.session.get(User, desk), tz=SHANGHAI, now=now))
        db.session.flush()
        assignment.assign(ticket, db.session.get(User, tech),
                          context.Context(actor=db.session.get(User, boss), tz=SHANGHAI, now=now))
        db.session.commit()
        return ticket.number


@pytest.fixture
def visit_job(app, make_user):
    """A prepared visit for the technician li (orderfactory.make_prepared_visit)."""
    from .orderfactory import make_prepared_visit

    with app.app_context():
        return make_prepared_visit(make_user, tech="li")


@pytest.fixture
def assigned_job(app, make_user):
    """An urgent request just assigned to the technician li: nothing done on it yet."""
    from domain.requests import assignment, intake
    from domain.requests.catalog import ensure_catalog

    ids = {"desk": make_user(Role.DISPATCHER, "desk")[0], "boss": make_user(Role.SUPERVISOR, "boss")[0],
           "tech": make_user(Role.TECHNICIAN, "li")[0]}
    with app.app_context():
        ensure_catalog()
        now = datetime.now(UTC) - timedelta(minutes=5)

        def as_(who):
            return context.Context(actor=db.session.get(User, ids[who]), tz=SHANGHAI, now=now)

        ticket = intake.create_request({"customer_name": "星河传媒", "contact_person": "王敏",
                                        "contact_phone": "13800138001", "address": "上海市徐汇区漕溪北路88号",
                                        "device_model": "Magewell Ultra Encode HDMI", "problem": "推流频繁断开",
                                        "urgency": "urgent"}, as_("desk"))
        db.session.flush()
        assignment.assign(ticket, db.session.get(User, ids["tech"]), as_("boss"))
        db.session.commit()
        return {"ids": ids, "number": ticket.number}


@pytest.fixture
def phone(chromium):
    """The technician's phone: (base URL, a new browser context, the script errors it reports)."""
    base, new_context = chromium
    browser_context = new_context()
    problems = []
    browser_context.on("weberror", lambda e: problems.append(str(e.error)))
    return base, browser_context, problems
