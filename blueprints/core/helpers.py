"""Template filters, globals and small view helpers shared by every blueprint."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, current_app, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from domain.core.enums import Role
from domain.core.labels import (
    CHANNEL_LABELS,
    CLOCK_STATE_LABELS,
    RESOLUTION_LABELS,
    ROLE_LABELS,
    STATUS_LABELS,
    URGENCY_LABELS,
    clock_label,
    clock_labels,
)
from domain.core.locales import app_locale, html_lang, is_english
from domain.core.settings import APP_KEY as SETTINGS_KEY
from domain.core.settings import Settings
from domain.core.site import Site
from domain.core.types import in_zone
from domain.requests import workflow
from domain.sla.clocks import next_running
from domain.sla.policy import current_policy
from domain.sla.workdays import unknown_years


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object
    roles: frozenset
    description: object = ""


# The navigation, per role. An entry shows only once its blueprint exists in the app.
NAV = [
    NavItem("field.app", _l("My jobs"), frozenset({Role.TECHNICIAN}),
            _l("Today's assigned requests, usable offline")),
    NavItem("dispatch.mine", _l("My requests"), frozenset({Role.TECHNICIAN}),
            _l("Contact, remote fixes and visits, with their deadlines")),
    NavItem("dispatch.escalated", _l("Escalated to me"), frozenset({Role.EXPERT}),
            _l("Requests the supervisor asked you to help with")),
    NavItem("dispatch.new_request", _l("New request"), frozenset({Role.DISPATCHER, Role.SUPERVISOR}),
            _l("Enter a customer's request")),
    NavItem("dispatch.board", _l("Board"), frozenset({Role.SUPERVISOR, Role.DISPATCHER}),
            _l("Assign requests and watch the clocks")),
    NavItem("dispatch.day", _l("Today"), frozenset({Role.SUPERVISOR, Role.DISPATCHER}),
            _l("Each technician's visits today and where they were last seen")),
    NavItem("devices.index", _l("Devices"), frozenset({Role.DISPATCHER, Role.SUPERVISOR}),
            _l("The register of rented devices, their labels and history")),
    NavItem("orders.review_queue", _l("Review"), frozenset({Role.SUPERVISOR}),
            _l("Service orders waiting for review")),
    NavItem("orders.archive_list", _l("Service orders"), frozenset({Role.SUPERVISOR}),
            _l("Every filed order: filters, previews, downloads, ZIP")),
    NavItem("kb.index", _l("Knowledge base"), frozenset(Role), _l("FAQ manual and solved cases")),
    NavItem("reports.weekly", _l("Weekly report"), frozenset({Role.SUPERVISOR}),
            _l("Response, resolution and satisfaction")),
    NavItem("reports.assessment", _l("Technician assessment"), frozenset({Role.SUPERVISOR, Role.ADMIN}),
            _l("Each technician's month beside the team median")),
    NavItem("admin.users", _l("Users"), frozenset({Role.ADMIN}), _l("Create, deactivate and reset accounts")),
    NavItem("admin.policy", _l("Service policy"), frozenset({Role.ADMIN}), _l("The deadlines the app tracks")),
    NavItem("admin.calendar", _l("Working-day calendar"), frozenset({Role.ADMIN}),
            _l("Holidays and make-up days the calendar does not know")),
    NavItem("alerts.channel_list", _l("Group robots"), frozenset({Role.ADMIN}),
            _l("DingTalk, WeCom and Feishu groups that receive alerts")),
    NavItem("alerts.sms_settings", _l("SMS"), frozenset({Role.ADMIN}),
            _l("The SMS provider and the template for each message")),
    NavItem("alerts.outbox", _l("Outbox"), frozenset({Role.ADMIN}),
            _l("Mail, robot messages and SMS: sent and waiting")),
]


def nav_items(user) -> list[NavItem]:
    if user is None or not user.is_authenticated:
        return []
    endpoints = current_app.view_functions
    return [item for item in NAV if item.endpoint in endpoints and user.has_role(*item.roles)]


def safe_next_url(target: str | None) -> str | None:
    """Only a path on this site: never an open redirect to another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def current_settings() -> Settings:
    """This deployment's typed settings (domain/core/settings.py), built once by the app factory: what the views
    hand the domain, whole or the part it needs."""
    return current_app.extensions[SETTINGS_KEY]


def company_tz() -> ZoneInfo:
    """The company's configured time zone (TIMEZONE): times are stored in UTC and shown in it."""
    return current_settings().tz


def current_site() -> Site:
    """This deployment's Site (company, PUBLIC_URL, signing key, time zone, print templates): what the domain's
    documents and customer links are given."""
    return current_settings().site


def current_locale() -> str:
    """The language of this answer, by the app's name ("zh_CN" or "en")."""
    return app_locale(get_locale())


def english() -> bool:
    return is_english(get_locale())


def calendar_gaps() -> list[int]:
    """This year and the next when the holiday calendar knows neither them nor any admin entry (local date)."""
    from datetime import datetime as _datetime

    return unknown_years(_datetime.now(company_tz()).date())


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time shown in the company's configured time zone."""
    if value is None:
        return ""
    return in_zone(value, company_tz()).strftime(fmt)


def duration(seconds: float) -> str:
    """A span of time in words: "2 h 5 min", "40 min", "3 d 2 h"."""
    from flask_babel import gettext as _

    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return _("%(d)s d %(h)s h", d=days, h=hours)
    if hours:
        return _("%(h)s h %(m)s min", h=hours, m=mins)
    return _("%(m)s min", m=mins)


class PolicyClockLabels(Mapping):
    """The clocks' names with the thresholds in force, read from the policy only when a page shows a clock (an
    error page must render even when the database cannot be read)."""

    def __init__(self):
        self._labels = None
        self._policy = None

    def _current(self):
        if self._policy is None:
            self._policy = current_policy()
        return self._policy

    def _all(self) -> dict:
        if self._labels is None:
            self._labels = clock_labels(self._current())
        return self._labels

    def __getitem__(self, name):
        return self._all()[name]

    def for_clock(self, clock) -> str:
        """The name with the threshold this clock started with (the policy's current one if it has none)."""
        threshold = getattr(clock, "threshold", None)
        if threshold is None:
            return self[clock.name]
        return clock_label(clock.name, threshold, self._current())

    def __iter__(self):
        return iter(self._all())

    def __len__(self):
        return len(self._all())


def register(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(duration, "duration")
    app.add_template_global(generate_csrf, "csrf_token")
    app.add_template_global(next_running, "next_running_clock")
    app.add_template_global(calendar_gaps, "calendar_gaps")
    app.add_template_global(Role.ADMIN, "role_admin")
    # `{% if ticket is assignable %}`: the workflow's rule, not a list of states in a template.
    app.add_template_test(lambda ticket: ticket.status in workflow.ASSIGNABLE, "assignable")

    @app.context_processor
    def inject_globals():
        from flask_login import current_user

        current = current_locale()
        return {
            "nav": nav_items(current_user),
            "current_locale": current,
            "html_lang": html_lang(current),
            "company_name": current_settings().site.company,
            "role_labels": ROLE_LABELS,
            "status_labels": STATUS_LABELS,
            "urgency_labels": URGENCY_LABELS,
            "channel_labels": CHANNEL_LABELS,
            "resolution_labels": RESOLUTION_LABELS,
            "clock_labels": PolicyClockLabels(),
            "clock_state_labels": CLOCK_STATE_LABELS,
            "url_for": url_for,
        }


def domain_context():
    """Who acts, from where, in which time zone: the domain's view of this request."""
    from flask import request
    from flask_login import current_user

    from domain.core.context import Context

    return Context(actor=current_user._get_current_object(), tz=company_tz(),
                   remote_addr=request.remote_addr, site=current_site())


def apply_field_errors(form, fields: dict) -> list[str]:
    """Put the domain's per-field messages on the form; returns the ones that belong to no field."""
    unplaced = []
    for name, message in fields.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [str(message)]
        else:
            unplaced.append(str(message))
    return unplaced


def local_naive(value: datetime | None) -> datetime | None:
    """A stored UTC time as the naive local time a datetime-local input shows."""
    if value is None:
        return None
    return in_zone(value, company_tz()).replace(tzinfo=None, second=0, microsecond=0)


def from_local_naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=company_tz())
