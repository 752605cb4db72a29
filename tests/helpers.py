"""What the test files share, in one module: settings, signing in and CSRF, the live server and the browser, the
people and requests several files start from, and the field app's screens. A test file imports from here (or from
the factories beside it: orderfactory.py for orders, phones.py for the sync API as a phone uses it, standins.py for
the platforms' stand-ins, tsa.py for the time-stamping authority, pdfobjects.py for PDF internals), never from
another test file. The fixtures below are imported by the files that use them; conftest.py has the ones every
file gets."""
from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from domain.core import context
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import User

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-9"
SHANGHAI = ZoneInfo("Asia/Shanghai")
ZH = {"Accept-Language": "zh-CN"}
T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Shanghai
# Flask-WTF's hidden field, as the pages render it.
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


# --- the app under test --------------------------------------------------------------------------------------------


def app_settings(database_url: str, **overrides) -> dict:
    """The settings every test app starts from."""
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False, "SERVER_NAME": None, **overrides}


def settings_of(app):
    """The app's typed settings (domain/core/settings.py), as the worker and the views hand them to the domain."""
    from domain.core.settings import APP_KEY

    return app.extensions[APP_KEY]


def reconfigure(app, **values) -> None:
    """Change settings of a running app (an operator fixing one and restarting): the config, and the typed
    settings built from it again."""
    from app import install_settings

    app.config.update(values)
    install_settings(app)


def hash_passwords_fast(monkeypatch) -> None:
    """Real hashing, fewer rounds: the suite creates hundreds of users."""
    from werkzeug.security import generate_password_hash

    import domain.core.models

    monkeypatch.setattr(domain.core.models, "generate_password_hash",
                        functools.partial(generate_password_hash, method="pbkdf2:sha256:1000"))


def with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


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
    url = with_search_path(database["base_url"], schema)
    schema_engine = sa.create_engine(url)
    db.metadata.create_all(schema_engine)
    schema_engine.dispose()
    try:
        yield url
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def user_factory(app):
    """make_user(Role.TECHNICIAN, "li") -> (id, username): a user written straight into `app`'s database (the
    `make_user` fixture, and the same for a module's shared world)."""
    from domain.core import accounts

    def make_user(role: Role, username: str | None = None, *, password: str = PASSWORD, active: bool = True,
                  is_admin: bool = False, locale: str | None = None):
        with app.app_context():
            user = accounts.create_user(username or f"{role.value}-{uuid.uuid4().hex[:6]}", password, role,
                                        display_name=f"Test {role.value}", is_admin=is_admin, via="cli")
            user.active = active
            user.locale = locale
            db.session.commit()
            return user.id, user.username

    return make_user


@contextmanager
def module_app(database, tmp_path_factory, name: str, **overrides):
    """An app on a database of its own for a module's shared world (read-only matrices): built once, disposed of
    afterwards. Yields the app."""
    from app import create_app

    folder = tmp_path_factory.mktemp(name)
    with private_database(database, folder) as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("INSTANCE_PATH", str(folder / "instance"))
        hash_passwords_fast(patch)
        app = create_app(app_settings(url, **overrides))
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def sigint_default() -> None:
    """preexec_fn of a child process a test stops as Ctrl-C would (SIGINT): SIGINT at its default. pytest-xdist's
    workers, and tests started in the background by a shell without job control, run with SIGINT ignored; a child
    inherits that, and Python then installs no KeyboardInterrupt handler: the child would never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def worker_env(app, database_url) -> dict:
    """The environment of a real `flask worker` process on this test's app and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "HUEY_IMMEDIATE"))}
    env.update(INSTANCE_PATH=app.instance_path, DATABASE_URL=database_url, FLASK_APP="app")
    return env


# --- signing in and CSRF ---------------------------------------------------------------------------------------


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


# --- people and requests several files start from ------------------------------------------------------------------

# Who a file's `staff` fixture creates: (username, role).
ALERTS_STAFF = [("desk", Role.DISPATCHER), ("boss", Role.SUPERVISOR), ("boss2", Role.SUPERVISOR),
                ("li", Role.TECHNICIAN), ("chen", Role.EXPERT)]
DESK_STAFF = [("desk", Role.DISPATCHER), ("boss", Role.SUPERVISOR), ("li", Role.TECHNICIAN),
              ("zhang", Role.TECHNICIAN), ("chen", Role.EXPERT)]
API_STAFF = [("desk", Role.DISPATCHER), ("boss", Role.SUPERVISOR), ("li", Role.TECHNICIAN), ("chen", Role.EXPERT)]


def staff_fixture(people: list[tuple[str, Role]]):
    """A `staff` fixture: these users and the device catalog, as {username: id}. A file names its own:
    `staff = staff_fixture(ALERTS_STAFF)`."""

    @pytest.fixture
    def staff(app, make_user):
        from domain.requests.catalog import ensure_catalog

        ids = {name: make_user(role, name)[0] for name, role in people}
        with app.app_context():
            ensure_catalog()
            db.session.commit()
        return ids

    return staff


def intake_data(**changes):
    data = {"customer_name": "星河传媒", "contact_person": "周敏", "contact_phone": "13800138001",
            "address": "上海市徐汇区漕溪北路88号", "device_model": "Blackmagic ATEM Mini Pro ISO",
            "problem": "切换台无法切换机位", "urgency": "urgent", "channel": "phone",
            "reported_at": (T0 - timedelta(minutes=5)).isoformat()}
    data.update(changes)
    return data


def new_ticket(ctx_for, **changes):
    """A request entered by the dispatcher of `people` (flushed, not committed)."""
    from domain.requests import intake

    ticket = intake.create_request(intake_data(**changes), ctx_for("dispatcher"))
    db.session.flush()
    return ticket


# A request as the alerts' tests enter it, and as the website's form posts it to the API.
ALERT_BODY = {"customer_name": "鲸鱼电竞俱乐部", "contact_phone": "13900139002",
              "device_model": "Blackmagic ATEM Mini Pro", "problem": "比赛直播中切换台无法切换机位",
              "urgency": "urgent"}
API_BODY = {"customer_name": "鲸鱼电竞俱乐部", "contact_phone": "13900139002", "address": "上海市杨浦区政通路177号",
            "device_model": "Blackmagic ATEM Mini Pro ISO", "problem": "比赛直播中切换台无法切换机位",
            "urgency": "urgent", "channel": "web"}


def ctx(user_id, at):
    """A domain context acting as `user_id` at `at` (inside an app context)."""
    return context.Context(actor=db.session.get(User, user_id), tz=SHANGHAI, now=at)


def new_request(staff, at=T0, **extra):
    """A request entered by staff's desk at `at` and committed (inside an app context)."""
    from domain.requests import intake

    ticket = intake.create_request({**ALERT_BODY, "reported_at": at.isoformat(), **extra}, ctx(staff["desk"], at))
    db.session.commit()
    return ticket


def make_requests(app, staff, count, **changes):
    """`count` requests entered by staff's desk now; their numbers."""
    from domain.requests import intake

    numbers = []
    with app.app_context():
        desk = context.Context(actor=db.session.get(User, staff["desk"]), tz=SHANGHAI)
        for i in range(count):
            data = {"customer_name": f"客户{i:03d}", "contact_phone": f"1380000{i:04d}",
                    "device_model": "ATEM Mini Pro ISO",
                    "problem": f"问题 {i}", "urgency": "urgent" if i % 3 == 0 else "normal"}
            data.update(changes)
            numbers.append(intake.create_request(data, desk).number)
        db.session.commit()
    return numbers


def assign_to(app, staff, number, technician):
    """Request `number` assigned by staff's boss to staff's `technician`."""
    from domain.requests import access, assignment

    with app.app_context():
        boss = context.Context(actor=db.session.get(User, staff["boss"]), tz=SHANGHAI)
        ticket = access.get_ticket(number)
        assignment.assign(ticket, db.session.get(User, staff[technician]), boss)
        db.session.commit()


# --- the visit flow's ops ------------------------------------------------------------------------------------------

ON_SITE_PATH = ["contact.made", "remote.guided", "visit.scheduled", "prep.confirmed", "visit.on_the_way",
                "visit.arrived", "problem.confirmed", "note.added", "work.recorded", *["test.recorded"] * 4,
                "customer.confirmed", "precautions.told", "order.signed", "visit.departed", "order.submitted"]


@functools.cache
def _signature() -> str:
    from .orderfactory import signature_data_url

    return signature_data_url()


def flow_payload(kind: str, number: str, rng, vary: bool) -> dict:
    """A valid payload for each kind: only the flow may refuse these ops. `vary`: calls that did not reach the
    customer, failed tests. Inside an app context."""
    from sqlalchemy import select

    from domain.fieldwork import flow
    from domain.requests import access
    from domain.requests.models import FaultCategory

    from .phones import at

    if kind == "contact.made":
        return {"method": "phone", "reached": not vary or rng.random() < 0.8}
    if kind in ("remote.resolved", "work.recorded"):
        return {"cause": "输出线缆松动", "work_done": "重新插紧线缆"}
    if kind == "visit.scheduled":
        return {"scheduled_at": at(120 + rng.randint(0, 600)), "address": "上海市静安区万航渡路1188号"}
    if kind == "prep.confirmed":
        ticket = access.get_ticket(number)
        return {"items": [i.id for v in ticket.visits for i in v.prep_items]}
    if kind == "problem.confirmed":
        return {"text": "主输出无声"}
    if kind == "note.added":
        return {"note_id": str(uuid.uuid4()), "text": "检查中", "shown_to_customer": False}
    if kind == "test.recorded":
        # In order: the checklist's next item without a result; varied: any item (the technician's own too),
        # failed sometimes, not applicable sometimes (with or without the reason it needs).
        ticket = access.get_ticket(number)
        names = [names[0] for names in flow.required_tests(ticket)]
        left = [name for name in names if name not in {t.item for t in ticket.tests}]
        item = left[0] if left and not vary else rng.choice([*names, "主输出正常"])
        if vary and rng.random() < 0.15:
            return {"item": item, "passed": False, "not_applicable": True, "note": rng.choice(["", "客户不使用该功能"])}
        return {"item": item, "passed": not vary or rng.random() < 0.7, "note": ""}
    if kind == "customer.confirmed":
        return {"note": "", "failures_acknowledged": vary and rng.random() < 0.5}
    if kind == "precautions.told":
        return {"items": ["开关机前先将推子归零"]}
    if kind == "remote.guided":
        return {"method": "screen_share", "steps": "检查输出设置",
                "outcome": rng.choice(["needs_visit", "in_progress"])}
    if kind == "order.submitted":
        ticket = access.get_ticket(number)
        category = db.session.execute(select(FaultCategory).where(
            FaultCategory.device_category_id == ticket.device_category_id)).scalars().first()
        return {"fault_category_id": category.id, "root_cause": "线缆老化", "solution_summary": "更换线缆",
                "parts_used": ""}
    if kind == "signature.missing":
        return {"situation": rng.choice(["absent", "refused"]) if vary else "absent",
                "reason": rng.choice(["", "客户临时外出，联系不上"]) if vary else "客户临时外出，联系不上"}
    if kind == "visit.followup_needed":
        return {"reason": rng.choice(["", "需订购电源模块"]) if vary else "需订购电源模块"}
    if kind == "device.checked":  # the fixture's request names no registered device: always a mismatch
        reason = rng.choice(["", "客户换了设备"]) if vary else "客户换了设备"
        return {"code": "X32-0001", "matched": False, "reason": reason}
    if kind == "parts.used":
        return {"items": [{"part": "cable", "count": 2}]}
    if kind == "visit.on_the_way":
        return {"arriving_at": at(rng.randint(20, 90))}
    if kind == "job.handed_back":
        return {"reason": rng.choice(["", "身体不适，无法上门"]) if vary else "另有紧急工单"}
    if kind == "order.signed":
        return {"signer_name": "赵远", "rating": 5, "comment": "", "signature_png": _signature(),
                "strokes": [[[1, 2, 0], [3, 4, 9]]]}
    return {}


# --- a hand-built week for the reports -------------------------------------------------------------------------

# Wednesday of 2026-W48: 2026-W47 (Mon 16 Nov .. Sun 22 Nov) is the last complete week.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in November 2026, Shanghai time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


class Builder:
    """Requests written straight into the tables, with exactly the clock rows and signatures a case needs."""

    def __init__(self):
        from domain.core.blobs import store_blob
        from domain.requests.models import Customer

        self.customer = Customer(name="测试客户直播间", phone="13800000000")
        db.session.add(self.customer)
        self.blob = store_blob(b"\x89PNG fake signature", "image/png").sha256
        self.count = 0

    def ticket(self, assignee: User | None, created: datetime, *, status=None,
               remote_resolved: datetime | None = None):
        from domain.core.enums import Channel, TicketStatus, Urgency
        from domain.requests.models import Ticket

        status = status or TicketStatus.ASSIGNED
        self.count += 1
        ticket = Ticket(number=f"FS-T-{self.count:04d}-{uuid.uuid4().hex[:4]}", status=status,
                        urgency=Urgency.URGENT, channel=Channel.PHONE, customer=self.customer,
                        contact_phone="13800000000", device_model_text="ATEM Mini Pro", problem="无信号",
                        reported_at=created - timedelta(minutes=5), created_at=created, assignee=assignee,
                        remote_resolved_at=remote_resolved,
                        cancelled_at=created + timedelta(hours=1) if status == TicketStatus.CANCELLED else None)
        db.session.add(ticket)
        return ticket

    def clock(self, ticket, name, due: datetime, done: datetime | None = None, *,
              not_applicable: bool = False) -> None:
        from domain.sla.models import TicketClock

        ticket.clocks.append(TicketClock(name=name, started_at=due - timedelta(minutes=30), due_at=due, done_at=done,
                                         not_applicable=not_applicable))

    def sign(self, ticket, rating: int, at: datetime) -> None:
        from domain.fieldwork.models import Signature

        db.session.flush()
        db.session.add(Signature(ticket=ticket, signer_name="客户", rating=rating, png_sha256=self.blob,
                                 signed_at_client=at, signed_at=at + timedelta(minutes=3), device_id="phone",
                                 technician_id=ticket.assignee_id))


def technician(username: str, name: str) -> User:
    from domain.core import accounts

    return accounts.create_user(username, "long-enough-pw", Role.TECHNICIAN, display_name=name, via="cli")


# --- the live server and the browser: Debian's Chromium through Playwright (never a downloaded browser) ----------

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
    (on PostgreSQL the emptying waits for the request's locks, the request for the emptying's)."""
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


# --- the field app in the browser: its jobs, the phone and its screens ---------------------------------------------


def signed_in_app(base, browser_context, username="li"):
    """The field app open on a new page, signed in, its service worker in control."""
    page = browser_context.new_page()
    browser_sign_in(page, base, username, next_path="/field/")
    page.wait_for_url(re.compile(r".*/field/.*"))
    # Wait for the service worker to take control (the app shell is then in its cache). Polled from here:
    # page.wait_for_function evaluates strings, which the strict CSP (rightly) refuses.
    for _ in range(150):
        if page.evaluate("navigator.serviceWorker.controller !== null"):
            return page
        page.wait_for_timeout(100)
    pytest.fail("the service worker never took control of /field/")


def step(page, name):
    """A step of the job's stepper (the section keyed by its name)."""
    return page.locator(f'section[data-step="{name}"]')


def look_at(locator, path, tries=5):
    """A screenshot of a part of the screen for a person to open. The job screen is drawn again whenever the queue
    or the feed changes (a sync, a recorded act), which can replace the element between finding it and shooting
    it: shoot the newly drawn one then."""
    from playwright.sync_api import Error
    for attempt in range(tries):
        try:
            return locator.screenshot(path=str(path))
        except Error as error:
            if "not attached" not in str(error) or attempt == tries - 1:
                raise
            locator.page.wait_for_timeout(200)


def open_step(page, name):
    """A step allowed though not next is folded, one tap away: open it (a no-op when it is open already)."""
    details = step(page, name).locator("details")
    if details.count() and not details.evaluate("(d) => d.open"):
        step(page, name).locator("summary").click()
    return step(page, name)


def job_url(base, number):
    return base + f"/field/#/job/{number}"


def notes_step(page):
    return step(page, "work")


def arrive(page, base, number):
    """Tap 'arrived' on the job and wait until the server has it."""
    from playwright.sync_api import expect

    page.goto(job_url(base, number))
    page.get_by_role("button", name="我已到达现场").click()
    # Done on the phone first (the status line then counts the op), then sent: "all sent" before the arrival was
    # stored would be the status of the page's first sync, and the server would not know of the arrival yet.
    expect(step(page, "arrive")).to_have_class(re.compile(r"\bdone\b"))
    expect(notes_step(page)).to_be_visible()
    expect(page.locator("#sync-status")).to_contain_text("已全部发送", timeout=20000)


def ready_to_sign(app, number):
    """The visit done up to the customer's signature, through the domain (as another phone would have)."""
    from domain.fieldwork import onsite
    from domain.requests import access

    with app.app_context():
        ticket = access.get_ticket(number)
        now = datetime.now(UTC) - timedelta(minutes=10)
        as_tech = context.Context(actor=db.session.get(User, ticket.assignee_id), tz=SHANGHAI, now=now)
        onsite.arrive(ticket, as_tech, now)
        onsite.confirm_problem(ticket, as_tech, "主输出无声", now)
        onsite.record_work(ticket, as_tech, cause="XLR 接头松动", work_done="重新插紧", at=now)
        items = [x["zh"] for x in (ticket.device_category.acceptance_tests if ticket.device_category else [])]
        for item in items or ["主输出有声"]:
            onsite.record_test(ticket, as_tech, item=item, passed=True, note="", at=now)
        onsite.confirm_customer(ticket, as_tech, "", now)
        onsite.tell_precautions(ticket, as_tech, ["保持设备通风"], now)
        db.session.commit()
