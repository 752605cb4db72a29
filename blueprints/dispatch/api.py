"""The intake and assignment API for other systems (website contact form, phone system) and scripts."""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from domain.core import uow
from domain.core.enums import Role
from domain.core.errors import DomainError
from domain.requests import dispatch
from domain.requests.dispatch import ValidationError
from domain.sla.clocks import ticket_clocks
from extensions import csrf

from ..access import ALL_ROLES, csrf_unless_api_token, roles_required
from ..core.errors import json_error
from ..core.helpers import domain_context
from . import api_bp


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise DomainError("bad_json", _("The body must be a JSON object."))
    return data


def _validation_response(error: ValidationError):
    return json_error(422, "invalid", error.message, fields={k: str(v) for k, v in error.fields.items()})


def request_json(ticket, now) -> dict:
    return {
        "number": ticket.number,
        "status": ticket.status.value,
        "urgency": ticket.urgency.value,
        "channel": ticket.channel.value,
        "customer_name": ticket.customer.name,
        "contact_name": ticket.contact_name,
        "contact_phone": ticket.contact_phone,
        "address": ticket.address,
        "device_model": ticket.device_model_text,
        "device_category": ticket.device_category.code if ticket.device_category else None,
        "serial_number": ticket.serial_number,
        "problem": ticket.problem,
        "reported_at": ticket.reported_at.isoformat(),
        "created_at": ticket.created_at.isoformat(),
        "assignee": ticket.assignee.username if ticket.assignee else None,
        "expert": ticket.expert.username if ticket.expert else None,
        "version": ticket.version,
        "clocks": [clock.as_dict() for clock in ticket_clocks(ticket, now)],
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
        ticket = dispatch.create_request(body, ctx)
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
    ticket = dispatch.get_ticket(number, current_user)
    try:
        technician = dispatch.active_user(str(body.get("technician") or ""), Role.TECHNICIAN, "technician")
        version = body.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise ValidationError({"version": _("The version must be a whole number.")})
        dispatch.assign(ticket, technician, ctx, expected_version=version)
    except ValidationError as error:
        return _validation_response(error)
    # Written now, so that a concurrent assignment answers 409 before the answer shows this one.
    uow.flush()
    return jsonify(request_json(ticket, ctx.now))


@api_bp.get("/requests/<number>")
@roles_required(*ALL_ROLES)
def get_request(number: str):
    ticket = dispatch.get_ticket(number, current_user)
    return jsonify(request_json(ticket, domain_context().now))
