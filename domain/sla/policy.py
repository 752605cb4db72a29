"""The service policy's thresholds: each a setting with the documented default, kept in one place.

An administrator may override a value (table `policy_settings`); code asks `current_policy()`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm.util import identity_key

from ..core import context
from ..core.db import db
from ..core.enums import Urgency
from ..sla.models import PolicySetting


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
    # Alerts before a deadline (domain/sla/rules.py says who gets each).
    warn_first_contact_minutes: int = 10
    warn_preparation_minutes: int = 15
    warn_submission_minutes: int = 30
    warn_case_analysis_working_days: int = 1
    # The supervisors are told when the customer has not been reached after this many attempts in a row.
    unreachable_attempts: int = 3

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
    settings = db.session.execute(select(PolicySetting)).scalars().all()
    # Every row is now in the session; what is not there is remembered as absent, for this transaction.
    session = db.session()
    session.info[_ABSENT_KEY] = (session.get_transaction(), {SIGNING_CODE_KEY} - {s.key for s in settings})
    for setting in settings:
        if setting.key in SETTING_NAMES:
            try:
                value = int(setting.value)
            except ValueError:
                continue
            if value > 0:
                overrides[setting.key] = value
    return replace(DEFAULT_POLICY, **overrides)


POLICY_LIMITS = (1, 60 * 24 * 30)  # a threshold between one minute (or day) and thirty days


def save_policy(values: dict[str, int], *, actor) -> list[str]:
    """Store the thresholds that differ from the defaults (and forget those set back to default).
    Returns the names that changed; each change is in the audit trail."""
    from flask_babel import lazy_gettext as _l

    from ..core.audit import record_event
    from ..core.errors import ValidationError

    low, high = POLICY_LIMITS
    errors = {name: _l("Enter a whole number from %(low)d to %(high)d.", low=low, high=high)
              for name, value in values.items()
              if name in SETTING_NAMES and not (isinstance(value, int) and low <= value <= high)}
    if errors:
        raise ValidationError(errors)
    before = current_policy()
    stored = {s.key: s for s in db.session.execute(select(PolicySetting)).scalars()}
    changed = []
    for name in SETTING_NAMES:
        if name not in values:
            continue
        value = values[name]
        if value == getattr(before, name):
            continue
        changed.append(name)
        record_event("policy.changed", actor=actor, setting=name, old=getattr(before, name), new=value)
        if value == getattr(DEFAULT_POLICY, name):
            if name in stored:
                db.session.delete(stored[name])
        elif name in stored:
            stored[name].value, stored[name].updated_by_id = str(value), actor.id
        else:
            db.session.add(PolicySetting(key=name, value=str(value), updated_by_id=actor.id))
    return changed


# The customer confirms their signature with a one-time SMS code (issue 23): the company's choice, made by an
# administrator on the policy page; never chosen, the deployment's SIGNING_SMS_CODE decides. Kept beside the
# thresholds (same table, its own key: current_policy() reads only the thresholds' names).
SIGNING_CODE_KEY = "signing_sms_code"


# Set by current_policy(): (the transaction it read in, the keys it found no row for). A sync batch that signs
# reads the policy first; its signature then asks for the code's row without another query.
_ABSENT_KEY = "policy_settings_absent"


def signing_code_choice() -> bool | None:
    session = db.session()
    absent = session.info.get(_ABSENT_KEY)
    if (absent is not None and absent[0] is session.get_transaction() and SIGNING_CODE_KEY in absent[1]
            and identity_key(PolicySetting, SIGNING_CODE_KEY) not in session.identity_map
            and not any(isinstance(obj, PolicySetting) for obj in session.new)):
        return None  # no row when the policy was read in this transaction, and none added since
    # Read without flushing: signing asks in the middle of a batch whose writes go out once, together.
    with db.session.no_autoflush:
        row = db.session.get(PolicySetting, SIGNING_CODE_KEY)  # no query when current_policy() loaded it
    return None if row is None or row.value not in ("on", "off") else row.value == "on"


def signing_code_required(deployment_default: bool) -> bool:
    choice = signing_code_choice()
    return deployment_default if choice is None else choice


def save_signing_code(on: bool, *, deployment_default: bool, actor) -> bool:
    """Store the administrator's choice (forgotten when it is the deployment's own, as a threshold set back to its
    default is); True when it changed, and the change is in the audit trail."""
    from ..core.audit import record_event

    before = signing_code_required(deployment_default)
    db.session().info.pop(_ABSENT_KEY, None)  # the row is about to change
    row = db.session.get(PolicySetting, SIGNING_CODE_KEY)
    if on == deployment_default:
        if row is not None:
            db.session.delete(row)
    elif row is not None:
        row.value, row.updated_by_id = "on" if on else "off", actor.id
    else:
        db.session.add(PolicySetting(key=SIGNING_CODE_KEY, value="on" if on else "off", updated_by_id=actor.id))
    if on == before:
        return False
    record_event("policy.changed", actor=actor, setting=SIGNING_CODE_KEY, old=before, new=on)
    return True


context.provide_policy(current_policy)
