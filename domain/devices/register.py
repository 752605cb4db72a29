"""The register's rules: who edits it, what a device record must hold, finding a device by asset or serial
number, re-issuing its label, and a device's history with its fault counts."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..core.audit import record_event
from ..core.context import Context, parse_client_time
from ..core.db import db
from ..core.enums import DeviceState, Role, TicketStatus
from ..core.errors import Forbidden, NotFound, ValidationError
from ..core.labels import DEVICE_STATE_LABELS
from ..core.models import User
from ..core.site import Site
from ..core.validation import text_problem
from ..requests.intake import find_device_model
from ..requests.models import Customer, DeviceCategory, DeviceModel, Ticket
from .models import Device, DeviceSwap, new_label_code

EDITOR_ROLES = (Role.DISPATCHER, Role.SUPERVISOR)
# Asset numbers are printed on labels and typed at the desk: letters, digits and a few separators.
ASSET_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}")
FAULT_WINDOWS = (30, 90, 365)
# The words a rental system's export or a person uses for each state, besides the values themselves.
STATE_WORDS = {
    DeviceState.IN_STOCK: ("in_stock", "in stock", "在库", "库存", "空闲"),
    DeviceState.RENTED: ("rented", "rented out", "在租", "出租", "已出租", "租出"),
    DeviceState.IN_REPAIR: ("in_repair", "in repair", "维修", "维修中", "送修"),
    DeviceState.RETIRED: ("retired", "已报废", "报废", "退役", "停用"),
}


def can_edit(user: User) -> bool:
    return user.has_role(*EDITOR_ROLES)


def require_editor(actor: User) -> None:
    if not can_edit(actor):
        raise Forbidden("not_allowed", _l("Only customer service and supervisors edit the device register."))


def _text(data: dict, key: str, limit: int, errors: dict) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, dict | list | bool):
            errors[key] = _l("This value must be text.")
            return ""
        value = str(value)
    if (problem := text_problem(value)) is not None:
        errors[key] = problem[1]
        return ""
    value = value.strip()
    if len(value) > limit:
        errors[key] = _l("At most %(count)d characters.", count=limit)
        return ""
    return value


def parse_state(value: str) -> DeviceState | None:
    wanted = value.strip().lower()
    for state, words in STATE_WORDS.items():
        if wanted in words or wanted == str(DEVICE_STATE_LABELS[state]).lower():
            return state
    return None


def find_customer(name: str) -> Customer | None:
    return db.session.execute(select(Customer).where(func.lower(Customer.name) == name.lower())
                              .order_by(Customer.id).limit(1)).scalar_one_or_none()


@dataclass
class DeviceValues:
    """A device record checked: what create or update writes."""

    asset_number: str
    serial_number: str | None
    device_model: DeviceModel | None  # None: a model new to the catalog, added (model_text, category) on saving
    state: DeviceState
    customer_name: str | None
    rented_since: datetime | None
    notes: str | None
    customer: Customer | None = field(default=None)
    model_text: str = ""
    category: DeviceCategory | None = None


def check_device(data: dict[str, Any], ctx: Context, *, device: Device | None = None,
                 taken_assets: set[str] | None = None, taken_serials: set[str] | None = None) -> DeviceValues:
    """Check a device record from the form, the API or a CSV row; raise ValidationError naming each bad field.
    `taken_*`: numbers already used earlier in the same import (not yet in the database)."""
    errors: dict[str, Any] = {}
    asset = _text(data, "asset_number", 40, errors)
    if not asset and "asset_number" not in errors:
        errors["asset_number"] = _l("Enter the asset number.")
    elif asset and not ASSET_NUMBER.fullmatch(asset):
        errors["asset_number"] = _l("An asset number holds letters, digits and . _ / - only.")
    elif asset and (device is None or device.asset_number != asset):
        if asset in (taken_assets or ()) or db.session.execute(
                select(Device.id).where(Device.asset_number == asset)).first():
            errors["asset_number"] = _l("Asset number %(number)s is already in the register.", number=asset)
    serial = _text(data, "serial_number", 100, errors) or None
    if serial and (device is None or device.serial_number != serial):
        if serial in (taken_serials or ()) or db.session.execute(
                select(Device.id).where(Device.serial_number == serial)).first():
            errors["serial_number"] = _l("Serial number %(serial)s is already in the register.", serial=serial)
    model_text = _text(data, "model", 200, errors)
    model = find_device_model(model_text) if model_text else None
    category_text = _text(data, "category", 60, errors)
    category = find_category(category_text) if category_text else None
    if category_text and category is None and "category" not in errors:
        errors["category"] = _l("Unknown category %(category)s: camera, audio mixer, video switcher, encoder, "
                                "light, capture card or other.", category=category_text)
    if not model_text and "model" not in errors:
        errors["model"] = _l("Enter the device model.")
    elif model is None and "model" not in errors and len(model_text.split()) < 2:
        errors["model"] = _l("Write a model new to the catalog as brand and model, e.g. Sony PXW-Z190.")
    state_text = _text(data, "state", 40, errors)
    state = parse_state(state_text) if state_text else (device.state if device else DeviceState.IN_STOCK)
    if state is None:
        errors["state"] = _l("Unknown state %(state)s: in stock, rented, in repair or retired.", state=state_text)
    customer_name = _text(data, "customer", 200, errors) or None
    if state == DeviceState.RENTED and not customer_name and "customer" not in errors:
        errors["customer"] = _l("A rented device names the customer it is rented to.")
    rented_since = None
    since_text = _text(data, "rented_since", 40, errors)
    if since_text:
        rented_since = parse_client_time(since_text, ctx.tz)
        if rented_since is None:
            errors["rented_since"] = _l("Not a date: write it as 2026-12-01.")
        elif rented_since > ctx.now + timedelta(days=1):
            errors["rented_since"] = _l("This date is in the future.")
    notes = _text(data, "notes", 2000, errors) or None
    if errors:
        raise ValidationError(errors)
    return DeviceValues(asset, serial, model, state, customer_name, rented_since, notes, model_text=model_text,
                        category=category)


def find_category(text: str) -> DeviceCategory | None:
    """A device category by its code or its Chinese or English name."""
    wanted = text.strip().lower()
    for category in db.session.execute(select(DeviceCategory)).scalars():
        if wanted in (category.code, category.name_zh.lower(), category.name_en.lower()):
            return category
    return None


def catalog_model(values: DeviceValues, ctx: Context) -> DeviceModel:
    """The catalog model of a device record: the one found, or a model new to the catalog added now (under the
    category given, else "other"): the register holds what the company rents, whether or not the support
    catalog knew it yet. Looked up again here: an import adds a new model once for all its rows."""
    model = values.device_model or find_device_model(values.model_text)
    if model is not None:
        return model
    brand, _, name = values.model_text.partition(" ")
    category = values.category or find_category("other")
    model = DeviceModel(brand=brand, model=name.strip(), category=category)
    db.session.add(model)
    db.session.flush()
    record_event("catalog.model_added", actor=ctx.actor, entity=model, via=ctx.via, remote_addr=ctx.remote_addr,
                 model=model.label, category=category.code if category else None)
    return model


def _apply(device: Device, values: DeviceValues, ctx: Context) -> None:
    device.asset_number = values.asset_number
    device.serial_number = values.serial_number
    device.device_model = catalog_model(values, ctx)
    if values.state in (DeviceState.IN_STOCK, DeviceState.RETIRED):
        device.customer, device.rented_since = None, None
    elif values.customer_name:
        customer = values.customer or find_customer(values.customer_name)
        if customer is None:
            customer = Customer(name=values.customer_name)
            db.session.add(customer)
        if device.customer is not customer or device.state != values.state:
            device.rented_since = values.rented_since or ctx.now
        device.customer = customer
    if values.rented_since is not None and values.state == DeviceState.RENTED:
        device.rented_since = values.rented_since
    device.state = values.state
    if values.notes is not None:
        device.notes = values.notes


def create_device(data: dict[str, Any], ctx: Context) -> Device:
    require_editor(ctx.actor)
    values = check_device(data, ctx)
    device = add_device(values, ctx)
    return device


def add_device(values: DeviceValues, ctx: Context, *, via: str | None = None) -> Device:
    device = Device(label_code=new_label_code(), label_issued_at=ctx.now, created_at=ctx.now)
    _apply(device, values, ctx)
    db.session.add(device)
    db.session.flush()
    record_event("device.created", actor=ctx.actor, entity=device, to_state=device.state.value, via=via or ctx.via,
                 remote_addr=ctx.remote_addr, asset_number=device.asset_number)
    return device


def update_device(device: Device, data: dict[str, Any], ctx: Context) -> Device:
    require_editor(ctx.actor)
    before = device.state.value
    values = check_device(data, ctx, device=device)
    _apply(device, values, ctx)
    record_event("device.updated", actor=ctx.actor, entity=device, from_state=before, to_state=device.state.value,
                 via=ctx.via, remote_addr=ctx.remote_addr, asset_number=device.asset_number,
                 customer=device.customer.name if device.customer else None)
    return device


def reissue_label(device: Device, ctx: Context) -> str:
    """A new code for the device's label: the old sticker then answers "no longer valid"."""
    require_editor(ctx.actor)
    device.label_code = new_label_code()
    device.label_issued_at = ctx.now
    record_event("device.label_reissued", actor=ctx.actor, entity=device, via=ctx.via, remote_addr=ctx.remote_addr,
                 asset_number=device.asset_number)
    return device.label_code


def get_device(asset_number: str) -> Device:
    device = db.session.execute(select(Device).where(Device.asset_number == asset_number)).scalar_one_or_none() \
        if ASSET_NUMBER.fullmatch(asset_number or "") else None
    if device is None:
        raise NotFound("no_such_device", _l("No device with this asset number."))
    return device


def device_by_label(code: str) -> Device | None:
    """The device whose current label carries `code`; None for a forged, re-issued or retired one (the customer
    is told the same for all three: the page never says whether a device exists)."""
    if not code or len(code) > 24 or not code.isascii() or not code.isalnum():
        return None
    device = db.session.execute(select(Device).where(Device.label_code == code)).scalar_one_or_none()
    if device is None or device.state == DeviceState.RETIRED:
        return None
    return device


def resolve_device(ref: str) -> Device | None:
    """The device a desk user means by an asset or serial number (exact, ignoring case and surrounding spaces)."""
    ref = (ref or "").strip()
    if not ref or len(ref) > 100 or text_problem(ref):
        return None
    return db.session.execute(select(Device).where(or_(func.lower(Device.asset_number) == ref.lower(),
                                                       func.lower(Device.serial_number) == ref.lower()))
                              .order_by(Device.id).limit(1)).scalar_one_or_none()


def search_devices(q: str, *, state: DeviceState | None = None, limit: int = 50, offset: int = 0
                   ) -> tuple[list[Device], int]:
    """Devices whose asset number, serial number, model or customer contains `q`."""
    query = select(Device).join(Device.device_model).outerjoin(Device.customer)
    q = (q or "").strip()[:100]
    if q and not text_problem(q):
        like = f"%{q.lower()}%"
        query = query.where(or_(func.lower(Device.asset_number).like(like),
                                func.lower(Device.serial_number).like(like),
                                func.lower(DeviceModel.brand + " " + DeviceModel.model).like(like),
                                func.lower(Customer.name).like(like)))
    if state is not None:
        query = query.where(Device.state == state)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.options(selectinload(Device.device_model), selectinload(Device.customer))
                              .order_by(Device.asset_number).limit(limit).offset(offset)).scalars().all()
    return list(rows), total


def report_url(device: Device, site: Site) -> str:
    return site.link(f"/d/{device.label_code}")


# --- history ------------------------------------------------------------------------------------------------


@dataclass
class SwapEntry:
    """A swap the device was part of, seen from it: "out" (taken away as the faulty unit) or "in" (left as the
    spare), with the other unit."""
    direction: str
    other: Device
    swap: DeviceSwap


@dataclass
class DeviceHistory:
    requests: list[Ticket]
    faults: dict[int, int]  # days -> requests reported in that many days (cancelled ones are not faults)
    total: int
    device_id: int = 0

    def swaps(self, ticket: Ticket) -> list[SwapEntry]:
        """The request's swaps this device was part of (a request has one at most)."""
        entries = []
        for swap in ticket.device_swaps:
            if swap.out_device_id == self.device_id:
                entries.append(SwapEntry("out", swap.in_device, swap))
            elif swap.in_device_id == self.device_id:
                entries.append(SwapEntry("in", swap.out_device, swap))
        return entries


def fault_counts(device: Device, now: datetime) -> dict[int, int]:
    since = {days: now - timedelta(days=days) for days in FAULT_WINDOWS}
    columns = [func.count().filter(Ticket.reported_at >= since[days]) for days in FAULT_WINDOWS]
    row = db.session.execute(select(*columns).where(Ticket.device_id == device.id,
                                                    Ticket.reported_at >= since[max(FAULT_WINDOWS)],
                                                    Ticket.status != TicketStatus.CANCELLED)).one()
    return dict(zip(FAULT_WINDOWS, row, strict=True))


def device_history(device: Device, now: datetime, *, limit: int = 200) -> DeviceHistory:
    """Every request about the device, and every one in which it was left as another unit's spare (newest first,
    at most `limit`), with its visits, service order and swaps loaded, and the fault counts (of the requests
    about it only: a spare was not faulty)."""
    about = or_(Ticket.device_id == device.id,
                Ticket.id.in_(select(DeviceSwap.ticket_id).where(DeviceSwap.in_device_id == device.id)))
    swaps = selectinload(Ticket.device_swaps)
    requests = db.session.execute(
        select(Ticket).where(about)
        .options(selectinload(Ticket.visits), selectinload(Ticket.service_order), selectinload(Ticket.assignee),
                 swaps.selectinload(DeviceSwap.out_device), swaps.selectinload(DeviceSwap.in_device))
        .order_by(Ticket.reported_at.desc(), Ticket.id.desc()).limit(limit)).scalars().all()
    total = db.session.execute(select(func.count()).select_from(Ticket).where(about)).scalar_one()
    return DeviceHistory(list(requests), fault_counts(device, now), total, device.id)


def device_json(device: Device, site: Site) -> dict[str, Any]:
    return {
        "asset_number": device.asset_number,
        "serial_number": device.serial_number,
        "model": device.device_model.label,
        "category": device.device_model.category.code,
        "state": device.state.value,
        "customer": device.customer.name if device.customer else None,
        "rented_since": device.rented_since.isoformat() if device.rented_since else None,
        "report_url": report_url(device, site),
    }


def history_json(history: DeviceHistory) -> list[dict[str, Any]]:
    return [{"number": t.number, "status": t.status.value, "urgency": t.urgency.value, "channel": t.channel.value,
             "reported_at": t.reported_at.isoformat(), "problem": t.problem[:500],
             "visits": [{"scheduled_at": v.scheduled_at.isoformat() if v.scheduled_at else None,
                         "arrived_at": v.arrived_at.isoformat() if v.arrived_at else None} for v in t.visits],
             "service_order": t.service_order is not None,
             "swaps": [{"direction": entry.direction, "other_asset_number": entry.other.asset_number,
                        "swapped_at": entry.swap.swapped_at.isoformat()} for entry in history.swaps(t)]}
            for t in history.requests]
