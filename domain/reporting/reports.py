"""The weekly report to customer service: response rate, problem resolution rate, customer satisfaction and the
other clocks of the policy, overall and per technician, with the week before for comparison.

A week is an ISO week ("2026-W47"): Monday 00:00 to the next Monday 00:00 in the configured time zone.
Every figure is counted by SQL aggregation (GROUP BY with conditional SUMs; four statements for a report,
whatever the number of requests) and has a numerator and a denominator; its value is numerator / denominator,
or None (shown as "—") when the denominator is 0.

How the figures are counted (the page and the PDF say the same: `counting_rules`):
- A clock belongs to the week its deadline (due_at) falls in. Met: done at or before the deadline. Missed: done
  after it, or still open once it has passed. Numerator = met, denominator = met + missed; clocks still running
  (deadline not reached yet, only in the current week) are counted apart as "pending"; clocks that did not apply
  (the process took another path, or the request was cancelled) are not counted.
- Response rate = the first-contact clock (by default 30 min urgent, 60 min normal) by those rules.
- Resolution rate: requests entered in the week (created_at), cancelled ones left out; resolved = solved remotely
  or signed by the customer after an on-site visit, whenever that happened up to the report. A request closed
  without the customer's signature (a supervisor's decision after a visit the customer did not sign) is not
  cancelled: it is counted among the requests (the work was done) but not as resolved (nobody confirmed the fix);
  `closed_unsigned` counts them apart.
- Satisfaction: ratings of orders the customer signed in the week (the signing time on the phone) and ratings
  given afterwards on the tracking page in the week; numerator = ratings of 4 or 5, denominator = all ratings (an
  order signed without a rating is not counted); plus the mean and the count of each rating 1..5; `sources` keeps
  the two apart (on_site, follow_up) and `unrated` counts the services ended in the week with no rating at all.
- Per technician: by the request's assignee, and only the clocks a technician owns (domain/sla/rules.py declares
  each clock's owner): the intake clock measures customer service and the case analysis the supervisors and
  experts, so both count in the overall figures only (a technician's entries for them stay 0/0 in the JSON).
  Unassigned requests count in the overall figures only.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import Environment
from sqlalchemy import and_, case, false, func, or_, select

from ..core.db import db
from ..core.enums import ClockName, Role, TicketStatus
from ..core.errors import DomainError
from ..core.labels import clock_labels, span_text
from ..core.locales import html_lang
from ..core.models import User
from ..customer.models import FollowUpRating
from ..fieldwork.models import Signature
from ..requests.models import Ticket
from ..sla.models import TicketClock
from ..sla.policy import current_policy
from ..sla.rules import CLOCK_RULES, owned_by

WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)
SATISFIED_FROM = 4  # a rating of 4 or 5 counts as satisfied
RATINGS = (1, 2, 3, 4, 5)

# Each clock figure reads the clock whose declaration names it (domain/sla/rules.py), first contact first.
CLOCK_FIGURES = dict(sorted(((rule.report_key, rule.name) for rule in CLOCK_RULES.values()),
                            key=lambda item: item[1] != ClockName.FIRST_CONTACT))
FIGURE_KEYS = ("response_rate", "resolution_rate", "satisfaction", "intake", "remote_fix", "order_filed",
               "preparation", "submission", "case_analysis")
# The clocks credited to a technician: those the declaration says are the technician's work.
TECHNICIAN_CLOCKS = frozenset(owned_by(Role.TECHNICIAN))
# The figures a technician's rows show (page, CSV, PDF): every figure but the clocks someone else owns.
TECHNICIAN_FIGURE_KEYS = tuple(key for key in FIGURE_KEYS
                               if key not in CLOCK_FIGURES or CLOCK_FIGURES[key] in TECHNICIAN_CLOCKS)

def figure_labels() -> dict[str, str]:
    """The figures' names, with the thresholds of the policy in force."""
    policy = current_policy()
    clocks = clock_labels(policy)
    return {
        **{key: clocks[name] for key, name in CLOCK_FIGURES.items()},
        "response_rate": _("Response rate (first contact within %(urgent)d/%(normal)d min)",
                           urgent=policy.first_contact_urgent_minutes, normal=policy.first_contact_normal_minutes),
        "resolution_rate": _("Problem resolution rate"),
        "satisfaction": _("Customer satisfaction (rated 4 or 5)"),
    }


# Column headings of the PDF's technician table, where the full names do not fit.
def short_labels() -> dict[str, str]:
    policy = current_policy()
    return {
        "response_rate": _("Response"),
        "resolution_rate": _("Resolution"),
        "satisfaction": _("Satisfaction"),
        "intake": _("Intake %(span)s", span=span_text(policy.intake_minutes)),
        "remote_fix": _("Remote fix %(span)s", span=span_text(policy.remote_fix_minutes)),
        "order_filed": _("Order filled %(span)s", span=span_text(policy.order_filled_minutes)),
        "preparation": _("Preparation %(span)s", span=span_text(policy.preparation_lead_minutes)),
        "submission": _("Submitted %(span)s", span=span_text(policy.submission_minutes)),
        "case_analysis": _("Case analysis %(n)d days", n=policy.case_analysis_working_days),
    }


def counting_rules(tz_name: str) -> list[str]:
    """How the figures are counted, in words, as the page and the PDF state it (see the module docstring), with
    the thresholds of the policy in force."""
    policy = current_policy()
    return [
        _("A week runs from Monday 00:00 to the next Monday 00:00 (%(tz)s).", tz=tz_name),
        _("A deadline counts in the week it falls due: met if done by then, missed if done later or still open "
          "after it. Rate = met / (met + missed); deadlines not reached yet are shown as running and not "
          "counted."),
        _("Response rate: the technician's first contact with the customer within %(urgent)s (urgent) or "
          "%(normal)s (normal).", urgent=span_text(policy.first_contact_urgent_minutes),
          normal=span_text(policy.first_contact_normal_minutes)),
        _("Resolution rate: requests entered in the week, cancelled ones left out; resolved = solved remotely "
          "or signed by the customer after an on-site visit, up to now."),
        _("A request closed without the customer's signature (the customer absent or refusing, closed by a "
          "supervisor) is counted among the requests, not as cancelled, and not as resolved: nobody confirmed "
          "the fix."),
        _("Satisfaction: ratings of orders the customer signed in the week; satisfied = 4 or 5 stars."),
        _("Per technician: by the request's assignee, and only the deadlines that are the technician's work: the "
          "intake (customer service's) and the case analysis (the supervisors' and experts') count for the whole "
          "team only; unassigned requests count in the overall figures only."),
        _("A figure with nothing to count shows —."),
    ]


# --- weeks --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    year: int
    number: int
    tz: ZoneInfo

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00 local, as an aware datetime (comparisons with UTC values are exact)."""
        return datetime.combine(self.monday, datetime.min.time(), tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 local (exclusive)."""
        return datetime.combine(self.monday + timedelta(days=7), datetime.min.time(), tzinfo=self.tz)

    def shifted(self, weeks: int) -> Week:
        return week_of(self.start + timedelta(days=7 * weeks, hours=12), self.tz)

    def __str__(self) -> str:
        return self.label


def week_of(moment: datetime, tz: ZoneInfo) -> Week:
    iso = moment.astimezone(tz).isocalendar()
    return Week(iso.year, iso.week, tz)


def last_complete_week(now: datetime, tz: ZoneInfo) -> Week:
    return week_of(now, tz).shifted(-1)


def parse_week(text: str | None, now: datetime, tz: ZoneInfo) -> Week:
    """"2026-W47" -> Week. Malformed text, a week number the year does not have (00, 54, 53 in a 52-week year)
    and a week that has not started yet are refused with a DomainError (codes bad_week, future_week)."""
    match = WEEK_RE.match(text or "")
    if match is None or int(match.group(1)) < 2000:
        raise DomainError("bad_week", _l("Give the week as year-W-number, for example %(example)s.",
                                         example=last_complete_week(now, tz).label), week=str(text or "")[:40])
    year, number = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise DomainError("bad_week", _l("%(year)s has no week %(number)s.", year=year, number=number),
                          week=str(text)[:40]) from None
    week = Week(year, number, tz)
    if week.start > now:
        raise DomainError("future_week", _l("Week %(week)s has not started yet.", week=week.label),
                          week=week.label)
    return week


# --- figures ------------------------------------------------------------------------------------------------


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when there is nothing to count (never a division by zero)."""
    return round(numerator / denominator, 4) if denominator else None


@dataclass
class Figure:
    numerator: int = 0
    denominator: int = 0
    pending: int | None = None  # clocks still running (clock figures only)

    @property
    def value(self) -> float | None:
        return ratio(self.numerator, self.denominator)

    def as_dict(self) -> dict:
        data = {"numerator": self.numerator, "denominator": self.denominator, "value": self.value}
        if self.pending is not None:
            data["pending"] = self.pending
        return data


@dataclass
class ResolutionFigure(Figure):
    """The resolution rate, with the requests closed without the customer's signature apart: in the denominator
    (received, not cancelled), never in the numerator (nobody confirmed the fix)."""
    closed_unsigned: int = 0

    def as_dict(self) -> dict:
        return {**super().as_dict(), "closed_unsigned": self.closed_unsigned}


SOURCES = ("on_site", "follow_up")  # rated on the technician's phone at signing; afterwards on the tracking page


@dataclass
class Satisfaction(Figure):
    distribution: dict[int, int] = field(default_factory=lambda: dict.fromkeys(RATINGS, 0))
    # The overall figure counts every rating of both sources; each source is also kept apart. `unrated`: services
    # over in the week (signed, or solved remotely) that got no rating from either.
    sources: dict[str, Satisfaction] | None = None
    unrated: int = 0

    @property
    def mean(self) -> float | None:
        total = sum(self.distribution.values())
        return round(sum(r * n for r, n in self.distribution.items()) / total, 2) if total else None

    def add(self, rating: int, count: int, source: str | None = None) -> None:
        self.distribution[rating] = self.distribution.get(rating, 0) + count
        self.denominator += count
        if rating >= SATISFIED_FROM:
            self.numerator += count
        if source is not None and self.sources is not None:
            self.sources[source].add(rating, count)

    def as_dict(self) -> dict:
        data = {**super().as_dict(), "mean": self.mean,
                "distribution": {str(r): self.distribution.get(r, 0) for r in RATINGS}}
        if self.sources is not None:
            data["sources"] = {name: figure.as_dict() for name, figure in self.sources.items()}
            data["unrated"] = self.unrated
        return data


def _satisfaction() -> Satisfaction:
    return Satisfaction(sources={name: Satisfaction() for name in SOURCES})


@dataclass
class Figures:
    """Every figure of one scope (the team, or one technician) for one week."""

    figures: dict[str, Figure] = field(default_factory=lambda: {
        key: _satisfaction() if key == "satisfaction" else ResolutionFigure() if key == "resolution_rate"
        else Figure(pending=0 if key in CLOCK_FIGURES else None)
        for key in FIGURE_KEYS})

    def __getitem__(self, key: str) -> Figure:
        return self.figures[key]

    @property
    def satisfaction(self) -> Satisfaction:
        return self.figures["satisfaction"]  # type: ignore[return-value]

    def as_dict(self) -> dict:
        return {key: self.figures[key].as_dict() for key in FIGURE_KEYS}


@dataclass
class Technician:
    id: int
    username: str
    display_name: str


@dataclass
class WeekFigures:
    week: Week
    overall: Figures = field(default_factory=Figures)
    by_technician: dict[int, Figures] = field(default_factory=dict)

    def scope(self, assignee_id: int | None) -> list[Figures]:
        """Where a counted row goes: always the overall figures, and its technician's when assigned."""
        if assignee_id is None:
            return [self.overall]
        return [self.overall, self.by_technician.setdefault(assignee_id, Figures())]

    def technician(self, user_id: int) -> Figures:
        return self.by_technician.get(user_id) or Figures()


@dataclass
class WeeklyReport:
    week: Week
    previous: WeekFigures
    current: WeekFigures
    technicians: list[Technician]
    now: datetime

    @property
    def complete(self) -> bool:
        return self.week.end <= self.now

    def as_dict(self) -> dict:
        """The JSON of `GET /api/v1/reports/weekly` and `flask report weekly --out x.json`."""

        def block(figures: WeekFigures) -> dict:
            return {
                "week": figures.week.label,
                "start": figures.week.start.isoformat(),
                "end": figures.week.end.isoformat(),
                **figures.overall.as_dict(),
                "by_technician": {
                    t.username: {"display_name": t.display_name, **figures.technician(t.id).as_dict()}
                    for t in self.technicians},
            }

        return {**block(self.current), "timezone": self.week.tz.key, "complete": self.complete,
                "generated_at": self.now.isoformat(), "previous": block(self.previous)}


# --- the queries --------------------------------------------------------------------------------------------


def _in_current(column, week: Week):
    """1 for a row of the reported week, 0 for the week before (both weeks come from one scan)."""
    return case((column >= week.start, 1), else_=0).label("current")


def _count_clocks(week: Week, previous: Week, now: datetime, weeks: dict[int, WeekFigures]) -> None:
    current = _in_current(TicketClock.due_at, week)
    met = and_(TicketClock.done_at.is_not(None), TicketClock.done_at <= TicketClock.due_at)
    missed = or_(TicketClock.done_at > TicketClock.due_at,
                 and_(TicketClock.done_at.is_(None), TicketClock.due_at < now))
    pending = and_(TicketClock.done_at.is_(None), TicketClock.due_at >= now)
    stmt = (
        select(current, Ticket.assignee_id, TicketClock.name,
               func.sum(case((met, 1), else_=0)), func.sum(case((missed, 1), else_=0)),
               func.sum(case((pending, 1), else_=0)))
        .join(Ticket, Ticket.id == TicketClock.ticket_id)
        .where(TicketClock.due_at >= previous.start, TicketClock.due_at < week.end,
               TicketClock.not_applicable.is_(False))
        .group_by(current, Ticket.assignee_id, TicketClock.name)
    )
    figure_of = {name: key for key, name in CLOCK_FIGURES.items()}
    for in_current, assignee_id, name, n_met, n_missed, n_pending in db.session.execute(stmt):
        clock = ClockName(name)
        # A clock someone else owns (the intake: customer service's) counts for the team, never for the assignee.
        credited = assignee_id if clock in TECHNICIAN_CLOCKS else None
        key = figure_of[clock]
        for figures in weeks[in_current].scope(credited):
            figure = figures[key]
            figure.numerator += int(n_met or 0)
            figure.denominator += int(n_met or 0) + int(n_missed or 0)
            figure.pending += int(n_pending or 0)


def _count_resolution(week: Week, previous: Week, weeks: dict[int, WeekFigures]) -> None:
    current = _in_current(Ticket.created_at, week)
    resolved = or_(Ticket.remote_resolved_at.is_not(None), Signature.id.is_not(None))
    unsigned = Ticket.status == TicketStatus.CLOSED_UNSIGNED
    stmt = (
        select(current, Ticket.assignee_id, func.count(Ticket.id), func.sum(case((resolved, 1), else_=0)),
               func.sum(case((unsigned, 1), else_=0)))
        .outerjoin(Signature, Signature.ticket_id == Ticket.id)
        .where(Ticket.created_at >= previous.start, Ticket.created_at < week.end,
               Ticket.status != TicketStatus.CANCELLED)
        .group_by(current, Ticket.assignee_id)
    )
    for in_current, assignee_id, received, n_resolved, n_unsigned in db.session.execute(stmt):
        for figures in weeks[in_current].scope(assignee_id):
            figures["resolution_rate"].numerator += int(n_resolved or 0)
            figures["resolution_rate"].denominator += int(received)
            figures["resolution_rate"].closed_unsigned += int(n_unsigned or 0)  # type: ignore[attr-defined]


def _count_ratings(week: Week, previous: Week, weeks: dict[int, WeekFigures]) -> None:
    current = _in_current(Signature.signed_at_client, week)
    stmt = (
        select(current, Ticket.assignee_id, Signature.rating, func.count(Signature.id))
        .join(Ticket, Ticket.id == Signature.ticket_id)
        .where(Signature.signed_at_client >= previous.start, Signature.signed_at_client < week.end,
               Signature.rating.is_not(None))  # a rating the customer skipped is not a figure
        .group_by(current, Ticket.assignee_id, Signature.rating)
    )
    for in_current, assignee_id, rating, count in db.session.execute(stmt):
        for figures in weeks[in_current].scope(assignee_id):
            figures.satisfaction.add(int(rating), int(count), "on_site")
    rated_current = _in_current(FollowUpRating.rated_at, week)
    stmt = (
        select(rated_current, Ticket.assignee_id, FollowUpRating.rating, func.count(FollowUpRating.id))
        .join(Ticket, Ticket.id == FollowUpRating.ticket_id)
        .where(FollowUpRating.rated_at >= previous.start, FollowUpRating.rated_at < week.end)
        .group_by(rated_current, Ticket.assignee_id, FollowUpRating.rating)
    )
    for in_current, assignee_id, rating, count in db.session.execute(stmt):
        for figures in weeks[in_current].scope(assignee_id):
            figures.satisfaction.add(int(rating), int(count), "follow_up")
    _count_unrated(week, previous, weeks)


def _count_unrated(week: Week, previous: Week, weeks: dict[int, WeekFigures]) -> None:
    """Services that ended in the week (signed on site, or solved remotely) with no rating from either source."""
    ended = func.coalesce(Signature.signed_at_client, Ticket.remote_resolved_at)
    current = _in_current(ended, week)
    stmt = (
        select(current, Ticket.assignee_id, func.count(Ticket.id))
        .select_from(Ticket)
        .outerjoin(Signature, Signature.ticket_id == Ticket.id)
        .outerjoin(FollowUpRating, FollowUpRating.ticket_id == Ticket.id)
        .where(or_(Signature.id.is_not(None), Ticket.remote_resolved_at.is_not(None)),
               ended >= previous.start, ended < week.end,
               Signature.rating.is_(None), FollowUpRating.id.is_(None))
        .group_by(current, Ticket.assignee_id)
    )
    for in_current, assignee_id, count in db.session.execute(stmt):
        for figures in weeks[in_current].scope(assignee_id):
            figures.satisfaction.unrated += int(count)


def _technicians(ids: set[int]) -> list[Technician]:
    """The technicians with counted work in either week, and every active technician (a row of zeros says
    something too)."""
    stmt = select(User.id, User.username, User.display_name).where(
        or_(User.id.in_(ids) if ids else false(), and_(User.role == Role.TECHNICIAN, User.active.is_(True))))
    return sorted((Technician(*row) for row in db.session.execute(stmt)), key=lambda t: t.username)


def weekly_report(week: str | Week | None, now: datetime, tz: ZoneInfo) -> WeeklyReport:
    """The report of one ISO week (default: the last complete one) and the week before it."""
    if not isinstance(week, Week):
        week = last_complete_week(now, tz) if week is None or not str(week).strip() else parse_week(week, now, tz)
    previous = week.shifted(-1)
    weeks = {1: WeekFigures(week), 0: WeekFigures(previous)}
    _count_clocks(week, previous, now, weeks)
    _count_resolution(week, previous, weeks)
    _count_ratings(week, previous, weeks)
    ids = set(weeks[1].by_technician) | set(weeks[0].by_technician)
    return WeeklyReport(week=week, previous=weeks[0], current=weeks[1], technicians=_technicians(ids), now=now)


# --- what the page, the CSV and the PDF show --------------------------------------------------------------


def change(current: float | None, previous: float | None) -> float | None:
    """The change in percentage points (None when either week has nothing to count)."""
    if current is None or previous is None:
        return None
    return round((current - previous) * 100, 1)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%".replace(".0%", "%")


def rows(report: WeeklyReport) -> list[dict]:
    """One row per figure and scope (the team, then each technician): what the tables and the CSV list."""
    scopes = [(None, report.current.overall, report.previous.overall)]
    scopes += [(t, report.current.technician(t.id), report.previous.technician(t.id)) for t in report.technicians]
    out, labels = [], figure_labels()
    for technician, this_week, last_week in scopes:
        for key in TECHNICIAN_FIGURE_KEYS if technician else FIGURE_KEYS:
            now_fig, before = this_week[key], last_week[key]
            out.append({"key": key, "label": labels[key], "technician": technician,
                        "current": now_fig, "previous": before, "change": change(now_fig.value, before.value)})
    return out


def sections(report: WeeklyReport) -> list[tuple[Technician | None, list[dict]]]:
    """The rows grouped by scope: (None, the team's rows), then (technician, their rows) for each technician."""
    grouped: dict[int | None, tuple[Technician | None, list[dict]]] = {}
    for row in rows(report):
        technician = row["technician"]
        grouped.setdefault(technician.id if technician else None, (technician, []))[1].append(row)
    return list(grouped.values())


def report_csv(report: WeeklyReport) -> bytes:
    """UTF-8 with a BOM (Excel then reads Chinese correctly); one row per figure and scope."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_("Week"), _("Figure code"), _("Figure"), _("Scope"), _("Technician account"),
                     _("Technician"), _("Numerator"), _("Denominator"), _("Value"), _("Running"),
                     _("Mean rating"), _("Previous week"), _("Previous numerator"), _("Previous denominator"),
                     _("Previous value"), _("Previous mean rating"), _("Change (points)")])

    def number(value) -> str:
        return "" if value is None else str(value)

    for row in rows(report):
        this_week, last_week, technician = row["current"], row["previous"], row["technician"]
        is_rating = row["key"] == "satisfaction"
        writer.writerow([
            report.week.label, row["key"], str(row["label"]),
            _("Technician") if technician else _("Whole team"),
            technician.username if technician else "", technician.display_name if technician else "",
            this_week.numerator, this_week.denominator, number(this_week.value), number(this_week.pending),
            number(this_week.mean) if is_rating else "", report.previous.week.label,
            last_week.numerator, last_week.denominator, number(last_week.value),
            number(last_week.mean) if is_rating else "", number(row["change"]),
        ])
        if isinstance(this_week, ResolutionFigure):  # in the rate's denominator, apart as the page shows them
            writer.writerow([report.week.label, f"{row['key']}.closed_unsigned",
                             _("Closed without the customer's signature (not resolved)"),
                             _("Technician") if technician else _("Whole team"),
                             technician.username if technician else "", technician.display_name if technician else "",
                             this_week.closed_unsigned, "", "", "", "", report.previous.week.label,
                             last_week.closed_unsigned, "", "", "", ""])
        if is_rating and this_week.sources is not None:
            scope = [_("Technician") if technician else _("Whole team"),
                     technician.username if technician else "", technician.display_name if technician else ""]
            for source, label in (("on_site", _("Satisfaction, rated on the phone at signing")),
                                  ("follow_up", _("Satisfaction, rated afterwards on the tracking page"))):
                now_part, before_part = this_week.sources[source], last_week.sources[source]
                writer.writerow([report.week.label, f"satisfaction.{source}", label, *scope, now_part.numerator,
                                 now_part.denominator, number(now_part.value), "", number(now_part.mean),
                                 report.previous.week.label, before_part.numerator, before_part.denominator,
                                 number(before_part.value), number(before_part.mean), ""])
            writer.writerow([report.week.label, "satisfaction.unrated", _("Services with no rating"), *scope,
                             this_week.unrated, "", "", "", "", report.previous.week.label, last_week.unrated, "",
                             "", "", ""])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# --- charts (server-rendered SVG, no script) --------------------------------------------------------------


@dataclass
class Bar:
    label: str
    current: float | None       # 0..1 of the full width, None: nothing to count
    previous: float | None
    current_text: str
    previous_text: str
    title: str


def figure_bars(report: WeeklyReport) -> list[Bar]:
    """This week against last week, one pair of bars per figure (the team's values)."""
    bars, labels = [], figure_labels()
    for key in FIGURE_KEYS:
        now_fig, before = report.current.overall[key], report.previous.overall[key]
        bars.append(Bar(
            label=labels[key], current=now_fig.value, previous=before.value,
            current_text=f"{percent(now_fig.value)} ({now_fig.numerator}/{now_fig.denominator})",
            previous_text=f"{percent(before.value)} ({before.numerator}/{before.denominator})",
            title=_("%(figure)s: this week %(now)s, last week %(before)s", figure=labels[key],
                    now=f"{percent(now_fig.value)} ({now_fig.numerator}/{now_fig.denominator})",
                    before=f"{percent(before.value)} ({before.numerator}/{before.denominator})")))
    return bars


def rating_bars(report: WeeklyReport) -> list[Bar]:
    """How many customers gave each rating, this week against last week (scaled to the largest count)."""
    now_dist = report.current.overall.satisfaction.distribution
    before_dist = report.previous.overall.satisfaction.distribution
    top = max([*now_dist.values(), *before_dist.values(), 1])
    return [Bar(label=_("%(n)d stars", n=r) if r > 1 else _("1 star"), current=now_dist[r] / top,
                previous=before_dist[r] / top, current_text=str(now_dist[r]), previous_text=str(before_dist[r]),
                title=_("Rated %(n)d: this week %(now)s, last week %(before)s", n=r, now=now_dist[r],
                        before=before_dist[r]))
            for r in reversed(RATINGS)]


# --- PDF ----------------------------------------------------------------------------------------------------


def report_html(report: WeeklyReport, *, company: str, templates: Environment, locale: str) -> str:
    """The print template (A4) from the app's templates, in `locale` (the current one: labels are translated
    with it)."""
    template = templates.get_template("print/weekly_report.html")
    return template.render(report=report, sections=sections(report), bars=figure_bars(report),
                           short_labels=short_labels(), figure_keys=TECHNICIAN_FIGURE_KEYS,
                           ratings=rating_bars(report), rules=counting_rules(report.week.tz.key), percent=percent,
                           company=company, html_lang=html_lang(locale))


def report_pdf(report: WeeklyReport, *, company: str, templates: Environment, locale: str) -> bytes:
    """WeasyPrint with the service order's fetcher (only the print stylesheets; nothing else is fetched)."""
    from weasyprint import HTML

    from ..documents.orders import make_fetcher

    document = HTML(string=report_html(report, company=company, templates=templates, locale=locale),
                    base_url="fs-static:", url_fetcher=make_fetcher())
    return document.write_pdf()
