"""Working days in mainland China: weekends, public holidays and their make-up working days.

Order of authority: an administrator's override for the date, then the `chinesecalendar` package
for the years it knows, then Monday-to-Friday for years it does not know (never a crash).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import select

from ..core.db import db
from ..sla.models import CalendarOverride


def load_overrides(start: date, end: date) -> dict[date, bool]:
    rows = db.session.execute(
        select(CalendarOverride.day, CalendarOverride.is_workday)
        .where(CalendarOverride.day >= start, CalendarOverride.day <= end)
    )
    return dict(rows.all())


def is_workday(day: date, overrides: dict[date, bool] | None = None) -> bool:
    if overrides and day in overrides:
        return overrides[day]
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year the package has no data for
        return day.weekday() < 5


def calendar_known(day: date) -> bool:
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def last_known_year() -> int:
    """The last year the holiday package has data for (dates after it fall back to weekdays)."""
    year = date.today().year + 5
    while year > 2004 and not calendar_known(date(year, 6, 1)):
        year -= 1
    return year


def add_working_days(start: datetime, days: int, tz: ZoneInfo,
                     overrides: dict[date, bool] | None = None) -> datetime:
    """The end (midnight) of the `days`-th working day after the day `start` falls on, local time.

    A case opened on Wednesday with 3 working days is due at the end of the following Monday,
    unless a holiday or a make-up working day changes which days count.
    """
    return working_days_due(start, days, tz, overrides)[0]


def working_days_due(start: datetime, days: int, tz: ZoneInfo,
                     overrides: dict[date, bool] | None = None) -> tuple[datetime, bool]:
    """add_working_days, and whether a day of the count fell in a year known neither to the holiday package nor
    to the administrator's entries (then counted Monday to Friday: the deadline may be wrong, and says so)."""
    local_day = start.astimezone(tz).date()
    if overrides is None:
        overrides = load_overrides(local_day, local_day + timedelta(days=days * 7 + 30))
    counted, day, fallback = 0, local_day, False
    unknown_years = set()
    while counted < days:
        day += timedelta(days=1)
        if day not in overrides and not calendar_known(day):
            unknown_years.add(day.year)
        if is_workday(day, overrides):
            counted += 1
    if unknown_years:
        fallback = bool(set(unknown_years) - years_with_entries(unknown_years))
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz), fallback


def years_with_entries(years) -> set[int]:
    """The years among `years` for which an administrator entered holidays or make-up days."""
    years = set(years)
    if not years:
        return set()
    days = db.session.execute(select(CalendarOverride.day).where(
        CalendarOverride.day >= date(min(years), 1, 1), CalendarOverride.day <= date(max(years), 12, 31))).scalars()
    return {day.year for day in days} & years


def unknown_years(today: date) -> list[int]:
    """This year and the next, when the holiday package does not know them and no administrator entered their
    holidays: deadlines in working days are then counted Monday to Friday (1 January would be a working day)."""
    years = [y for y in (today.year, today.year + 1) if not calendar_known(date(y, 6, 1))]
    with_entries = years_with_entries(years)
    return [y for y in years if y not in with_entries]


def set_override(day: date, is_workday_: bool, note: str, *, actor) -> CalendarOverride:
    """Mark a date as working day or holiday (for dates the holiday package does not know, or company days)."""
    from ..core.audit import record_event

    override = db.session.get(CalendarOverride, day)
    if override is None:
        override = CalendarOverride(day=day, is_workday=is_workday_, note=(note or "").strip()[:200] or None,
                                    created_by_id=actor.id)
        db.session.add(override)
    else:
        override.is_workday, override.note = is_workday_, (note or "").strip()[:200] or None
    record_event("calendar.override_set", actor=actor, day=day.isoformat(), is_workday=is_workday_)
    return override


def remove_override(day: date, *, actor) -> bool:
    from ..core.audit import record_event

    override = db.session.get(CalendarOverride, day)
    if override is None:
        return False
    db.session.delete(override)
    record_event("calendar.override_removed", actor=actor, day=day.isoformat())
    return True


def list_overrides() -> list[CalendarOverride]:
    return list(db.session.execute(select(CalendarOverride).order_by(CalendarOverride.day.desc())).scalars())
