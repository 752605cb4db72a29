"""Template filters, globals and small view helpers shared by every blueprint."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, current_app, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from domain.enums import Role
from domain.labels import CHANNEL_LABELS, ROLE_LABELS, STATUS_LABELS, URGENCY_LABELS


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
    NavItem("dispatch.new_request", _l("New request"), frozenset({Role.DISPATCHER, Role.SUPERVISOR}),
            _l("Enter a customer's request")),
    NavItem("dispatch.board", _l("Board"), frozenset({Role.SUPERVISOR, Role.DISPATCHER, Role.EXPERT}),
            _l("Assign requests and watch the clocks")),
    NavItem("orders.review_queue", _l("Review"), frozenset({Role.SUPERVISOR}),
            _l("Service orders waiting for review")),
    NavItem("kb.index", _l("Knowledge base"), frozenset(Role), _l("FAQ manual and solved cases")),
    NavItem("reports.weekly", _l("Weekly report"), frozenset({Role.SUPERVISOR}),
            _l("Response, resolution and satisfaction")),
    NavItem("admin.users", _l("Users"), frozenset({Role.ADMIN}), _l("Create, deactivate and reset accounts")),
]


def nav_items(user) -> list[NavItem]:
    if not user.is_authenticated:
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


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time shown in the company's configured time zone."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(fmt)


def register(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_global(generate_csrf, "csrf_token")

    @app.context_processor
    def inject_globals():
        from flask_login import current_user

        locale = get_locale()
        # Babel calls zh_CN "zh_Hans_CN"; the app's own names are "zh_CN" and "en".
        current = "en" if locale is not None and locale.language == "en" else "zh_CN"
        return {
            "nav": nav_items(current_user),
            "current_locale": current,
            "html_lang": "en" if current == "en" else "zh-CN",
            "company_name": current_app.config["COMPANY_NAME"],
            "role_labels": ROLE_LABELS,
            "status_labels": STATUS_LABELS,
            "urgency_labels": URGENCY_LABELS,
            "channel_labels": CHANNEL_LABELS,
            "url_for": url_for,
        }
