"""The base of every form: the input checks of domain.core.validation applied to every field, so that a NUL
byte, a number beyond the database's integer or a date in the year 9999 is a form error in the user's language
instead of a 500 from the database driver or the renderer."""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField, IntegerField

from domain.core import validation


def refuse_unstorable_text(value):
    """WTForms filter: a filter's ValueError becomes the field's error message."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and (problem := validation.text_problem(item)) is not None:
            raise ValueError(str(problem[1]))
    return value


def refuse_out_of_range_integer(value):
    if isinstance(value, int) and validation.parse_int(value) is None:
        raise ValueError(str(_l("This number is too large.")))
    return value


def refuse_out_of_range_time(value):
    if isinstance(value, datetime | date) and not validation.time_in_range(value):
        raise ValueError(str(validation.OUT_OF_RANGE))
    return value


class SafeForm(FlaskForm):
    class Meta(FlaskForm.Meta):
        def bind_field(self, form, unbound_field, options):
            field_class = unbound_field.field_class
            extra = [refuse_unstorable_text]
            if issubclass(field_class, IntegerField):
                extra.append(refuse_out_of_range_integer)
            if issubclass(field_class, DateField | DateTimeLocalField):
                extra.append(refuse_out_of_range_time)
            options["filters"] = [*unbound_field.kwargs.get("filters", ()), *extra]
            return super().bind_field(form, unbound_field, options)
