"""The one way a view runs a domain action from a form: in a savepoint of the request's transaction (see
domain/core/uow.py), so that a refused action leaves nothing half-written, and with the refusal turned into
form errors in the user's language."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from flask import flash

from domain.core import uow
from domain.core.errors import DomainError, ValidationError

from .helpers import apply_field_errors

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    """What a form action gave: its value, or the refusal (`error`, with `fields` for a per-field one)."""

    value: T | None = None
    error: DomainError | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def form_action(action: Callable[[], T], form=None, *, error_field: str | None = None,
                flash_errors: bool = True) -> Outcome[T]:
    """Run `action` (a domain call, no arguments). On a DomainError its writes are undone; a ValidationError's
    messages go on the form's fields (those matching no field are flashed); another refusal goes on the form's
    `error_field` if given, else is flashed. With `flash_errors=False` nothing is shown: the view shows
    `outcome.fields` / `outcome.error` itself."""
    try:
        return Outcome(value=uow.attempt(action))
    except DomainError as error:
        fields = dict(error.fields) if isinstance(error, ValidationError) else {}
        if flash_errors:
            if fields:
                unplaced = apply_field_errors(form, fields) if form is not None else [str(m) for m in fields.values()]
            elif error_field is not None and form is not None:
                unplaced = apply_field_errors(form, {error_field: error.message})
            else:
                unplaced = [str(error.message)]
            for message in unplaced:
                flash(message, "error")
        return Outcome(error=error, fields=fields)
