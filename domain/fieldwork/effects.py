"""What an op does to the phone's copy of its job, as data: each op kind declares its local effects (ops.py) with
these builders, the phone receives them in the shell page (`phone_declaration`) and static/field/effects.js
applies them the moment the op is queued, so the screen shows the act before any network. When the op has synced,
the jobs feed's copy replaces the local one: the effects are written to leave the job as the feed will show it
(tests/test_flow_agreement.py compares the two after every kind).

An effect is one JSON object:
- `{"set": path, "to": value}`: the field at `path` ("status", "visit.arrived_at"; the objects on the way are
  created) takes the value;
- `{"upsert": path, "key": field, "item": {field: value}}`: in the list at `path`, the item whose `key` equals the
  new item's is replaced, else the new item is appended;
- `{"append": path, "item": {field: value}}`;
- `{"each": path, "set": field, "to": value, "where_in": value}`: every item of the list at `path` (whose `id` is
  in the list `where_in`, when given) takes the value in `field`.
A value is `{"value": literal}`, `{"data": field, "default": literal}` (the op's payload; the default when absent
or null), `{"op": "at" | "op_id"}` (the op's corrected time, its id) or `{"op": "at", "plus": name}` (the op's time
plus the policy's minutes of that name, sent beside the effects: a clock the act starts).
Any effect may carry `"if": {"data": {field: [values]}, "facts": {fact: [true|false]}, "job": {path: [values]}}`:
it applies only when every condition holds (a payload field, null when absent, is one of the values; a fact of the
flow after this op, read as true or false; a field of the job before the effect).
"""
from __future__ import annotations

from enum import Enum
from typing import Any

OP_TIME = {"op": "at"}
OP_ID = {"op": "op_id"}


def op_time_plus(policy_minutes: str) -> dict:
    """The op's time plus the policy's minutes (`Policy.<policy_minutes>`): a deadline the act starts."""
    return {"op": "at", "plus": policy_minutes}


def value(literal: Any) -> dict:
    return {"value": literal.value if isinstance(literal, Enum) else literal}


def data(field: str, default: Any = None) -> dict:
    return {"data": field, "default": default.value if isinstance(default, Enum) else default}


def _when(effect: dict, when: dict | None) -> dict:
    return {**effect, "if": when} if when else effect


def set_to(path: str, to: dict, when: dict | None = None) -> dict:
    return _when({"set": path, "to": to}, when)


def copy_fields(prefix: str, *fields: str, defaults: dict | None = None) -> tuple[dict, ...]:
    """Payload fields copied as they are ("visit.", "address" -> visit.address = data.address)."""
    return tuple(set_to(f"{prefix}{name}", data(name, (defaults or {}).get(name))) for name in fields)


def upsert(path: str, key: str, item: dict, when: dict | None = None) -> dict:
    return _when({"upsert": path, "key": key, "item": item}, when)


def append(path: str, item: dict, when: dict | None = None) -> dict:
    return _when({"append": path, "item": item}, when)


def each(path: str, field: str, to: dict, where_in: dict | None = None) -> dict:
    effect = {"each": path, "set": field, "to": to}
    return {**effect, "where_in": where_in} if where_in else effect
