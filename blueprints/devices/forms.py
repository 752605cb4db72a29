from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField

from domain.core.labels import DEVICE_STATE_LABELS

from ..core.forms import SafeForm
from ..dispatch.forms import options


class DeviceForm(SafeForm):
    asset_number = StringField(_l("Asset number"), render_kw={"autocomplete": "off", "maxlength": 40})
    serial_number = StringField(_l("Serial number"), render_kw={"autocomplete": "off", "maxlength": 100})
    model = StringField(_l("Model"), render_kw={"list": "catalog-models", "maxlength": 200, "autocomplete": "off"})
    category = SelectField(_l("Device category"), choices=[], validate_choice=False)
    state = SelectField(_l("State"), choices=options(DEVICE_STATE_LABELS), validate_choice=False)
    customer = StringField(_l("Rented to (customer)"), render_kw={"maxlength": 200})
    rented_since = StringField(_l("Rented since"), render_kw={"type": "date"})
    notes = TextAreaField(_l("Notes"), render_kw={"rows": 2, "maxlength": 2000})


class ImportForm(SafeForm):
    file = FileField(_l("CSV file (UTF-8 or GBK, as Excel saves it)"))


class ReissueForm(SafeForm):
    pass
