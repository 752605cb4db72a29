"""The home page says what waits: unassigned and overdue requests on the board's tile, orders waiting for review,
a technician's open and overdue jobs, an expert's escalations; counted by domain/requests/attention.py."""
from __future__ import annotations

from datetime import timedelta

from domain.core.db import db
from domain.core.models import User
from domain.core.types import utcnow
from domain.requests.attention import attention_for

from .helpers import DESK_STAFF, ZH, assign_to, make_requests, signed_client, staff_fixture

staff = staff_fixture(DESK_STAFF)


def test_counts_follow_the_requests_and_the_clock(app, staff):  # noqa: F811
    numbers = make_requests(app, staff, 3)
    assign_to(app, staff, numbers[0], "li")
    with app.app_context():
        boss, li, zhang = (db.session.get(User, staff[n]) for n in ("boss", "li", "zhang"))
        now = utcnow()
        assert attention_for(boss, now).unassigned == 2
        assert attention_for(boss, now).overdue == 0
        assert attention_for(li, now).my_jobs == 1 and attention_for(zhang, now).my_jobs == 0
        # Two hours on, every first contact is past its deadline (30 or 60 minutes): all three are overdue, one
        # of them Li's, none of them Zhang's.
        later = now + timedelta(hours=2)
        assert attention_for(boss, later).overdue == 3
        assert attention_for(li, later).overdue == 1
        assert attention_for(zhang, later).overdue == 0


def test_the_home_page_shows_what_waits(app, staff):  # noqa: F811
    make_requests(app, staff, 2)
    page = signed_client(app, staff["boss"]).get("/", headers=ZH).get_data(as_text=True)
    assert "2 条未分配" in page and "0 张待审核" in page and "已超时" not in page
    tech_page = signed_client(app, staff["li"]).get("/", headers=ZH).get_data(as_text=True)
    assert "进行中 0" in tech_page and "条未分配" not in tech_page  # a technician sees his own jobs, not the board
