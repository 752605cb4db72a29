"""Input hygiene in one place: what may reach the database or a renderer at all.

Forms (through blueprints.core.forms), the JSON APIs (through the app's JSON provider) and the sync applier all
use these checks, so that a NUL byte, a lone surrogate, a number beyond the database's integer, a time in the
year 9999 or a body nested ten thousand deep gets a clear refusal with a code instead of a 500 deep inside a
driver or a renderer.
"""
from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from .errors import DomainError

# The database's integer (PostgreSQL INTEGER, the primary keys' type).
DB_INT_MIN, DB_INT_MAX = -(2**31), 2**31 - 1
# Times the business can have: a time outside this window is a broken clock or an attack, never a real visit, and
# years 1 and 9999 overflow as soon as a time zone is applied to them.
TIME_MIN = datetime(2000, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2100, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = _l("This date must be between the years 2000 and 2099.")  # outside TIME_MIN..TIME_MAX
# The deepest JSON any client of this app sends is about 5 levels (a signature's strokes); 32 leaves room.
MAX_JSON_DEPTH = 32
# Only ASCII digits: str.isdigit() and int() accept "²", "١٢" and other digits from elsewhere in Unicode.
_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class InputRejected(DomainError):
    """A value that can never be stored or shown (status 400, with a stable code)."""


def text_problem(value: str) -> tuple[str, Any] | None:
    """Why a text cannot be stored: (code, message), or None when it is fine."""
    if "\x00" in value:
        return "nul_character", _l("The text contains a NUL character, which cannot be stored.")
    if _LONE_SURROGATE.search(value):
        return "bad_unicode", _l("The text contains an invalid Unicode character (a lone surrogate).")
    return None


def check_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise InputRejected(*problem)
    return value


def parse_int(value: Any, *, minimum: int = DB_INT_MIN, maximum: int = DB_INT_MAX) -> int | None:
    """A whole number written with ASCII digits (or a JSON integer) within the database's range; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if minimum <= number <= maximum else None


def time_in_range(value: datetime | date | None) -> bool:
    """A time (aware) or a date the business can have."""
    if value is None:
        return True
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return TIME_MIN.replace(tzinfo=None) <= value < TIME_MAX.replace(tzinfo=None)
        try:
            return TIME_MIN <= value < TIME_MAX
        except OverflowError:  # pragma: no cover - comparing aware times converts them to UTC
            return False
    return TIME_MIN.date() <= value < TIME_MAX.date()


def parse_aware_time(value: Any) -> datetime | None:
    """An ISO 8601 time with an offset, within the window; else None (never OverflowError on year 1 or 9999)."""
    if not isinstance(value, str) or text_problem(value) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is None or not time_in_range(parsed):
            return None
        parsed.astimezone(UTC)  # the offset of year 1 or 9999 can leave the calendar
    except (ValueError, OverflowError):
        return None
    return parsed


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, Any] | None:
    """Why a parsed JSON value cannot be accepted: too deep, a non-finite number, a text (or key) that cannot be
    stored. Walked without recursion, so a deep value cannot exhaust the stack here."""
    if plain_canonical_json(value, max_depth) is not None:  # the common case, without a walk in Python
        return None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "non_finite_number", _l("NaN and Infinity are not numbers JSON allows.")
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return "too_deep", _l("The JSON is nested more than %(n)d levels deep.", n=max_depth)
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
    return None


# Stable serialisation: sorted keys, no insignificant whitespace, UTF-8 text as is (what is hashed and signed: a
# frozen order's content, a sync op's stored body).
_CANONICAL = {"sort_keys": True, "ensure_ascii": False, "separators": (",", ":")}


def canonical_json(value: Any) -> str:
    return json.dumps(value, **_CANONICAL)


def plain_canonical_json(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """`canonical_json(value)` when the value is plainly acceptable (`json_problem` would say None), from the one
    C-speed serialisation that checks it: every number finite (allow_nan), no NUL (serialised as the escape
    \\u0000), no lone surrogate (kept raw without ensure_ascii), fewer brackets in all than the depth allowed.
    None is not a refusal: `json_problem` decides (a text may hold the six characters \\u0000, or brackets)."""
    if not isinstance(value, dict | list):
        return None
    try:
        text = json.dumps(value, **_CANONICAL, allow_nan=False, check_circular=False)
    except (ValueError, TypeError, RecursionError):
        return None
    if "\\u0000" in text or text.count("{") + text.count("[") > max_depth or _LONE_SURROGATE.search(text):
        return None
    return text


class _NonFinite(Exception):
    pass


def _refuse_constant(name: str):
    raise _NonFinite(name)


def loads_json(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON: NaN and Infinity refused (Python's json accepts them), depth limited, texts storable.
    Raises InputRejected with a code; never RecursionError."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except _NonFinite:
        raise InputRejected("non_finite_number", _l("NaN and Infinity are not numbers JSON allows.")) from None
    except RecursionError:
        raise InputRejected("too_deep", _l("The JSON is nested more than %(n)d levels deep.", n=max_depth)) from None
    except (ValueError, UnicodeDecodeError):
        raise InputRejected("bad_json", _l("The body is not valid JSON.")) from None
    problem = json_problem(value, max_depth)
    if problem is not None:
        raise InputRejected(*problem)
    return value


def storable_json(value: Any) -> str:
    """A JSON text of anything parsed from JSON that the database can store: NUL and lone surrogates as \\u
    escapes (PostgreSQL refuses NUL in text; UTF-8 cannot encode a lone surrogate), nesting beyond reach cut."""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    except (RecursionError, ValueError):
        return json.dumps(_pruned(value, MAX_JSON_DEPTH), sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def _pruned(value: Any, depth: int) -> Any:
    if depth <= 0 and isinstance(value, dict | list):
        return "\u2026(nested too deep)"
    if isinstance(value, dict):
        return {str(k): _pruned(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_pruned(v, depth - 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def storable_text(value: Any, limit: int) -> str:
    """Any value as a short text that can be stored (for a rejected op's kind, ticket or time)."""
    if isinstance(value, dict | list):
        text = type(value).__name__
    else:
        text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")[:limit]
