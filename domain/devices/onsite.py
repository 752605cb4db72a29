"""The device on a visit (issue 22 item 6): the unit in front of the technician checked against the request's (a
scanned or typed code: the label's URL /d/<code>, an asset or a serial number), a faulty unit swapped for a spare
from stock (the register follows: the unit out goes to "in repair", the spare is rented to the customer), and the
spare parts used, from a small catalog declared here once (the phone gets it with its rules)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from ..core.audit import record_event
from ..core.context import Context, require_assignee
from ..core.db import db
from ..core.enums import DeviceState
from ..core.errors import DomainError
from ..core.labels import DEVICE_STATE_LABELS
from ..requests.models import Ticket
from ..requests.serialise import iso
from .models import Device, DeviceCheck, DeviceSwap, PartUsed
from .register import device_by_label, resolve_device

CODE_MAX = 200  # a label URL, an asset number (40) or a serial number (100)
PARTS_MAX = 20
COUNT_MAX = 99


@dataclass(frozen=True)
class Part:
    code: str
    zh: str
    en: str


# The spares a technician carries, in the order the phone lists them.
PARTS = (
    Part("cable", "连接线", "Connecting cable"),
    Part("power_adapter", "电源适配器", "Power adapter"),
    Part("hdmi_cable", "HDMI 线", "HDMI cable"),
    Part("sdi_cable", "SDI 线", "SDI cable"),
    Part("xlr_cable", "XLR 音频线", "XLR audio cable"),
    Part("network_cable", "网线", "Network cable"),
    Part("battery", "电池", "Battery"),
    Part("memory_card", "存储卡", "Memory card"),
    Part("fuse", "保险丝", "Fuse"),
    Part("fan", "散热风扇", "Cooling fan"),
)
PART_CODES = tuple(part.code for part in PARTS)
PART_NAMES = {part.code: part for part in PARTS}

NO_DEVICE = _l("This request names no device of the register: nothing to swap.")
REASON_REQUIRED = _l("This is not the request's device: say why (e.g. the customer moved the unit).")


def parts_rules() -> dict:
    """What the phone is given: the catalog (both names), the count's bounds, the code's length."""
    return {"parts": [{"code": p.code, "zh": p.zh, "en": p.en} for p in PARTS], "count_max": COUNT_MAX,
            "parts_max": PARTS_MAX, "code_max": CODE_MAX}


def label_code_of(code: str) -> str | None:
    """The label code of a scanned label URL (…/d/<code>, a query or fragment after it ignored), else None."""
    if "/d/" not in code:
        return None
    tail = code.rsplit("/d/", 1)[1]
    return tail.split("?", 1)[0].split("#", 1)[0].strip("/") or None


def scanned_device(code: str) -> Device | None:
    """The device a scanned or typed code names: a label URL, else an asset or a serial number."""
    code = (code or "").strip()
    label = label_code_of(code)
    if label is not None:
        return device_by_label(label)
    return resolve_device(code)


def _locked(device: Device) -> Device:
    """The device row again, locked until the transaction ends (two phones taking the same spare: one wins)."""
    return db.session.execute(select(Device).where(Device.id == device.id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def check_device(ticket: Ticket, ctx: Context, *, code: str, reason: str, at: datetime) -> DeviceCheck:
    """Record the unit checked; a code that is not the request's device is recorded only with the reason."""
    require_assignee(ctx, ticket)
    code = code.strip()
    if not code:
        raise DomainError("code_missing", _l("Scan the device's label or type its asset or serial number."))
    device = scanned_device(code)
    matched = device is not None and ticket.device_id is not None and device.id == ticket.device_id
    reason = reason.strip()
    if not matched and not reason:
        raise DomainError("reason_required", REASON_REQUIRED)
    check = DeviceCheck(ticket_id=ticket.id, code=code[:CODE_MAX], device=device, matched=matched,
                        reason=None if matched else reason[:1000], checked_at=at, checked_by_id=ctx.actor.id)
    db.session.add(check)
    return check


def swap_device(ticket: Ticket, ctx: Context, *, spare_code: str, at: datetime) -> DeviceSwap:
    """The request's device out (to "in repair"), the spare in (rented to the request's customer from `at`)."""
    require_assignee(ctx, ticket)
    if ticket.device_id is None:
        raise DomainError("no_device", NO_DEVICE)
    if db.session.execute(select(DeviceSwap.id).where(DeviceSwap.ticket_id == ticket.id)).first():
        raise DomainError("already_done", _l("A swap is already recorded on this request."))
    spare = scanned_device(spare_code)
    if spare is None:
        raise DomainError("spare_unknown", _l("No device of the register has this code: scan the spare's label "
                                              "or type its asset or serial number."))
    if spare.id == ticket.device_id:
        raise DomainError("same_device", _l("This is the faulty unit itself: scan the spare you leave."))
    out, spare = _locked(ticket.device), _locked(spare)
    if spare.state != DeviceState.IN_STOCK:
        raise DomainError("spare_not_in_stock", _l(
            "Device %(asset)s is not in stock (%(state)s): the register does not let it be left with the customer.",
            asset=spare.asset_number, state=DEVICE_STATE_LABELS[spare.state]))
    customer = ticket.customer
    out_before = out.state.value
    out.state, out.customer, out.rented_since = DeviceState.IN_REPAIR, None, None
    spare.state, spare.customer, spare.rented_since = DeviceState.RENTED, customer, at
    swap = DeviceSwap(ticket_id=ticket.id, out_device=out, in_device=spare, swapped_at=at,
                      swapped_by_id=ctx.actor.id)
    db.session.add(swap)
    db.session.flush()
    for device, before in ((out, out_before), (spare, DeviceState.IN_STOCK.value)):
        record_event("device.swapped", actor=ctx.actor, ticket=ticket, entity=device, from_state=before,
                     to_state=device.state.value, via=ctx.via, remote_addr=ctx.remote_addr,
                     out_asset=out.asset_number, in_asset=spare.asset_number)
    return swap


def record_parts(ticket: Ticket, ctx: Context, *, counts: dict[str, int], at: datetime) -> None:
    """The parts used on the request: this list replaces the one recorded before (an empty list clears it)."""
    require_assignee(ctx, ticket)
    db.session.execute(delete(PartUsed).where(PartUsed.ticket_id == ticket.id))
    for code, count in counts.items():
        db.session.add(PartUsed(ticket_id=ticket.id, part=code, count=count, recorded_at=at))


# --- what the order and the device page show ---------------------------------------------------------------


def ticket_swap(ticket: Ticket) -> DeviceSwap | None:
    return db.session.execute(select(DeviceSwap).where(DeviceSwap.ticket_id == ticket.id)).scalar_one_or_none()


def ticket_parts(ticket: Ticket) -> list[tuple[Part, int]]:
    rows = db.session.execute(select(PartUsed).where(PartUsed.ticket_id == ticket.id)).scalars().all()
    order = {code: i for i, code in enumerate(PART_CODES)}
    return [(PART_NAMES[row.part], row.count) for row in sorted(rows, key=lambda r: order.get(r.part, 99))
            if row.part in PART_NAMES]


def last_check(ticket: Ticket) -> DeviceCheck | None:
    return db.session.execute(select(DeviceCheck).where(DeviceCheck.ticket_id == ticket.id)
                              .order_by(DeviceCheck.checked_at.desc(), DeviceCheck.id.desc()).limit(1)
                              ).scalar_one_or_none()


def device_swaps(device: Device) -> list[DeviceSwap]:
    """Every swap the device was part of (out or in), newest first: its page's history."""
    return list(db.session.execute(
        select(DeviceSwap).where((DeviceSwap.out_device_id == device.id) | (DeviceSwap.in_device_id == device.id))
        .order_by(DeviceSwap.swapped_at.desc())).scalars())


def phone_view(ticket: Ticket) -> dict:
    """What the jobs feed shows of the device acts (the relationships loaded with the feed): the last check, the
    swap (its spare by asset number) and the parts used, in the catalog's order."""
    last = ticket.device_checks[-1] if ticket.device_checks else None
    swap = ticket.device_swaps[0] if ticket.device_swaps else None
    order = {code: i for i, code in enumerate(PART_CODES)}
    return {
        "check": None if last is None else {"code": last.code, "matched": last.matched,
                                            "at": iso(last.checked_at)},
        "swap": None if swap is None else {"spare": swap.in_device.asset_number, "at": iso(swap.swapped_at)},
        "parts": [{"part": row.part, "count": row.count}
                  for row in sorted(ticket.used_parts, key=lambda r: order.get(r.part, len(order)))],
    }
