"""Human names of the domain's vocabularies, translated through Flask-Babel."""
from __future__ import annotations

from dataclasses import replace

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .enums import Channel, ClockName, ClockState, DeviceState, Resolution, Role, TicketStatus, Urgency

ROLE_LABELS = {
    Role.DISPATCHER: _l("Customer service"),
    Role.TECHNICIAN: _l("Technical support specialist"),
    Role.EXPERT: _l("Technical expert"),
    Role.SUPERVISOR: _l("Technical support supervisor"),
    Role.ADMIN: _l("Administrator"),
}

STATUS_LABELS = {
    TicketStatus.NEW: _l("New"),
    TicketStatus.ASSIGNED: _l("Assigned"),
    TicketStatus.CONTACTED: _l("Customer contacted"),
    TicketStatus.REMOTE_RESOLVED: _l("Resolved remotely"),
    TicketStatus.VISIT_SCHEDULED: _l("Visit scheduled"),
    TicketStatus.ON_SITE: _l("On site"),
    TicketStatus.SIGNED: _l("Signed by customer"),
    TicketStatus.SUBMITTED: _l("Submitted for review"),
    TicketStatus.APPROVED: _l("Approved"),
    TicketStatus.RETURNED: _l("Returned for changes"),
    TicketStatus.CANCELLED: _l("Cancelled"),
    TicketStatus.CLOSED_UNSIGNED: _l("Closed, not signed by the customer"),
}

DEVICE_STATE_LABELS = {
    DeviceState.IN_STOCK: _l("In stock"),
    DeviceState.RENTED: _l("Rented out"),
    DeviceState.IN_REPAIR: _l("In repair"),
    DeviceState.RETIRED: _l("Retired"),
}

URGENCY_LABELS = {
    Urgency.URGENT: _l("Urgent"),
    Urgency.NORMAL: _l("Normal"),
}

# The kind of service order: its own words, never a state's ("On site" is a state: 现场处理中).
RESOLUTION_LABELS = {
    Resolution.ON_SITE: _l("On-site service"),
    Resolution.REMOTE: _l("Solved remotely"),
}

CHANNEL_LABELS = {
    Channel.PHONE: _l("Phone"),
    Channel.WEB: _l("Website message"),
    Channel.QR: _l("Device QR label"),
    Channel.OTHER: _l("Other"),
}

def span_text(minutes: int) -> str:
    """A policy threshold as people say it: "15 min", "2 h"."""
    if minutes >= 60 and minutes % 60 == 0:
        return _("%(n)d h", n=minutes // 60)
    return _("%(n)d min", n=minutes)


def clock_labels(policy) -> dict[ClockName, str]:
    """The clocks' names with the thresholds of the policy in force (an admin may change them)."""
    return {
        ClockName.INTAKE: _("Intake within %(span)s", span=span_text(policy.intake_minutes)),
        ClockName.FIRST_CONTACT: _("First contact"),
        ClockName.REMOTE_FIX: _("Remote fix within %(span)s", span=span_text(policy.remote_fix_minutes)),
        ClockName.ORDER_FILED: _("Order filled within %(span)s", span=span_text(policy.order_filled_minutes)),
        ClockName.PREPARATION: _("Preparation %(span)s before the visit",
                                 span=span_text(policy.preparation_lead_minutes)),
        ClockName.SUBMISSION: _("Order submitted within %(span)s", span=span_text(policy.submission_minutes)),
        ClockName.CASE_ANALYSIS: _("Case analysis within %(n)d working days", n=policy.case_analysis_working_days),
    }


# The policy setting each clock's threshold comes from (first contact names no threshold).
CLOCK_THRESHOLD_SETTINGS = {
    ClockName.INTAKE: "intake_minutes",
    ClockName.REMOTE_FIX: "remote_fix_minutes",
    ClockName.ORDER_FILED: "order_filled_minutes",
    ClockName.PREPARATION: "preparation_lead_minutes",
    ClockName.SUBMISSION: "submission_minutes",
    ClockName.CASE_ANALYSIS: "case_analysis_working_days",
}


def clock_label(name: ClockName, threshold: int | None, policy) -> str:
    """A clock's name with the threshold it started with (an admin may have changed the policy since)."""
    if threshold is not None and name in CLOCK_THRESHOLD_SETTINGS:
        policy = replace(policy, **{CLOCK_THRESHOLD_SETTINGS[name]: threshold})
    return clock_labels(policy)[name]


CLOCK_STATE_LABELS = {
    ClockState.PENDING: _l("Running"),
    ClockState.MET: _l("Met"),
    ClockState.MISSED: _l("Missed"),
    ClockState.NOT_APPLICABLE: _l("Not applicable"),
}
