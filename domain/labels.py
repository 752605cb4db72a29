"""Human names of the domain's vocabularies, translated through Flask-Babel."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .enums import Channel, ClockName, ClockState, Role, TicketStatus, Urgency

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
}

URGENCY_LABELS = {
    Urgency.URGENT: _l("Urgent"),
    Urgency.NORMAL: _l("Normal"),
}

CHANNEL_LABELS = {
    Channel.PHONE: _l("Phone"),
    Channel.WEB: _l("Website message"),
    Channel.OTHER: _l("Other"),
}

CLOCK_LABELS = {
    ClockName.INTAKE: _l("Intake within 15 min"),
    ClockName.FIRST_CONTACT: _l("First contact"),
    ClockName.REMOTE_FIX: _l("Remote fix within 30 min"),
    ClockName.ORDER_FILED: _l("Order filled within 10 min"),
    ClockName.PREPARATION: _l("Preparation 1 h before the visit"),
    ClockName.SUBMISSION: _l("Order submitted within 2 h"),
    ClockName.CASE_ANALYSIS: _l("Case analysis within 3 working days"),
}

CLOCK_STATE_LABELS = {
    ClockState.PENDING: _l("Running"),
    ClockState.MET: _l("Met"),
    ClockState.MISSED: _l("Missed"),
    ClockState.NOT_APPLICABLE: _l("Not applicable"),
}
