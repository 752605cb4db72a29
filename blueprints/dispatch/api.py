"""The intake and assignment API for other systems (website contact form, phone system) and scripts."""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from domain.alerts.customer import customer_copy_link
from domain.core import uow
from domain.core.enums import Role
from domain.core.errors import DomainError, ValidationError
from domain.customer.tracking import tracking_url
from domain.requests import access, assignment, intake
from domain.requests.serialise import request_summary
from extensions import csrf

from ..access import ALL_ROLES, csrf_unless_api_token, roles_required
from ..core.errors import json_error
from ..core.helpers import current_site, domain_context
from . import api_bp


def _json_body() -> dict:
    data = request.get_json()  # not silent: NaN, a NUL or nesting too deep is refused with its own code
    if not isinstance(data, dict):
        raise DomainError("bad_json", _("The body must be a JSON object."))
    return data


def _validation_response(error: ValidationError):
    return json_error(422, "invalid", error.message, fields={k: str(v) for k, v in error.fields.items()})


def request_json(ticket, now) -> dict:
    summary = request_summary(ticket, now)
    customer, device = summary["customer"], summary["device"]
    return {
        **summary,
        # The intake body's own field names, so that what was posted reads back under the same names.
        "customer_name": customer["name"], "contact_name": customer["contact"], "contact_phone": customer["phone"],
        "address": customer["address"], "device_model": device["model"], "device_category": device["category"],
        "serial_number": device["serial"],
        "assignee": ticket.assignee.username if ticket.assignee else None,
        "expert": ticket.expert.username if ticket.expert else None,
        "version": ticket.version,
        # The customer's tracking page: a message to the customer (SMS, e-mail) carries this link.
        "tracking_url": tracking_url(ticket, current_site()),
        # The customer's download link (/o/..., valid SHARE_LINK_DAYS from now) once the order is signed.
        "customer_copy_url": customer_copy_link(ticket.service_order, current_site())
        if ticket.service_order is not None else None,
    }


@api_bp.post("/requests")
@csrf.exempt
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def create_request():
    csrf_unless_api_token()
    ctx = domain_context()
    ctx.via = "api"
    body = _json_body()
    try:
        ticket = intake.create_request(body, ctx)
    except ValidationError as error:
        return _validation_response(error)
    response = jsonify(number=ticket.number, status=ticket.status.value)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/requests/{ticket.number}"
    return response


@api_bp.post("/requests/<number>/assign")
@csrf.exempt
@roles_required(Role.SUPERVISOR)
def assign_request(number: str):
    csrf_unless_api_token()
    body = _json_body()
    ctx = domain_context()
    ctx.via = "api"
    ticket = access.get_ticket(number, current_user)
    try:
        technician = assignment.active_user(str(body.get("technician") or ""), Role.TECHNICIAN, "technician")
        version = body.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise ValidationError({"version": _("The version must be a whole number.")})
        assignment.assign(ticket, technician, ctx, expected_version=version)
    except ValidationError as error:
        return _validation_response(error)
    # Written now, so that a concurrent assignment answers 409 before the answer shows this one.
    uow.flush()
    return jsonify(request_json(ticket, ctx.now))


@api_bp.get("/requests/<number>")
@roles_required(*ALL_ROLES)
def get_request(number: str):
    ticket = access.get_ticket(number, current_user)
    return jsonify(request_json(ticket, domain_context().now))
