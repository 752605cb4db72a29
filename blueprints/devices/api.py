"""`POST /api/v1/devices`, `GET /api/v1/devices/<asset_number>` (with its history) and the search the intake
form uses (`GET /api/v1/devices?q=`)."""
from __future__ import annotations

from flask import jsonify, request

from domain.core.errors import ValidationError
from domain.core.validation import parse_int
from domain.devices import register
from extensions import csrf

from ..access import ALL_ROLES, csrf_unless_api_token, roles_required
from ..core.helpers import current_site, domain_context
from ..dispatch.api import _json_body, _validation_response
from . import api_bp


@api_bp.post("/devices")
@csrf.exempt
@roles_required(*register.EDITOR_ROLES)
def create_device():
    csrf_unless_api_token()
    ctx = domain_context()
    ctx.via = "api"
    try:
        device = register.create_device(_json_body(), ctx)
    except ValidationError as error:
        return _validation_response(error)
    response = jsonify(register.device_json(device, current_site()))
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/devices/{device.asset_number}"
    return response


@api_bp.get("/devices/<asset_number>")
@roles_required(*ALL_ROLES)
def get_device(asset_number: str):
    device = register.get_device(asset_number)
    history = register.device_history(device, domain_context().now, limit=1000)
    return jsonify({**register.device_json(device, current_site()), "history": register.history_json(history),
                    "faults": {f"{days}d": count for days, count in history.faults.items()},
                    "requests_total": history.total})


@api_bp.get("/devices")
@roles_required(*ALL_ROLES)
def search_devices():
    limit = parse_int(request.args.get("limit", ""), minimum=1, maximum=100) or 20
    devices, total = register.search_devices(request.args.get("q", ""), limit=limit)
    site = current_site()
    return jsonify(items=[register.device_json(d, site) for d in devices], total=total)
