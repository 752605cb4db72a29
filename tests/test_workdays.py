"""Working days: Chinese public holidays and make-up working days, admin overrides, and unknown years."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from domain.core.db import db
from domain.sla.models import CalendarOverride
from domain.sla.workdays import add_working_days, calendar_known, is_workday

from .helpers import SHANGHAI


def local(*args):
    return datetime(*args, tzinfo=SHANGHAI)


def test_national_day_week_and_its_make_up_days():
    assert not is_workday(date(2026, 10, 1))   # National Day
    assert not is_workday(date(2026, 10, 7))
    assert is_workday(date(2026, 10, 10))      # Saturday, a make-up working day
    assert is_workday(date(2026, 9, 20))       # Sunday, a make-up working day
    assert not is_workday(date(2026, 10, 11))  # an ordinary Sunday


def test_three_working_days_across_national_day(app):
    with app.app_context():
        # Opened Wednesday 30 September: 1-7 October are holidays; 8, 9 and (Saturday) 10 October count.
        assert add_working_days(local(2026, 9, 30, 16, 0), 3, SHANGHAI) == local(2026, 10, 11, 0, 0)


def test_three_working_days_over_a_normal_weekend(app):
    with app.app_context():
        # Thursday 19 November 2026 -> Friday, Monday, Tuesday.
        assert add_working_days(local(2026, 11, 19, 9, 0), 3, SHANGHAI) == local(2026, 11, 25, 0, 0)


def test_the_day_is_the_local_day(app):
    with app.app_context():
        # 2026-11-19 20:00 UTC is already Friday 20 November in Shanghai.
        utc = datetime(2026, 11, 19, 20, 0, tzinfo=ZoneInfo("UTC"))
        assert add_working_days(utc, 1, SHANGHAI) == local(2026, 11, 24, 0, 0)


def test_year_the_calendar_does_not_know_falls_back_to_weekdays(app):
    assert not calendar_known(date(2031, 1, 1))
    with app.app_context():
        # Friday 3 January 2031 -> Monday, Tuesday, Wednesday.
        assert add_working_days(local(2031, 1, 3, 10, 0), 3, SHANGHAI) == local(2031, 1, 9, 0, 0)


def test_admin_override_wins(app):
    with app.app_context():
        db.session.add(CalendarOverride(day=date(2031, 1, 6), is_workday=False, note="company holiday"))
        db.session.add(CalendarOverride(day=date(2031, 1, 4), is_workday=True, note="make-up Saturday"))
        db.session.commit()
        # Saturday the 4th now counts, Monday the 6th does not: Sat 4, Tue 7, Wed 8.
        assert add_working_days(local(2031, 1, 3, 10, 0), 3, SHANGHAI) == local(2031, 1, 9, 0, 0)
        assert add_working_days(local(2031, 1, 3, 10, 0), 2, SHANGHAI) == local(2031, 1, 8, 0, 0)
