"""The supervisor's monthly assessment (考核) of each technician: requests handled, the met rate of each deadline
that is the technician's work, the resolution rate, satisfaction from both sources, orders returned on review and
case analyses, each beside the team's median, for one calendar month in the company's time zone.

Every figure is counted by one SQL aggregation per family of figures, grouped by technician (five statements and
the list of technicians, whatever the number of technicians or requests), and keeps its numerator and denominator
so that a supervisor can check it. The definitions, as the page, the PDF and the CSV state them
(`definitions`):
- A month runs from the 1st 00:00 to the next 1st 00:00 in the configured time zone.
- Per technician = by the request's assignee (as the weekly report counts).
- Requests handled: requests entered in the month (created_at) and assigned to the technician, cancelled ones
  left out; one closed without the customer's signature (a visit the customer did not sign, closed by a
  supervisor) is handled, not cancelled: the work was done.
- Resolution rate: of those, the ones resolved (solved remotely, or signed by the customer after an on-site
  visit, up to now) / requests handled. A request closed unsigned counts as handled but not resolved: nobody
  confirmed the fix (the policy's proof is the customer's signature); it is shown apart (`closed_unsigned`).
- Each deadline: the clocks the technician owns (domain/sla/rules.py; not the intake, which is customer
  service's, nor the case analysis, the supervisors' and experts'), counted in the month their deadline falls
  in: met / (met + missed), running ones apart (the weekly report's rule).
- Satisfaction: ratings given in the month (on the phone at signing, and afterwards on the tracking page), 4 or 5
  stars / all ratings; each source also apart, with the mean.
- Returned on review: orders reviewed in the month that were returned at least once in the month / orders
  reviewed in the month (lower is better).
- Case analyses: case analyses opened in the month on the technician's requests (a fault type seen for the
  first time, or a complex case) / orders approved in the month.
- Team median: the median of the technicians' values; for a rate, over the technicians with something to count.
"""
from __future__ import annotations

import csv
import io
import re
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import Environment
from sqlalchemy import and_, case, distinct, func, literal_column, null, or_, select, union_all

from ..core.db import db
from ..core.enums import AnalysisTrigger, ClockName, ReviewDecision, Role, TicketStatus
from ..core.errors import DomainError
from ..core.locales import html_lang
from ..customer.models import FollowUpRating
from ..documents.models import CaseAnalysis, Review
from ..fieldwork.models import Signature
from ..requests.models import Ticket
from ..sla.models import TicketClock
from ..sla.rules import CLOCK_RULES, owned_by
from . import reports
from .reports import Figure, Satisfaction, Technician, percent

MONTH_RE = re.compile(r"^\s*([0-9]{4})-([0-9]{1,2})\s*$")
COUNT, RATE = "count", "rate"


@dataclass(frozen=True)
class FigureSpec:
    key: str
    kind: str                     # COUNT: the numerator is the figure; RATE: numerator / denominator
    higher_is_better: bool | None  # None: neither (a count that describes the work, not its quality)


# The deadlines that are the technician's work, in process order, under the weekly report's keys.
CLOCK_KEYS = {CLOCK_RULES[name].report_key: name for name in owned_by(Role.TECHNICIAN)}
FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("handled", COUNT, None),
    FigureSpec("resolution_rate", RATE, True),
    *(FigureSpec(key, RATE, True) for key in CLOCK_KEYS),
    FigureSpec("satisfaction", RATE, True),
    FigureSpec("satisfaction_on_site", RATE, True),
    FigureSpec("satisfaction_follow_up", RATE, True),
    FigureSpec("returned", RATE, False),
    FigureSpec("case_analyses", COUNT, None),
)
FIGURE_KEYS = tuple(spec.key for spec in FIGURES)
SPECS = {spec.key: spec for spec in FIGURES}


def figure_labels() -> dict[str, str]:
    """Each figure's name, the deadlines with the thresholds of the policy in force."""
    weekly = reports.figure_labels()
    return {
        "handled": _("Requests handled"),
        "resolution_rate": weekly["resolution_rate"],
        **{key: weekly[key] for key in CLOCK_KEYS},
        "satisfaction": _("Satisfaction, both sources (rated 4 or 5)"),
        "satisfaction_on_site": _("Satisfaction, rated on the phone at signing"),
        "satisfaction_follow_up": _("Satisfaction, rated afterwards on the tracking page"),
        "returned": _("Orders returned on review"),
        "case_analyses": _("Case analyses opened"),
    }


def short_labels() -> dict[str, str]:
    """Column headings of the overview table."""
    weekly = reports.short_labels()
    return {
        "handled": _("Handled"),
        "resolution_rate": _("Resolution"),
        **{key: weekly[key] for key in CLOCK_KEYS},
        "satisfaction": _("Satisfaction"),
        "satisfaction_on_site": _("At signing"),
        "satisfaction_follow_up": _("Afterwards"),
        "returned": _("Returned"),
        "case_analyses": _("Case analyses"),
    }


def fraction_words() -> dict[str, str]:
    """What the numerator and the denominator of each figure count, as the page explains each fraction."""
    return {
        "handled": _("requests entered in the month and assigned, cancelled ones left out"),
        "resolution_rate": _("resolved / handled"),
        **dict.fromkeys(CLOCK_KEYS, _("met / (met + missed)")),
        "satisfaction": _("4 or 5 stars / all ratings"),
        "satisfaction_on_site": _("4 or 5 stars / all ratings"),
        "satisfaction_follow_up": _("4 or 5 stars / all ratings"),
        "returned": _("orders returned / orders reviewed"),
        "case_analyses": _("opened / orders approved"),
    }


def definitions(tz_name: str) -> list[str]:
    """How every figure is counted, in words (the module docstring's rules)."""
    return [
        _("A month runs from the 1st 00:00 to the next 1st 00:00 (%(tz)s). Each technician's figures are the "
          "requests assigned to them.", tz=tz_name),
        _("Requests handled: requests entered in the month and assigned to the technician, cancelled ones left "
          "out."),
        _("Resolution rate = requests resolved / requests handled. Resolved: solved remotely (remote fixes "
          "included) or signed by the customer after an on-site visit, up to now."),
        _("A request closed without the customer's signature (the customer absent or refusing, closed by a "
          "supervisor) is handled, not cancelled, and not resolved: nobody confirmed the fix."),
        _("Deadlines: only those that are the technician's work (the 15-minute intake is customer service's, "
          "the case analysis the supervisors' and experts'). A deadline counts in the month it falls due: met if "
          "done by then, missed if done later or still open after it; rate = met / (met + missed); deadlines "
          "not reached yet are shown as running."),
        _("Satisfaction: ratings given in the month, on the technician's phone at signing and afterwards on the "
          "customer's tracking page; satisfied = 4 or 5 stars. Both sources together, then each apart."),
        _("Returned on review: orders reviewed in the month that the supervisor returned at least once in the "
          "month / orders reviewed in the month (lower is better)."),
        _("Case analyses: case analyses opened in the month on the technician's requests (a fault type seen for "
          "the first time, or a complex case) / the technician's orders approved in the month."),
        _("Team median: the middle value of the technicians listed; for a rate, of those with something to "
          "count. A figure with nothing to count shows —."),
    ]


# --- months -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    year: int
    month: int
    tz: ZoneInfo

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        following = self.shifted(1)
        return date.fromordinal(following.first.toordinal() - 1)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, datetime.min.time(), tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        return self.shifted(1).start

    def shifted(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1, self.tz)

    def __str__(self) -> str:
        return self.label


def month_of(moment: datetime, tz: ZoneInfo) -> Month:
    local = moment.astimezone(tz)
    return Month(local.year, local.month, tz)


def last_complete_month(now: datetime, tz: ZoneInfo) -> Month:
    return month_of(now, tz).shifted(-1)


def parse_month(text: str | None, now: datetime, tz: ZoneInfo) -> Month:
    """"2026-11" -> Month. Malformed text, a month 0 or 13, a year before 2000, and a month that has not started
    yet are refused with a DomainError (codes bad_month, future_month): a 400 with a clear message."""
    text = str(text or "")
    example = last_complete_month(now, tz).label
    match = MONTH_RE.match(text) if len(text) <= 20 else None
    if match is None or int(match.group(1)) < 2000:
        raise DomainError("bad_month", _l("Give the month as year-month, for example %(example)s.",
                                          example=example), month=text[:40])
    year, number = int(match.group(1)), int(match.group(2))
    if not 1 <= number <= 12:
        raise DomainError("bad_month", _l("A year has no month %(number)s: give the month as year-month, for "
                                          "example %(example)s.", number=number, example=example), month=text[:40])
    month = Month(year, number, tz)
    if month.start > now:
        raise DomainError("future_month", _l("%(month)s has not started yet.", month=month.label),
                          month=month.label)
    return month


# --- the figures --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Median:
    value: float | None
    technicians: int  # how many technicians' values it is the median of

    def as_dict(self) -> dict:
        return {"value": self.value, "technicians": self.technicians}


def _empty_figures() -> dict[str, Figure]:
    satisfaction = Satisfaction(sources={name: Satisfaction() for name in reports.SOURCES})
    figures: dict[str, Figure] = {key: Figure(pending=0 if key in CLOCK_KEYS else None) for key in FIGURE_KEYS}
    figures["satisfaction"] = satisfaction
    figures["satisfaction_on_site"] = satisfaction.sources["on_site"]
    figures["satisfaction_follow_up"] = satisfaction.sources["follow_up"]
    return figures


@dataclass
class TechnicianFigures:
    figures: dict[str, Figure] = field(default_factory=_empty_figures)
    # What a count is made of: requests handled (remote, on_site, open) and case analyses by trigger.
    details: dict[str, int] = field(default_factory=lambda: {
        "remote": 0, "on_site": 0, "closed_unsigned": 0, "returns": 0, "first_seen": 0, "complex": 0,
        "analyses_completed": 0})

    def __getitem__(self, key: str) -> Figure:
        return self.figures[key]

    @property
    def has_data(self) -> bool:
        return any(figure.numerator or figure.denominator or figure.pending for figure in self.figures.values())

    def as_dict(self) -> dict:
        data = {}
        for key in FIGURE_KEYS:
            if key in ("satisfaction_on_site", "satisfaction_follow_up"):
                continue  # inside satisfaction.sources, as in the weekly report
            figure = self.figures[key]
            if SPECS[key].kind == COUNT:
                data[key] = {"count": figure.numerator}
            else:
                data[key] = figure.as_dict()
        data["handled"].update(remote=self.details["remote"], on_site=self.details["on_site"],
                               closed_unsigned=self.details["closed_unsigned"])
        data["case_analyses"].update(orders_approved=self.figures["case_analyses"].denominator,
                                     first_seen=self.details["first_seen"], complex=self.details["complex"],
                                     completed=self.details["analyses_completed"])
        data["returned"]["returns"] = self.details["returns"]
        return data


def median_of(key: str, scopes: list[TechnicianFigures]) -> Median:
    """A count's median over every technician listed; a rate's over those with something to count."""
    if SPECS[key].kind == COUNT:
        values = [scope[key].numerator for scope in scopes]
    else:
        values = [scope[key].value for scope in scopes if scope[key].denominator]
    if not values:
        return Median(None, 0)
    return Median(round(statistics.median(values), 4), len(values))


@dataclass
class Assessment:
    month: Month
    technicians: list[Technician]
    by_technician: dict[int, TechnicianFigures]
    now: datetime
    medians: dict[str, Median] = field(default_factory=dict)

    def __post_init__(self) -> None:
        scopes = [self.of(t) for t in self.technicians]
        self.medians = {key: median_of(key, scopes) for key in FIGURE_KEYS}

    def of(self, technician: Technician) -> TechnicianFigures:
        return self.by_technician.get(technician.id) or TechnicianFigures()

    def technician(self, username: str) -> Technician | None:
        return next((t for t in self.technicians if t.username == username), None)

    @property
    def complete(self) -> bool:
        return self.month.end <= self.now

    @property
    def empty(self) -> bool:
        """Nothing at all to count in the month (the page says so rather than show a table of dashes)."""
        return not any(scope.has_data for scope in self.by_technician.values())

    def as_dict(self) -> dict:
        """The JSON of `GET /api/v1/reports/assessment`."""
        return {
            "month": self.month.label, "start": self.month.start.isoformat(), "end": self.month.end.isoformat(),
            "timezone": self.month.tz.key, "complete": self.complete, "generated_at": self.now.isoformat(),
            "by_technician": {t.username: {"display_name": t.display_name, **self.of(t).as_dict()}
                              for t in self.technicians},
            "median": {key: self.medians[key].as_dict() for key in FIGURE_KEYS},
        }


# --- the queries: one per family of figures, grouped by technician -----------------------------------------


def _in_month(column, month: Month):
    return and_(column >= month.start, column < month.end)


def _scope(result: dict[int, TechnicianFigures], assignee_id: int) -> TechnicianFigures:
    return result.setdefault(assignee_id, TechnicianFigures())


def _count_requests(month: Month, result: dict[int, TechnicianFigures]) -> None:
    remote = Ticket.remote_resolved_at.is_not(None)
    on_site = and_(Ticket.remote_resolved_at.is_(None), Signature.id.is_not(None))
    unsigned = Ticket.status == TicketStatus.CLOSED_UNSIGNED
    stmt = (
        select(Ticket.assignee_id, func.count(Ticket.id), func.sum(case((remote, 1), else_=0)),
               func.sum(case((on_site, 1), else_=0)), func.sum(case((unsigned, 1), else_=0)))
        .outerjoin(Signature, Signature.ticket_id == Ticket.id)
        .where(_in_month(Ticket.created_at, month), Ticket.status != TicketStatus.CANCELLED,
               Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id)
    )
    for assignee_id, handled, n_remote, n_on_site, n_unsigned in db.session.execute(stmt):
        scope = _scope(result, assignee_id)
        scope["handled"].numerator = int(handled)
        scope.details["remote"], scope.details["on_site"] = int(n_remote or 0), int(n_on_site or 0)
        scope.details["closed_unsigned"] = int(n_unsigned or 0)
        scope["resolution_rate"].numerator = int(n_remote or 0) + int(n_on_site or 0)
        scope["resolution_rate"].denominator = int(handled)


def _count_clocks(month: Month, now: datetime, result: dict[int, TechnicianFigures]) -> None:
    met = and_(TicketClock.done_at.is_not(None), TicketClock.done_at <= TicketClock.due_at)
    missed = or_(TicketClock.done_at > TicketClock.due_at,
                 and_(TicketClock.done_at.is_(None), TicketClock.due_at < now))
    pending = and_(TicketClock.done_at.is_(None), TicketClock.due_at >= now)
    stmt = (
        select(Ticket.assignee_id, TicketClock.name, func.sum(case((met, 1), else_=0)),
               func.sum(case((missed, 1), else_=0)), func.sum(case((pending, 1), else_=0)))
        .join(Ticket, Ticket.id == TicketClock.ticket_id)
        .where(_in_month(TicketClock.due_at, month), TicketClock.not_applicable.is_(False),
               TicketClock.name.in_(list(CLOCK_KEYS.values())), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id, TicketClock.name)
    )
    key_of = {name: key for key, name in CLOCK_KEYS.items()}
    for assignee_id, name, n_met, n_missed, n_pending in db.session.execute(stmt):
        figure = _scope(result, assignee_id)[key_of[ClockName(name)]]
        figure.numerator += int(n_met or 0)
        figure.denominator += int(n_met or 0) + int(n_missed or 0)
        figure.pending += int(n_pending or 0)


def _count_ratings(month: Month, result: dict[int, TechnicianFigures]) -> None:
    """Both sources of ratings in one statement (UNION ALL), each row saying where it came from."""
    on_site = (
        select(literal_column("'on_site'").label("source"), Ticket.assignee_id.label("assignee_id"),
               Signature.rating.label("rating"), func.count(Signature.id).label("n"))
        .join(Ticket, Ticket.id == Signature.ticket_id)
        .where(_in_month(Signature.signed_at_client, month), Signature.rating.is_not(None),
               Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id, Signature.rating)
    )
    follow_up = (
        select(literal_column("'follow_up'"), Ticket.assignee_id, FollowUpRating.rating, func.count(FollowUpRating.id))
        .join(Ticket, Ticket.id == FollowUpRating.ticket_id)
        .where(_in_month(FollowUpRating.rated_at, month), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id, FollowUpRating.rating)
    )
    for source, assignee_id, rating, count in db.session.execute(union_all(on_site, follow_up)):
        _scope(result, assignee_id).figures["satisfaction"].add(int(rating), int(count), source)


def _count_reviews(month: Month, result: dict[int, TechnicianFigures]) -> None:
    returned = Review.decision == ReviewDecision.RETURNED
    approved = Review.decision == ReviewDecision.APPROVED
    stmt = (
        select(Ticket.assignee_id, func.count(distinct(Review.ticket_id)),
               func.count(distinct(case((returned, Review.ticket_id), else_=null()))),
               func.sum(case((returned, 1), else_=0)),
               func.count(distinct(case((approved, Review.ticket_id), else_=null()))))
        .join(Ticket, Ticket.id == Review.ticket_id)
        .where(_in_month(Review.created_at, month), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id)
    )
    for assignee_id, reviewed, orders_returned, returns, orders_approved in db.session.execute(stmt):
        scope = _scope(result, assignee_id)
        scope["returned"].numerator, scope["returned"].denominator = int(orders_returned), int(reviewed)
        scope.details["returns"] = int(returns or 0)
        scope["case_analyses"].denominator = int(orders_approved)


def _count_case_analyses(month: Month, result: dict[int, TechnicianFigures]) -> None:
    completed = CaseAnalysis.completed_at.is_not(None)
    stmt = (
        select(Ticket.assignee_id, CaseAnalysis.trigger, func.count(CaseAnalysis.id),
               func.sum(case((completed, 1), else_=0)))
        .join(Ticket, Ticket.id == CaseAnalysis.ticket_id)
        .where(_in_month(CaseAnalysis.opened_at, month), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id, CaseAnalysis.trigger)
    )
    for assignee_id, trigger, count, n_completed in db.session.execute(stmt):
        scope = _scope(result, assignee_id)
        scope["case_analyses"].numerator += int(count)
        scope.details["first_seen" if AnalysisTrigger(trigger) == AnalysisTrigger.FIRST_SEEN else "complex"] \
            += int(count)
        scope.details["analyses_completed"] += int(n_completed or 0)


def assessment(month: str | Month | None, now: datetime, tz: ZoneInfo) -> Assessment:
    """Every technician's figures for one month (default: the last complete month)."""
    if not isinstance(month, Month):
        month = last_complete_month(now, tz) if month is None or not str(month).strip() \
            else parse_month(month, now, tz)
    result: dict[int, TechnicianFigures] = {}
    _count_requests(month, result)
    _count_clocks(month, now, result)
    _count_ratings(month, result)
    _count_reviews(month, result)
    _count_case_analyses(month, result)
    technicians = reports._technicians(set(result))
    return Assessment(month=month, technicians=technicians, by_technician=result, now=now)


# --- what the page, the CSV and the PDF show --------------------------------------------------------------


def shown(key: str, figure: Figure) -> str:
    """A figure as a cell shows it: a count, or a rate in percent."""
    return str(figure.numerator) if SPECS[key].kind == COUNT else percent(figure.value)


def shown_median(key: str, median: Median) -> str:
    if median.value is None:
        return "—"
    if SPECS[key].kind == COUNT:
        return f"{median.value:g}"
    return percent(median.value)


def compared(key: str, figure: Figure, median: Median) -> str:
    """'better', 'worse' or '' (level, nothing to compare, or a figure that is neither): the page marks it."""
    better = SPECS[key].higher_is_better
    mine = figure.numerator if SPECS[key].kind == COUNT else figure.value
    if better is None or mine is None or median.value is None or mine == median.value:
        return ""
    return "better" if (mine > median.value) == better else "worse"


def assessment_csv(report: Assessment, technician: Technician | None = None) -> bytes:
    """UTF-8 with a BOM (Excel in China then reads the Chinese); one row per technician and figure, then the
    team's median of each figure. Given a technician, only their rows and the medians."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_("Month"), _("Technician account"), _("Technician"), _("Figure code"), _("Figure"),
                     _("Numerator"), _("Denominator"), _("Value"), _("Running"), _("Mean rating"),
                     _("Team median"), _("Technicians in the median")])
    labels = figure_labels()

    def number(value) -> str:
        return "" if value is None else str(value)

    for person in [technician] if technician else report.technicians:
        scope = report.of(person)
        for key in FIGURE_KEYS:
            figure, median = scope[key], report.medians[key]
            count = SPECS[key].kind == COUNT
            writer.writerow([
                report.month.label, person.username, person.display_name, key, labels[key], figure.numerator,
                number(figure.denominator) if not count or key == "case_analyses" else "",
                figure.numerator if count else number(figure.value), number(figure.pending),
                number(figure.mean) if isinstance(figure, Satisfaction) else "",
                number(median.value), median.technicians])
    for key in FIGURE_KEYS:
        median = report.medians[key]
        writer.writerow([report.month.label, "", _("Team median"), key, labels[key], "", "", number(median.value),
                         "", "", number(median.value), median.technicians])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def page_context(report: Assessment) -> dict:
    """What the page and the PDF both need beside the assessment."""
    return {"figure_keys": FIGURE_KEYS, "specs": SPECS, "labels": figure_labels(), "short_labels": short_labels(),
            "fractions": fraction_words(), "rules": definitions(report.month.tz.key), "shown": shown,
            "shown_median": shown_median, "compared": compared, "percent": percent}


def assessment_html(report: Assessment, technician: Technician | None, *, company: str, templates: Environment,
                    locale: str) -> str:
    template = templates.get_template("print/assessment.html")
    return template.render(report=report, technician=technician, company=company, html_lang=html_lang(locale),
                           **page_context(report))


def assessment_pdf(report: Assessment, technician: Technician | None, *, company: str, templates: Environment,
                   locale: str) -> bytes:
    """WeasyPrint with the service order's fetcher, as the weekly report's PDF."""
    from weasyprint import HTML

    from ..documents.orders import make_fetcher

    html = assessment_html(report, technician, company=company, templates=templates, locale=locale)
    return HTML(string=html, base_url="fs-static:", url_fetcher=make_fetcher()).write_pdf()
