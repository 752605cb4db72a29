"""Every clock of the policy declared once: what starts it, what stops it, the policy setting that sets its
deadline, and who is alerted before and after the deadline. The clock labels, the alert scan and the weekly
report read this table; a rule is found (and changed) here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ..core.enums import ClockName, Role
from .policy import Policy
from .workdays import is_workday


class Audience(StrEnum):
    """Who an alert about a request goes to."""

    ASSIGNEE = "assignee"        # the technician the request is assigned to (supervisors while unassigned)
    SUPERVISORS = "supervisors"  # every active supervisor
    EXPERT = "expert"            # the expert a request is escalated to


@dataclass(frozen=True)
class ClockRule:
    name: ClockName
    # Whose work the clock measures (DOMAIN.md): customer service forwards the request (intake), the technician
    # contacts, fixes, files and submits, the supervisor (with the expert) writes the case analysis. A
    # technician's figures (the weekly report's per-technician rows, the monthly assessment) count only the
    # clocks they own.
    owner: Role
    starts: str                    # the event that starts the clock (in words: docs, the alerts' texts)
    stops: str                     # the event that stops it
    threshold: tuple[str, ...]     # the policy settings that set the deadline
    warn_setting: str | None       # the policy setting: how long before the deadline to warn
    warn_to: tuple[Audience, ...]  # who is warned before the deadline
    missed_to: tuple[Audience, ...]  # who is told the deadline was missed
    report_key: str                # the figure's key in the weekly report
    warn_in_working_days: bool = False
    # The domain modules whose actions start it, and stop (or drop) it: the only places that may (checked by
    # tests/test_structure.py), so that a reader finds every way a clock runs from here.
    started_in: tuple[str, ...] = ()
    stopped_in: tuple[str, ...] = ()

    def warn_at(self, due_at: datetime, policy: Policy, tz: ZoneInfo,
                overrides: dict[date, bool] | None = None) -> datetime | None:
        """When the "deadline soon" alert is due, or None when this clock warns nobody."""
        if self.warn_setting is None or not self.warn_to:
            return None
        amount = getattr(policy, self.warn_setting)
        if not self.warn_in_working_days:
            return due_at - timedelta(minutes=amount)
        # The start of the working day `amount` working days before the last day of the deadline.
        day = (due_at - timedelta(microseconds=1)).astimezone(tz).date()
        counted = 0
        while counted < amount:
            day -= timedelta(days=1)
            if is_workday(day, overrides):
                counted += 1
        return datetime.combine(day, WORKDAY_STARTS, tzinfo=tz)

    def warned_through(self, at: datetime, policy: Policy, tz: ZoneInfo,
                       overrides: dict[date, bool] | None = None) -> datetime | None:
        """The latest deadline whose warning is due by `at`: warn_at(due) <= at exactly when due <= this (warn_at
        never decreases as the deadline moves later), so the warnings come in a window are one range of deadlines.
        None when this clock warns nobody."""
        if self.warn_setting is None or not self.warn_to:
            return None
        amount = getattr(policy, self.warn_setting)
        if not self.warn_in_working_days:
            return at + timedelta(minutes=amount)
        # A working day's warnings come at its start: the first working day starting after `at` warns of the
        # deadlines after the end of the amount-th working day counted from it; every earlier one is warned by `at`.
        local = at.astimezone(tz)
        day = local.date() + timedelta(days=1 if local.time() >= WORKDAY_STARTS else 0)
        while not is_workday(day, overrides):
            day += timedelta(days=1)
        counted = 1
        while counted < amount:
            day += timedelta(days=1)
            if is_workday(day, overrides):
                counted += 1
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


WORKDAY_STARTS = time(9, 0)
OWNER_AND_SUPERVISORS = (Audience.ASSIGNEE, Audience.SUPERVISORS)

CLOCK_RULES: dict[ClockName, ClockRule] = {rule.name: rule for rule in (
    ClockRule(ClockName.INTAKE, Role.DISPATCHER, "the customer got in touch", "the request is entered",
              ("intake_minutes",), None, (), (), "intake",
              started_in=("requests.intake", "customer.report"), stopped_in=("requests.intake",)),
    ClockRule(ClockName.FIRST_CONTACT, Role.TECHNICIAN, "the request is entered", "the first successful contact",
              ("first_contact_urgent_minutes", "first_contact_normal_minutes"),
              "warn_first_contact_minutes", (Audience.ASSIGNEE,), OWNER_AND_SUPERVISORS, "response_rate",
              started_in=("requests.intake",), stopped_in=("requests.remote_work",)),
    ClockRule(ClockName.REMOTE_FIX, Role.TECHNICIAN, "the first contact", "solved remotely (or a visit is needed)",
              ("remote_fix_minutes",), None, (), OWNER_AND_SUPERVISORS, "remote_fix",
              started_in=("requests.remote_work",), stopped_in=("requests.remote_work", "requests.visits")),
    ClockRule(ClockName.ORDER_FILED, Role.TECHNICIAN, "solved remotely", "the service order filled",
              ("order_filled_minutes",), None, (), OWNER_AND_SUPERVISORS, "order_filed",
              started_in=("requests.remote_work",), stopped_in=("requests.remote_work",)),
    ClockRule(ClockName.PREPARATION, Role.TECHNICIAN, "a visit is scheduled", "the preparation is confirmed",
              ("preparation_lead_minutes",), "warn_preparation_minutes", (Audience.ASSIGNEE,),
              OWNER_AND_SUPERVISORS, "preparation",
              started_in=("requests.visits",), stopped_in=("requests.visits",)),
    ClockRule(ClockName.SUBMISSION, Role.TECHNICIAN, "the customer signs, or the request is solved remotely",
              "the order is submitted for review", ("submission_minutes",), "warn_submission_minutes",
              (Audience.ASSIGNEE,), OWNER_AND_SUPERVISORS, "submission",
              started_in=("fieldwork.signing", "requests.remote_work"), stopped_in=("documents.review",)),
    ClockRule(ClockName.CASE_ANALYSIS, Role.SUPERVISOR,
              "an order of a first-seen fault type or a complex case is approved", "the case analysis is completed",
              ("case_analysis_working_days",),
              "warn_case_analysis_working_days", (Audience.SUPERVISORS, Audience.EXPERT),
              (Audience.SUPERVISORS, Audience.EXPERT), "case_analysis", warn_in_working_days=True,
              started_in=("documents.cases",), stopped_in=("documents.cases",)),
)}


def owned_by(role: Role) -> tuple[ClockName, ...]:
    """The clocks whose work `role` does, in process order."""
    return tuple(name for name, rule in CLOCK_RULES.items() if rule.owner == role)
