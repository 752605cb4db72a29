"""The register in and out as CSV: the rental system's spreadsheet imported (GBK or UTF-8 with a BOM, as Excel
saves it in China; columns mapped by the user; every bad row reported with its line; nothing imported unless every
row is good), and the register exported in a form the import reads back."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..core.context import Context
from ..core.db import db
from ..core.errors import DomainError, ValidationError
from ..core.labels import DEVICE_STATE_LABELS
from ..core.types import in_zone
from ..core.validation import text_problem
from .models import Device
from .register import add_device, check_device

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
# The register's fields, in the export's order; the import needs the first and the model.
FIELDS = ("asset_number", "serial_number", "model", "category", "state", "customer", "rented_since", "notes")
REQUIRED = ("asset_number", "model")
FIELD_LABELS = {
    "asset_number": _l("Asset number"),
    "serial_number": _l("Serial number"),
    "model": _l("Model"),
    "category": _l("Device category"),
    "state": _l("State"),
    "customer": _l("Rented to (customer)"),
    "rented_since": _l("Rented since"),
    "notes": _l("Notes"),
}
# Column headings a rental system's export (or this app's own export, in either language) uses for each field.
HEADINGS = {
    "asset_number": ("asset_number", "asset number", "asset", "资产编号", "资产号", "设备编号", "固定资产编号"),
    "serial_number": ("serial_number", "serial number", "serial", "sn", "序列号", "sn码", "机身号"),
    "model": ("model", "device model", "型号", "设备型号", "品牌型号"),
    "category": ("category", "device category", "type", "类别", "设备类别", "设备类型", "品类"),
    "state": ("state", "status", "状态", "设备状态"),
    "customer": ("customer", "rented to", "rented to (customer)", "客户", "承租客户", "承租方", "租用客户", "客户名称"),
    "rented_since": ("rented_since", "rented since", "出租日期", "租出日期", "起租日期"),
    "notes": ("notes", "note", "备注"),
}


class BadFile(DomainError):
    """The whole file is refused (unreadable, no usable header, too large): nothing was imported."""


@dataclass
class RowError:
    line: int
    field: str
    message: str


@dataclass
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line in the file, cells)


@dataclass
class ImportResult:
    created: list[Device] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def decode(raw: bytes) -> str:
    """UTF-8 (with or without the BOM Excel writes) or GB18030, the superset of GBK that Excel's "CSV" saves in a
    Chinese Windows."""
    if len(raw) > MAX_BYTES:
        raise BadFile("file_too_large", _l("The file is larger than %(mb)d MB.", mb=MAX_BYTES // 2**20))
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise BadFile("file_encoding", _l("The file is not a readable CSV text file (UTF-8 or GBK)."))


def read_table(raw: bytes) -> Table:
    """The file's header and rows; a bad header refuses the whole file."""
    text = decode(raw)
    if not text.strip():
        raise BadFile("file_empty", _l("The file is empty."))
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [cell.strip() for cell in next(reader)]
        rows: list[tuple[int, list[str]]] = []
        line = reader.line_num
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((line + 1, cells))
            line = reader.line_num
            if len(rows) > MAX_ROWS:
                raise BadFile("too_many_rows", _l("The file has more than %(count)d rows.", count=MAX_ROWS))
    except csv.Error as error:
        raise BadFile("file_unreadable", _l("The file is not valid CSV: %(error)s", error=str(error)[:200])) \
            from None
    if not any(header):
        raise BadFile("bad_header", _l("The first line must name the columns."))
    named = [h for h in header if h]
    if len(set(named)) != len(named) or any(text_problem(h) or len(h) > 100 for h in header):
        raise BadFile("bad_header", _l("The column names on the first line must be different from each other."))
    return Table(header, rows)


def guess_mapping(header: list[str]) -> dict[str, int]:
    """Which column holds each field, by the headings rental systems and this app's export use."""
    mapping: dict[str, int] = {}
    for index, heading in enumerate(header):
        wanted = heading.strip().lower()
        for name, known in HEADINGS.items():
            if name not in mapping and (wanted in known or wanted == str(FIELD_LABELS[name]).lower()):
                mapping[name] = index
    return mapping


def check_mapping(mapping: dict[str, Any], header: list[str]) -> dict[str, int]:
    """A mapping from the screen (field -> column number, or "" for none): every required field mapped, each
    column used once."""
    checked: dict[str, int] = {}
    for name in FIELDS:
        value = mapping.get(name)
        if value in (None, ""):
            continue
        try:
            index = int(value)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < len(header):
            raise BadFile("bad_mapping", _l("Choose a column of the file for %(field)s.", field=FIELD_LABELS[name]))
        checked[name] = index
    missing = [str(FIELD_LABELS[name]) for name in REQUIRED if name not in checked]
    if missing:
        raise BadFile("bad_header", _l("The file has no column for: %(fields)s. Nothing was imported.",
                                       fields=", ".join(missing)))
    if len(set(checked.values())) != len(checked):
        raise BadFile("bad_mapping", _l("Each column can be used for one field only."))
    return checked


def import_devices(raw: bytes, ctx: Context, mapping: dict[str, Any] | None = None) -> ImportResult:
    """Check every row, then add them all, or none when any row is bad (the result then lists each bad row with
    its line and reason). The caller owns the transaction."""
    table = read_table(raw)
    columns = check_mapping(mapping if mapping is not None else guess_mapping(table.header), table.header)
    result = ImportResult()
    checked = []
    taken_assets: set[str] = set()
    taken_serials: set[str] = set()
    for line, cells in table.rows:
        data = {name: (cells[index] if index < len(cells) else "") for name, index in columns.items()}
        try:
            values = check_device(data, ctx, taken_assets=taken_assets, taken_serials=taken_serials)
        except ValidationError as error:
            result.errors += [RowError(line, name, str(message)) for name, message in error.fields.items()]
            continue
        taken_assets.add(values.asset_number)
        if values.serial_number:
            taken_serials.add(values.serial_number)
        checked.append(values)
    if not table.rows:
        result.errors.append(RowError(2, "", str(_l("The file has no rows under its header."))))
    if result.errors:
        return result
    result.created = [add_device(values, ctx, via="import") for values in checked]
    return result


def export_csv(tz: ZoneInfo, devices: list[Device] | None = None) -> bytes:
    """The register as CSV, UTF-8 with a BOM (Excel then shows Chinese correctly), headed in the user's
    language, dates in the company's time zone (as the import reads them); the import maps these headings by
    itself."""
    if devices is None:
        devices = db.session.execute(select(Device).options(selectinload(Device.device_model),
                                                            selectinload(Device.customer))
                                     .order_by(Device.asset_number)).scalars().all()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([str(FIELD_LABELS[name]) for name in FIELDS])
    for device in devices:
        writer.writerow([_safe_cell(device.asset_number), _safe_cell(device.serial_number or ""),
                         _safe_cell(device.device_model.label), device.device_model.category.code,
                         str(DEVICE_STATE_LABELS[device.state]),
                         _safe_cell(device.customer.name if device.customer else ""),
                         in_zone(device.rented_since, tz).date().isoformat() if device.rented_since else "",
                         _safe_cell(device.notes or "")])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to Excel: a customer's name must never run as one.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
