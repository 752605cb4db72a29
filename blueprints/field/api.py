from __future__ import annotations

import json

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from domain.core import validation
from domain.core.enums import Role
from domain.core.types import utcnow
from domain.fieldwork import smscode
from domain.fieldwork.flow import flow_document
from domain.fieldwork.images import ImageRejected, process_photo
from domain.fieldwork.jobs import jobs_for
from domain.fieldwork.sync import apply_batch, apply_op, reject_op
from domain.requests import access
from domain.sla.policy import current_policy
from extensions import limiter

from ..access import public, roles_required
from ..api_contract import complete_document
from ..core.errors import json_error
from ..core.helpers import company_tz, current_locale, current_settings, domain_context
from . import api_bp
from .openapi import openapi_document


def _device_id(value) -> str | None:
    if isinstance(value, str) and 0 < len(value.strip()) <= 64 and not validation.text_problem(value):
        return value.strip()
    return None


@api_bp.post("/sync")
@roles_required(Role.TECHNICIAN)
def sync():
    """Apply the phone's outbox, op by op, in the order sent."""
    limit = current_settings().sync.max_bytes
    if request.content_length is not None and request.content_length > limit:
        return json_error(413, "batch_too_large", _("The batch is larger than %(kb)d KB: send fewer ops at a time.",
                                                     kb=limit // 1024))
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        return json_error(413, "batch_too_large", _("The batch is larger than %(kb)d KB: send fewer ops at a time.",
                                                     kb=limit // 1024))
    try:
        # Plain json here (not the app's strict parser): a NaN or a NUL inside one op rejects that op alone.
        body = json.loads(raw)
    except RecursionError:
        return json_error(400, "too_deep", _("The body is nested too deeply to be read."))
    except (ValueError, UnicodeDecodeError):
        return json_error(400, "bad_json", _("The body must be a JSON object."))
    if not isinstance(body, dict) or not isinstance(body.get("ops"), list):
        return json_error(400, "bad_batch", _("The body needs \"device_id\" and a list \"ops\"."))
    device_id = _device_id(body.get("device_id"))
    if device_id is None:
        return json_error(400, "bad_device", _("device_id must be a text of 1 to 64 characters."))
    max_ops = current_settings().sync.max_ops
    if len(body["ops"]) > max_ops:
        return json_error(413, "too_many_ops", _("At most %(n)d ops per batch.", n=max_ops))
    tz = company_tz()
    user = current_user._get_current_object()
    # Signed orders' PDFs are rendered by the worker after the request's commit (queued by the domain).
    results, _signed = apply_batch(body["ops"], user=user, device_id=device_id, tz=tz,
                                   remote_addr=request.remote_addr, user_agent=request.user_agent.string)
    return jsonify(results=[r.as_dict() for r in results], server_time=utcnow().isoformat())


@api_bp.post("/sync/photo")
@roles_required(Role.TECHNICIAN)
def sync_photo():
    """One photo as multipart: fields op_id, ticket, at, device_id, optional note_id and caption, and `file`."""
    form = request.form
    device_id = _device_id(form.get("device_id"))
    if device_id is None:
        return json_error(400, "bad_device", _("device_id must be a text of 1 to 64 characters."))
    upload = request.files.get("file")
    data = upload.read() if upload else b""
    op = {"op_id": form.get("op_id"), "kind": "photo.added", "ticket": form.get("ticket"), "at": form.get("at"),
          "device_at": form.get("device_at"),  # the phone's own clock, kept beside the corrected `at`
          "data": {"note_id": form.get("note_id") or None, "caption": form.get("caption") or "",
                   "size": len(data), "filename": (upload.filename or "")[:200] if upload else ""}}
    photo = None
    user = current_user._get_current_object()
    tz = company_tz()
    try:
        uploads = current_settings().uploads
        photo = process_photo(data, max_bytes=uploads.photo_max_bytes, max_pixels=uploads.photo_max_pixels)
    except ImageRejected as error:
        # Still an op received: kept as rejected with the reason.
        result = reject_op(op, user=user, device_id=device_id, code=error.code, message=error.message)
        return jsonify(results=[result.as_dict()], server_time=utcnow().isoformat())
    result, _signed = apply_op(op, user=user, device_id=device_id, tz=tz, remote_addr=request.remote_addr,
                               photo=photo)
    return jsonify(results=[result.as_dict()], server_time=utcnow().isoformat())


@api_bp.get("/me/jobs")
@roles_required(Role.TECHNICIAN)
def my_jobs():
    now = utcnow()
    # The phone highlights a deadline this close as the boards do: the policy's threshold, not its own.
    jobs = jobs_for(current_user, now, current_locale())
    for job in jobs:  # photos sent earlier: their thumbnails (access-checked, cached for good: blobs never change)
        for photo in job["photos"]:  # and full size, opened from the thumbnail
            photo["url"] = url_for("dispatch.photo", number=job["number"], photo_id=photo["id"])
            photo["thumb_url"] = url_for("dispatch.photo", number=job["number"], photo_id=photo["id"], size="thumb")
    return jsonify(jobs=jobs, flow=flow_document(),
                   server_time=now.isoformat(), due_soon_minutes=current_policy().due_soon_minutes,
                   user={"username": current_user.username, "display_name": current_user.display_name})


def _code_key() -> str:
    # Per request: however many phones or addresses ask, one customer's mobile gets a bounded number of codes.
    return "signing-code:" + (request.view_args or {}).get("number", "")[:40]


@api_bp.post("/requests/<number>/signing-code")
@limiter.limit(lambda: current_app.config.get("SIGNING_CODE_RATE_LIMIT", "10 per hour"), key_func=_code_key)
@roles_required(Role.TECHNICIAN)
def signing_code(number: str):
    """The customer's code (SIGNING_SMS_CODE), sent by SMS to the request's mobile number as they are about to
    sign; `order.signed` then carries it."""
    ctx = domain_context()
    ticket = access.get_ticket(number[:40], current_user)
    smscode.may_send_for_signing(ticket, ctx)
    row = smscode.send_code(ticket, smscode.SIGNING, site=ctx.settings(), now=ctx.now)
    return jsonify(sent=True, expires_at=row.expires_at.isoformat()), 202


@api_bp.get("/openapi.json")
@public
def openapi():
    return jsonify(complete_document(openapi_document()))
