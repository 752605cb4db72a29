"""The register's pages: list and search, a device with its history, create and edit, re-issue a label, CSV import
(columns mapped on screen) and export, label sheets."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from domain.core.blobs import store_blob
from domain.core.db import db
from domain.core.enums import DeviceState
from domain.core.errors import DomainError, NotFound
from domain.core.labels import CHANNEL_LABELS, DEVICE_STATE_LABELS, STATUS_LABELS
from domain.core.locales import name_key
from domain.core.models import Blob
from domain.core.validation import parse_int
from domain.devices import register, transfer
from domain.requests.models import DeviceCategory

from ..access import ALL_ROLES, roles_required
from ..core.actions import form_action
from ..core.helpers import company_tz, current_locale, current_site, domain_context, local_naive
from . import bp
from .forms import DeviceForm, ImportForm, ReissueForm

PER_PAGE = 50


def _state_arg() -> DeviceState | None:
    try:
        return DeviceState(request.args.get("state", ""))
    except ValueError:
        return None


@bp.get("/")
@roles_required(*ALL_ROLES)
def index():
    page = parse_int(request.args.get("page", ""), minimum=1, maximum=100_000) or 1
    q = request.args.get("q", "")[:100]
    state = _state_arg()
    devices, total = register.search_devices(q, state=state, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    return render_template("devices/index.html", devices=devices, total=total, page=page, q=q, state=state,
                           pages=max(1, -(-total // PER_PAGE)), state_labels=DEVICE_STATE_LABELS,
                           can_edit=register.can_edit(current_user))


def _fill_models(form: DeviceForm) -> list[tuple[str, list[str]]]:
    """The category choices, and the catalog's models by category for the model field's suggestions."""
    key = name_key(current_locale())
    categories = db.session.execute(select(DeviceCategory).options(selectinload(DeviceCategory.models))
                                    .order_by(DeviceCategory.position)).scalars().all()
    form.category.choices = [SelectChoice("", _("— Only for a model new to the catalog —"))] + [
        SelectChoice(c.code, getattr(c, key)) for c in categories]
    return [(getattr(c, key), [m.label for m in c.models if m.active]) for c in categories]


def _form_data(form: DeviceForm) -> dict:
    return {name: field.data for name, field in form._fields.items() if name != "csrf_token"}


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*register.EDITOR_ROLES)
def new_device():
    form = DeviceForm()
    catalog = _fill_models(form)
    if form.validate_on_submit():
        outcome = form_action(lambda: register.create_device(_form_data(form), domain_context()), form)
        if outcome.ok:
            flash(_("Device %(number)s added to the register.", number=outcome.value.asset_number), "success")
            return redirect(url_for("devices.detail", asset_number=outcome.value.asset_number))
    return render_template("devices/form.html", form=form, device=None, catalog=catalog), \
        400 if form.errors else 200


def _device_or_404(asset_number: str):
    try:
        return register.get_device(asset_number)
    except NotFound:
        abort(404)


@bp.get("/<asset_number>")
@roles_required(*ALL_ROLES)
def detail(asset_number: str):
    device = _device_or_404(asset_number)
    ctx = domain_context()
    history = register.device_history(device, ctx.now)
    return render_template("devices/detail.html", device=device, history=history,
                           report_url=register.report_url(device, current_site()),
                           state_labels=DEVICE_STATE_LABELS, status_labels=STATUS_LABELS,
                           channel_labels=CHANNEL_LABELS, can_edit=register.can_edit(current_user),
                           reissue_form=ReissueForm())


@bp.route("/<asset_number>/edit", methods=["GET", "POST"])
@roles_required(*register.EDITOR_ROLES)
def edit(asset_number: str):
    device = _device_or_404(asset_number)
    form = DeviceForm(obj=None)
    catalog = _fill_models(form)
    if request.method == "GET":
        form.asset_number.data = device.asset_number
        form.serial_number.data = device.serial_number
        form.model.data = device.device_model.label
        form.state.data = device.state.value
        form.customer.data = device.customer.name if device.customer else ""
        since = local_naive(device.rented_since)
        form.rented_since.data = since.date().isoformat() if since else ""
        form.notes.data = device.notes
    if form.validate_on_submit():
        outcome = form_action(lambda: register.update_device(device, _form_data(form), domain_context()), form)
        if outcome.ok:
            flash(_("Device %(number)s saved.", number=device.asset_number), "success")
            return redirect(url_for("devices.detail", asset_number=device.asset_number))
    return render_template("devices/form.html", form=form, device=device, catalog=catalog), \
        400 if form.errors else 200


@bp.post("/<asset_number>/label")
@roles_required(*register.EDITOR_ROLES)
def reissue_label(asset_number: str):
    device = _device_or_404(asset_number)
    if not ReissueForm().validate_on_submit():
        return render_template("errors/error.html", code=400, title=_("The form expired. Try again.")), 400
    register.reissue_label(device, domain_context())
    flash(_("A new label was issued for %(number)s: print it and replace the old one, which no longer works.",
            number=device.asset_number), "success")
    return redirect(url_for("devices.detail", asset_number=device.asset_number))


@bp.get("/labels.pdf")
@roles_required(*register.EDITOR_ROLES)
def labels_pdf():
    """Label sheets for the devices named (?asset=...), or for every device the list's search finds."""
    from domain.devices import labels
    from domain.devices.models import Device

    assets = [a for a in request.args.getlist("asset")[:labels.MAX_LABELS] if register.ASSET_NUMBER.fullmatch(a)]
    if assets:
        devices = db.session.execute(select(Device).where(Device.asset_number.in_(assets))
                                     .options(selectinload(Device.device_model))
                                     .order_by(Device.asset_number)).scalars().all()
    else:
        devices, _total = register.search_devices(request.args.get("q", ""), state=_state_arg(),
                                                  limit=labels.MAX_LABELS)
    if not devices:
        abort(404)
    pdf = labels.labels_pdf(devices, current_site(), lang="en" if current_locale() == "en" else "zh-CN")
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = "inline; filename=device-labels.pdf"
    return response


@bp.get("/export.csv")
@roles_required(*register.EDITOR_ROLES)
def export_csv():
    response = make_response(transfer.export_csv(company_tz()))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = "attachment; filename=devices.csv"
    return response


@bp.route("/import", methods=["GET", "POST"])
@roles_required(*register.EDITOR_ROLES)
def import_csv():
    """Two steps: the file is uploaded and kept (content-addressed, as every upload); its columns are shown with a
    guess of each field's column; the user corrects the mapping and imports."""
    form = ImportForm()
    if not form.validate_on_submit():
        return render_template("devices/import.html", form=form), 400 if form.is_submitted() else 200
    sha = request.form.get("file_sha", "")
    try:
        if form.file.data:
            raw = form.file.data.read(transfer.MAX_BYTES + 1)
            table = transfer.read_table(raw)
            sha = store_blob(raw, "text/csv").sha256
            return render_template("devices/import.html", form=form, table=table, sha=sha,
                                   mapping=transfer.guess_mapping(table.header), fields=transfer.FIELDS,
                                   labels=transfer.FIELD_LABELS, required=transfer.REQUIRED)
        blob = db.session.get(Blob, sha) if len(sha) == 64 and sha.isalnum() and sha.isascii() else None
        if blob is None:
            raise transfer.BadFile("no_file", _("Choose the CSV file to import."))
        raw = bytes(blob.data)
        table = transfer.read_table(raw)
        mapping = {name: request.form.get(f"column_{name}", "") for name in transfer.FIELDS}
        result = transfer.import_devices(raw, domain_context(), mapping)
    except DomainError as error:
        form.file.errors = [str(error.message)]
        return render_template("devices/import.html", form=form), 400
    if result.errors:
        chosen = {name: int(v) for name, v in mapping.items() if v not in ("", None) and v.isdigit()}
        return render_template("devices/import.html", form=form, table=table, sha=sha, mapping=chosen,
                               fields=transfer.FIELDS, labels=transfer.FIELD_LABELS, required=transfer.REQUIRED,
                               errors=result.errors), 400
    flash(_("%(count)d devices imported.", count=len(result.created)), "success")
    return redirect(url_for("devices.index"))
