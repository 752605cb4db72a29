"""Forms for CSRF and rendering; the domain (domain.dispatch) validates the content, once for form and API."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from domain.core.enums import Channel, ContactMethod, RemoteOutcome
from domain.core.labels import CHANNEL_LABELS, URGENCY_LABELS

from ..core.forms import SafeForm

CONTACT_METHOD_LABELS = {
    ContactMethod.PHONE: _l("Phone call"),
    ContactMethod.MESSAGE: _l("Message (WeChat, SMS)"),
    ContactMethod.SCREEN_SHARE: _l("Screen sharing"),
    ContactMethod.OTHER: _l("Other"),
}
REMOTE_OUTCOME_LABELS = {
    RemoteOutcome.RESOLVED: _l("Solved"),
    RemoteOutcome.NEEDS_VISIT: _l("Not solved: a visit is needed"),
    RemoteOutcome.IN_PROGRESS: _l("Still in progress"),
}
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


def options(labels: dict) -> list[SelectChoice]:
    """Choices from an enum's label table (WTForms 3.3 wants SelectChoice objects)."""
    return [SelectChoice(member.value, label) for member, label in labels.items()]


class IntakeForm(SafeForm):
    customer_id = SelectField(_l("Customer"), choices=[], validate_choice=False)
    customer_name = StringField(_l("Customer name"))
    contact_person = StringField(_l("Contact person"))
    contact_phone = StringField(_l("Contact phone"), render_kw={"type": "tel", "autocomplete": "off"})
    address = StringField(_l("Address"))
    customer_email = StringField(_l("Customer's e-mail (for their copy of the signed order)"),
                                 render_kw={"type": "email", "autocomplete": "off"})
    device_ref = StringField(_l("Registered device: asset or serial number"),
                             render_kw={"autocomplete": "off", "maxlength": 100})
    device_model_id = SelectField(_l("Device model"), choices=[], validate_choice=False)
    device_model = StringField(_l("Device model, if not in the list"))
    device_category = SelectField(_l("Device category"), choices=[], validate_choice=False)
    serial_number = StringField(_l("Serial number or asset tag"))
    problem = TextAreaField(_l("Problem description"), render_kw={"rows": 4})
    # A QR-label report is the customer's own (the report page); the desk enters phone, website and other.
    channel = RadioField(_l("Channel"), choices=options({c: label for c, label in CHANNEL_LABELS.items()
                                                          if c != Channel.QR}),
                         default=Channel.PHONE.value, validate_choice=False)
    urgency = RadioField(_l("Urgency"), choices=options(URGENCY_LABELS),
                         validate_choice=False)
    reported_at = DateTimeLocalField(_l("When the customer got in touch"), format=DATETIME_FORMATS,
                                     validators=[Optional()])


class AssignForm(SafeForm):
    technician = SelectField(_l("Technician"), choices=[], validate_choice=False)
    version = HiddenField()


class EscalateForm(SafeForm):
    expert = SelectField(_l("Expert"), choices=[], validate_choice=False)
    reason = TextAreaField(_l("What should the expert help with?"), render_kw={"rows": 2})


class ForwardForm(SafeForm):
    pass


class CancelForm(SafeForm):
    reason = StringField(_l("Reason for cancelling"))


class NoteForm(SafeForm):
    text = TextAreaField(_l("Note"), render_kw={"rows": 2})
    shown_to_customer = BooleanField(_l("Show to the customer"))


class ContactForm(SafeForm):
    method = SelectField(_l("How"), choices=options(CONTACT_METHOD_LABELS),
                         validate_choice=False)
    reached = BooleanField(_l("Reached the customer"), default=True)
    note = StringField(_l("Note"))
    at = DateTimeLocalField(_l("When"), format=DATETIME_FORMATS, validators=[Optional()])


class RemoteForm(SafeForm):
    method = SelectField(_l("How"), choices=options(CONTACT_METHOD_LABELS),
                         default=ContactMethod.SCREEN_SHARE.value, validate_choice=False)
    steps = TextAreaField(_l("Steps you guided the customer through"), render_kw={"rows": 3})
    outcome = RadioField(_l("Outcome"), choices=options(REMOTE_OUTCOME_LABELS),
                         default=RemoteOutcome.IN_PROGRESS.value, validate_choice=False)


class ResolveForm(SafeForm):
    cause = TextAreaField(_l("Cause of the problem"), render_kw={"rows": 2})
    work_done = TextAreaField(_l("What was done"), render_kw={"rows": 3})
    resolved_at = DateTimeLocalField(_l("Solved at"), format=DATETIME_FORMATS, validators=[Optional()])


class VisitForm(SafeForm):
    scheduled_at = DateTimeLocalField(_l("Agreed visit time"), format=DATETIME_FORMATS, validators=[Optional()])
    address = StringField(_l("Address"))
    agreed_with = StringField(_l("Agreed with"))


class UnsignedDecisionForm(SafeForm):
    """The supervisor's decision on a visit that ended without the customer's signature."""
    decision = RadioField(_l("Decision"), choices=[
        SelectChoice("revisit", _l("Visit again: back to scheduling, the work done so far kept")),
        SelectChoice("close", _l("Close the request without the customer's signature"))],
        default="revisit", validate_choice=False)
    reason = TextAreaField(_l("Reason (required to close; the technician reads it)"),
                           render_kw={"rows": 2, "maxlength": 1000})


class AnotherVisitForm(SafeForm):
    reason = TextAreaField(_l("Why another visit is needed (parts to order ...)"),
                           render_kw={"rows": 2, "maxlength": 1000})


class PrepareForm(SafeForm):
    """The checklist's ticked items arrive as repeated `item` values."""
