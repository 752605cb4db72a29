"""The office pages in a real Chromium: the review decision where the reviewer looks, the board using a desktop's
width, the day view on one screen, the filters' labels with their checkboxes, and on every office page no tap
target under 44 px on a phone and nothing axe-core (WCAG 2.2 AA + best practice) objects to, at 390 and 1280 px."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.core.enums import Role

from .conftest import axe_violations, browser_sign_in
from .dayfactory import SHANGHAI, make_day
from .orderfactory import make_signed_order

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 800}, "device_scale_factor": 1, "is_mobile": False,
           "has_touch": False}

# Every visible control a finger taps: links, buttons, fold-out headers, form fields (a checkbox counts as its
# label when the label wraps it). Text links inside a sentence are exempt (WCAG 2.5.8's inline exception).
SMALL_TARGETS = """
() => {
  const seen = new Set();
  const out = [];
  const targets = document.querySelectorAll('a[href], button, summary, select, input:not([type=hidden]), textarea');
  for (const el of targets) {
    const box = (el.matches('input[type=checkbox], input[type=radio]') && el.closest('label')) || el;
    if (seen.has(box)) continue;
    seen.add(box);
    const r = box.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || box.closest('[hidden], .visually-hidden')) continue;
    const style = getComputedStyle(box);
    if (style.visibility === 'hidden') continue;
    const parent = box.parentElement;
    const inSentence = box.tagName === 'A' && style.display === 'inline' && parent &&
      [...parent.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim().length > 1);
    if (inSentence) continue;
    if (r.height < 43.5 || r.width < 43.5) {
      out.push(`${Math.round(r.width)}x${Math.round(r.height)} ${box.outerHTML.slice(0, 90)}`);
    }
  }
  return out;
}
"""


def sign_in(page, base, username):
    browser_sign_in(page, base, username)
    page.wait_for_load_state("networkidle")


@pytest.fixture
def office(app, make_user):
    """A submitted order to review (and a second behind it), an administrator, a dispatcher."""
    from domain.core.db import db
    from domain.documents import review
    from domain.requests import access

    from .test_review import ctx_of, fault_of

    numbers = []
    with app.app_context():
        for _ in range(2):
            made = make_signed_order(make_user, photos=2, internal_notes=("客户现场电源不稳定，建议下次带稳压器",))
            ticket = access.get_ticket(made["number"])
            review.save_internal_fields(ticket, ctx_of(made, "tech"), fault_category_id=fault_of(ticket).id,
                                        root_cause="接头氧化", solution_summary="更换 SDI 线缆",
                                        parts_used="SDI 线 1 根")
            review.submit(ticket, ctx_of(made, "tech"))
            db.session.commit()
            numbers.append(made["number"])
    boss = make_user(Role.SUPERVISOR, "office-boss")
    admin = make_user(Role.ADMIN, "office-admin", is_admin=True)
    make_user(Role.DISPATCHER, "office-desk")
    return {"numbers": numbers, "boss": boss, "admin": admin}


def test_the_review_decision_is_beside_the_summary_and_leads_to_the_next_order(chromium, office):
    base, new_context = chromium
    page = new_context(**DESKTOP).new_page()
    sign_in(page, base, "office-boss")
    page.goto(base + "/orders/review")
    first, second = office["numbers"]
    page.locator(f"a[href='/orders/{first}/review']").click()
    page.wait_for_load_state("networkidle")
    # What the reviewer checks is on the page, and the decision is on the first screen at 1280x800.
    for shown in ("更换 SDI 线缆", "接头氧化", "所有输入源正常显示", "黄磊", "客户现场电源不稳定", "已到达现场"):
        assert shown in page.content(), shown
    assert page.locator(".photo-grid img").count() == 2 and page.locator("img.signature-image").count() == 1
    for control in ("#comment", "button[value=approve]", "button[value=return]"):
        box = page.locator(control).bounding_box()
        assert box["y"] + box["height"] <= 800, control
    # Returning needs a reason, said on the same page; with one, the next order in the queue opens.
    page.locator("button[value=return]").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/orders/{first}/review") and "请说明需要修改的内容" in page.content()
    page.fill("#comment", "请补充根本原因的照片")
    page.locator("button[value=return]").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/orders/{second}/review")
    assert f"{first} 已退回给技术支持专员" in page.content()
    page.locator("button[value=approve]").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/orders/review")  # nothing left: back to the (empty) queue


def test_the_day_view_shows_a_normal_day_on_one_screen(chromium, app, make_user):
    """Ten technicians, thirty visits, urgent work nobody has: one 1280x800 screen, each technician one row with
    the visits in time order and their state."""
    day = (datetime.now(SHANGHAI) + timedelta(days=1)).date()
    with app.app_context():
        made = make_day(make_user, day)
    base, new_context = chromium
    page = new_context(**DESKTOP).new_page()
    sign_in(page, base, "day-boss")
    page.goto(base + f"/dispatch/day?day={day.isoformat()}")
    rows = page.locator(".day-table tbody tr")
    assert rows.count() == 10 and page.locator(".visit-chip").count() == 30
    assert page.evaluate("document.documentElement.scrollHeight") <= 800
    first_row = rows.first.inner_text()
    numbers = made["numbers"][made["techs"][0]]
    assert rows.first.locator(".chip-number").all_inner_texts() == numbers  # in time order
    assert "09:00" in first_row and "已签字" in first_row  # the first technician's first visit was signed
    assert page.locator(".visit-chip.state-on_the_way").count() >= 1
    assert page.locator(".visit-chip.state-arrived, .visit-chip.state-signed").count() >= 1
    waiting = page.locator(".day-waiting").inner_text()
    assert all(n in waiting for n in made["waiting"])
    assert axe_violations(page) == []


def test_the_board_uses_the_width_and_its_checkbox_labels_are_one_target(chromium, app, make_user):
    day = (datetime.now(SHANGHAI) + timedelta(days=1)).date()
    with app.app_context():
        make_day(make_user, day)  # 32 requests
    base, new_context = chromium
    page = new_context(**DESKTOP).new_page()
    sign_in(page, base, "day-boss")
    page.goto(base + "/dispatch/board")
    rows = page.locator("ul.requests > li")
    assert rows.count() == 30
    # The list is as wide as the screen allows, and a request is one compact row, not a card.
    assert rows.first.bounding_box()["width"] >= 1100
    assert page.evaluate("document.documentElement.scrollHeight") <= 2400  # 4,253 px in one 900 px column
    page.locator("summary", has_text="筛选条件").click()
    for name, text in (("overdue", "仅超时"), ("open", "仅未完成")):
        box = page.locator(f"input[name={name}]").bounding_box()
        words = page.locator("label.check-inline", has_text=text)
        words_box = words.evaluate("""(label) => { const r = document.createRange();
            r.selectNodeContents(label); const t = [...r.getClientRects()].filter(b => b.width > 30)[0];
            return {x: t.x, y: t.y, width: t.width, height: t.height}; }""")
        assert 0 <= words_box["x"] - (box["x"] + box["width"]) <= 16, (name, box, words_box)  # side by side
        words.get_by_text(text).click()  # tapping the words ticks the box
        assert page.locator(f"input[name={name}]").is_checked()


OFFICE_PAGES = {
    "office-boss": ("/", "/dispatch/board", "/dispatch/day", "/dispatch/new", "/dispatch/requests/{n}",
                    "/orders/review", "/orders/{n}/review", "/orders/", "/notifications/",
                    "/notifications/preferences", "/kb/", "/kb/cases", "/reports/weekly", "/devices/",
                    "/auth/account"),
    "office-desk": ("/dispatch/board", "/dispatch/day", "/dispatch/requests/{n}"),
    "office-admin": ("/admin/users", "/admin/users/new", "/admin/users/{boss}", "/admin/policy", "/admin/calendar",
                     "/admin/channels", "/admin/sms", "/admin/outbox"),
}


@pytest.mark.parametrize("width", [390, 1280])
def test_office_pages_have_44_px_targets_and_pass_axe(chromium, office, width):
    base, new_context = chromium
    options = {} if width == 390 else DESKTOP
    problems = {}
    for username, paths in OFFICE_PAGES.items():
        page = new_context(**options).new_page()
        sign_in(page, base, username)
        for path in paths:
            path = path.format(n=office["numbers"][0], boss=office["boss"][0])
            response = page.goto(base + path)
            assert response.ok, path
            found = axe_violations(page)
            if width == 390:
                found += page.evaluate(SMALL_TARGETS)
                assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
            if found:
                problems[f"{username} {path}"] = found
    assert problems == {}, "\n".join(f"{where}: {line}" for where, lines in problems.items() for line in lines)
