from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from domain.core.accounts import MIN_PASSWORD_LENGTH, USERNAME_RE
from domain.core.enums import Role
from domain.core.labels import ROLE_LABELS

from ..core.forms import SafeForm


def role_choices():
    return [SelectChoice(role.value, ROLE_LABELS[role]) for role in Role]


class PasswordMixin:
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(message=_l("Enter a password.")),
            Length(min=MIN_PASSWORD_LENGTH,
                   message=_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class UserDetailsForm(SafeForm):
    display_name = StringField(_l("Full name"), validators=[DataRequired(message=_l("Enter the full name.")),
                                                              Length(max=100)])
    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired()])
    is_admin = BooleanField(_l("May also manage user accounts"))
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])


class NewUserForm(PasswordMixin, UserDetailsForm):
    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(message=_l("Enter a username.")),
            Regexp(USERNAME_RE.pattern,
                   message=_l("A username has 2 to 64 characters: lower-case letters, digits, dot, dash, "
                              "underscore.")),
        ],
        filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
        render_kw={"autocapitalize": "none"},
    )


class ResetPasswordForm(PasswordMixin, SafeForm):
    pass


class EmptyForm(SafeForm):
    """A button that changes state: only the CSRF token."""


class CalendarOverrideForm(SafeForm):
    day = DateField(_l("Date"), validators=[DataRequired(message=_l("Choose a date."))])
    is_workday = SelectField(_l("This day is"), choices=[SelectChoice("1", _l("a working day")),
                                                          SelectChoice("0", _l("a holiday"))])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])
