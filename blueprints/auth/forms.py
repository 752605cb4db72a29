from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from domain.core.accounts import MIN_PASSWORD_LENGTH

from ..core.forms import SafeForm


class LoginForm(SafeForm):
    username = StringField(_l("Username"), validators=[DataRequired(message=_l("Enter your username."))],
                           render_kw={"autocomplete": "username", "autocapitalize": "none"})
    password = PasswordField(_l("Password"), validators=[DataRequired(message=_l("Enter your password."))],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("Keep me signed in on this device"))


class ChangePasswordForm(SafeForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(message=_l("Enter your password."))],
                            render_kw={"autocomplete": "current-password"})
    new = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(message=_l("Enter a new password.")),
            Length(min=MIN_PASSWORD_LENGTH,
                   message=_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[EqualTo("new", message=_l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class LogoutForm(SafeForm):
    """CSRF only: signing out is a state change."""
