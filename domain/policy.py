"""The service policy's thresholds: each a setting with the documented default, kept in one place.

An administrator may override a value (table `policy_settings`); code asks `current_policy()`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import timedelta

from sqlalchemy import select

from .db import db
from .enums import Urgency
from .models import PolicySetting


@dataclass(frozen=True)
class Policy:
    intake_minutes: int = 15               # customer's contact -> request entered
    first_contact_urgent_minutes: int = 30  # entered -> technician contacts the customer (urgent)
    first_contact_normal_minutes: int = 60  # ... (normal)
    remote_fix_minutes: int = 30           # first contact -> solved remotely
    order_filled_minutes: int = 10         # remote fix -> service order filled
    preparation_lead_minutes: int = 60     # preparation confirmed at least this long before the visit
    submission_minutes: int = 120          # end of service -> order submitted for review
    case_analysis_working_days: int = 3    # case analysis done within this many working days
    due_soon_minutes: int = 10             # boards highlight clocks due within this many minutes

    def first_contact_window(self, urgency: Urgency) -> timedelta:
        minutes = self.first_contact_urgent_minutes if urgency == Urgency.URGENT \
            else self.first_contact_normal_minutes
        return timedelta(minutes=minutes)

    def minutes(self, name: str) -> timedelta:
        return timedelta(minutes=getattr(self, name))


DEFAULT_POLICY = Policy()
SETTING_NAMES = tuple(f.name for f in fields(Policy))


def current_policy() -> Policy:
    """The defaults with any stored overrides applied (a malformed stored value keeps the default)."""
    overrides = {}
    for setting in db.session.execute(select(PolicySetting)).scalars():
        if setting.key in SETTING_NAMES:
            try:
                value = int(setting.value)
            except ValueError:
                continue
            if value > 0:
                overrides[setting.key] = value
    return replace(DEFAULT_POLICY, **overrides)
