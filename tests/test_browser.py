"""The pages in a real headless Chromium at phone size: they work under the strict CSP, in both languages."""
from __future__ import annotations

import pytest

from domain.core.enums import Role

from .helpers import browser_sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_session(chromium):
    base, new_context = chromium
    page = new_context().new_page()
    problems = []
    # A form sent back with its errors answers 400, which Chromium logs; anything else is a problem.
    expected = "the server responded with a status of 400"
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and expected not in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return base, page, problems


def sign_in(page, base, username):
    browser_sign_in(page, base, username)
    page.wait_for_load_state("networkidle")


def test_sign_in_menu_language_and_sign_out_on_a_phone(browser_session, make_user):
    base, page, problems = browser_session
    make_user(Role.ADMIN, "phone-admin")
    page.goto(base + "/auth/login")
    assert page.locator("h1").inner_text() == "登录"
    # The layout fits the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    sign_in(page, base, "phone-admin")
    assert "您好" in page.locator("h1").inner_text()
    page.locator("summary").click()
    assert page.locator(".menu-panel").is_visible()
    page.locator(".menu-panel").get_by_role("button", name="English").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().startswith("Hello")
    page.locator("summary").click()
    page.locator(".menu-panel").get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("networkidle")
    assert page.url.startswith(base + "/auth/login")
    assert problems == []  # a CSP violation or a script error would show here


def test_admin_creates_a_user_from_the_phone(browser_session, make_user):
    base, page, problems = browser_session
    make_user(Role.ADMIN, "phone-admin")
    sign_in(page, base, "phone-admin")
    page.goto(base + "/admin/users/new")
    page.fill("input[name=username]", "zhang.wei")
    page.fill("input[name=display_name]", "张伟")
    page.select_option("select[name=role]", "technician")
    page.fill("input[name=password]", "short")
    page.get_by_role("button", name="创建账号").click()
    page.wait_for_load_state("networkidle")
    assert "密码至少需要 8 个字符" in page.content()
    assert page.input_value("input[name=username]") == "zhang.wei"  # nothing typed is lost
    page.fill("input[name=password]", "long-enough-1")
    page.get_by_role("button", name="创建账号").click()
    page.wait_for_load_state("networkidle")
    assert "账号 zhang.wei 已创建" in page.content()
    assert problems == []


def test_board_and_countdowns_run_under_the_csp(browser_session, make_user, app):
    from zoneinfo import ZoneInfo

    from domain.core import context
    from domain.core.db import db
    from domain.core.models import User
    from domain.requests import intake
    from domain.requests.catalog import ensure_catalog

    base, page, problems = browser_session
    make_user(Role.SUPERVISOR, "phone-boss")
    desk_id, _ = make_user(Role.DISPATCHER, "phone-desk")
    with app.app_context():
        ensure_catalog()
        ctx = context.Context(actor=db.session.get(User, desk_id), tz=ZoneInfo("Asia/Shanghai"))
        number = intake.create_request({"customer_name": "星河传媒", "contact_phone": "13800138001",
                                          "device_model": "ATEM Mini Pro ISO", "problem": "无法切换机位",
                                          "urgency": "urgent"}, ctx).number
        db.session.commit()
    sign_in(page, base, "phone-boss")
    page.goto(base + "/dispatch/board")
    countdown = page.locator("time[data-due]").first
    assert "剩余" in countdown.inner_text()
    # clocks.js rewrote the text from the due time (it says 29 or 30 minutes, in Chinese).
    assert page.evaluate("document.querySelector('time[data-due]').textContent").startswith("剩余")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("summary", has_text="筛选条件").click()
    page.select_option("select[name=urgency]", "urgent")
    page.get_by_role("button", name="筛选", exact=True).click()
    page.wait_for_load_state("networkidle")
    assert number in page.content()
    page.goto(base + f"/dispatch/requests/{number}")
    assert page.locator(".clock-pending, .clock-soon").count() >= 1
    assert problems == []


CONTROLS_OUTSIDE_THEIR_CARD = """
[...document.querySelectorAll('.card input, .card select, .card textarea, .card button, .card .button')]
  .filter(el => el.offsetParent !== null)
  .filter(el => el.getBoundingClientRect().right > el.closest('.card').getBoundingClientRect().right + 0.5)
  .map(el => el.outerHTML.slice(0, 80))
"""


def test_main_pages_pass_axe_wcag22_aa_and_best_practice(browser_session, make_user, app):
    """axe-core (WCAG 2.2 AA + best practice) finds nothing on the sign-in page and the supervisor's pages (home,
    board, new request, a request, the orders archive, review, the inbox, the knowledge base, the reports), in
    Debian's Chromium at phone size, and none of them scrolls sideways."""
    from .helpers import axe_violations
    from .orderfactory import make_signed_order

    base, page, problems = browser_session
    make_user(Role.SUPERVISOR, "axe-boss")
    with app.app_context():
        number = make_signed_order(make_user, photos=1)["number"]
    page.goto(base + "/auth/login")
    assert axe_violations(page) == []
    sign_in(page, base, "axe-boss")
    for path in ("/", "/dispatch/board", "/dispatch/new", f"/dispatch/requests/{number}", "/orders/",
                 "/orders/review", "/notifications/", "/notifications/preferences", "/reports/delivered", "/kb/",
                 "/reports/weekly"):
        response = page.goto(base + path)
        assert response.ok, path
        assert axe_violations(page) == [], path
        # Nothing wider than the phone (no sideways scrolling), and no control sticking out of its card (the
        # archive's date filters once did, by 15 px).
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        assert page.evaluate(CONTROLS_OUTSIDE_THEIR_CARD) == [], path
    assert problems == []
