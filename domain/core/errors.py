"""Errors the domain raises: a stable code for machines and a translatable message for people."""
from __future__ import annotations


class DomainError(Exception):
    """A refused action. `code` is stable (API clients match on it); `message` is for the user."""

    status = 400

    def __init__(self, code: str, message: str, **details):
        super().__init__(str(message))
        self.code = code
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


class ValidationError(DomainError):
    """Several fields wrong at once: `fields` maps each field name to its message."""

    def __init__(self, fields: dict):
        first = next(iter(fields.values()))
        super().__init__("invalid", first, fields={k: str(v) for k, v in fields.items()})
        self.fields = fields
