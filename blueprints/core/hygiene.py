"""Request hygiene for every route: strict JSON bodies, and no NUL byte from a path or a query string ever reaching
a query. The checks themselves live in domain.core.validation (forms use them through blueprints.core.forms)."""
from __future__ import annotations

from typing import Any

from flask import Flask, Request, abort, request
from flask_babel import lazy_gettext as _l

from domain.core import validation
from domain.core.validation import InputRejected


class JSONRejected(ValueError):
    """Flask turns a ValueError from the JSON provider into a 400; this one keeps the reason's code."""

    def __init__(self, code: str, message):
        super().__init__(str(message))
        self.code, self.message = code, message


class StrictRequestJSON:
    """What request.get_json() parses with: NaN and Infinity refused, depth limited, texts storable. Only request
    bodies: the app's own JSON (sessions, responses) keeps Flask's provider."""

    @staticmethod
    def loads(s: str | bytes, **kwargs: Any) -> Any:
        try:
            return validation.loads_json(s)
        except InputRejected as error:
            raise JSONRejected(error.code, error.message) from None


class AppRequest(Request):
    @property
    def json_module(self):  # type: ignore[override]
        return StrictRequestJSON

    @json_module.setter
    def json_module(self, value) -> None:
        """Flask sets the app's JSON provider on each request; request bodies keep the strict parser."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if isinstance(e, JSONRejected):
            raise InputRejected(e.code, e.message)
        raise InputRejected("bad_json", _l("The body must be a JSON object."))


def refuse_unstorable_path_and_query() -> None:
    """A NUL in a path segment, or an id beyond the database's integer, names nothing (404); a NUL in a query
    string is a bad request (400)."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and validation.text_problem(value):
            abort(404)
        if isinstance(value, int) and validation.parse_int(value) is None:  # beyond the database's integer
            abort(404)
    for key, value in request.args.items(multi=True):
        problem = validation.text_problem(key) or validation.text_problem(value)
        if problem is not None:
            raise InputRejected(*problem)


def query_int(name: str, default: int | None = None, *, minimum: int = validation.DB_INT_MIN) -> int | None:
    """An integer from the query string; anything else (text, "²", 20 digits) is ignored."""
    value = validation.parse_int(request.args.get(name, ""), minimum=minimum)
    return default if value is None else value


def form_text(name: str, default: str = "") -> str:
    """A text from a form read without WTForms: refused with a clear message when it cannot be stored."""
    return validation.check_text(request.form.get(name, default))


def register(app: Flask) -> None:
    app.request_class = AppRequest
    app.before_request(refuse_unstorable_path_and_query)
