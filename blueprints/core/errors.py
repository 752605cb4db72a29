"""Error pages for people and JSON errors for the API: never a bare 500 or a login redirect for the API."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from domain.core.errors import DomainError


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def json_error(status: int, code: str, message: str, **extra):
    response = jsonify(error={"code": code, "message": str(message), **extra})
    response.status_code = status
    return response


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: ("bad_request", _("The request could not be understood.")),
        401: ("unauthorized", _("Please sign in.")),
        403: ("forbidden", _("You do not have permission to open this page.")),
        404: ("not_found", _("This page does not exist.")),
        405: ("method_not_allowed", _("This action is not allowed here.")),
        413: ("too_large", _("The upload is too large.")),
        429: ("rate_limited", _("Too many attempts. Please wait a minute and try again.")),
        500: ("server_error", _("Something went wrong on our side. Nothing you saved before was lost.")),
    }


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        message = _("The form expired or was sent from elsewhere. Reload the page and try again.")
        if request.path.startswith("/api/"):
            # DESIGN.md guarantee 4: an API call without a valid session (or with a token from an ended one) is a
            # 401 JSON; the phone keeps its outbox, refreshes its session and token, or asks to sign in again.
            from flask_login import current_user

            code = "csrf_failed" if current_user.is_authenticated else "unauthorized"
            return json_error(401, code, message if code == "csrf_failed" else _("Please sign in."))
        if wants_json():
            return json_error(400, "csrf_failed", message)
        return render_template("errors/error.html", code=400, title=message), 400

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        if wants_json():
            return json_error(error.status, error.code, error.message, **error.details)
        return render_template("errors/error.html", code=error.status, title=error.message), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code, message = _messages().get(error.code, ("error", error.description))
        if wants_json():
            response = json_error(error.code, code, message)
        else:
            response = app.make_response((render_template("errors/error.html", code=error.code, title=message),
                                          error.code))
        # The exception's own headers: a 405 says which methods the address takes (Allow), as HTTP requires.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):  # pragma: no cover - handled above
            return http_error(error)
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        # The request's transaction was already rolled back by its owner (blueprints/core/transaction.py).
        code, message = _messages()[500]
        if wants_json():
            return json_error(500, code, message)
        return render_template("errors/error.html", code=500, title=message), 500
