from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from domain.alerts import notifications, push
from domain.core.errors import ValidationError

from ..access import signed_in
from ..core.errors import json_error
from ..core.helpers import company_tz, current_settings
from . import api_bp


def _user():
    return current_user._get_current_object()


@api_bp.get("/notifications")
@signed_in
def inbox():
    """The signed-in user's newest alerts and the number unread."""
    return jsonify(notifications.inbox(_user(), tz=company_tz()))


@api_bp.post("/notifications/<int:notification_id>/read")
@signed_in
def mark_read(notification_id: int):
    note = notifications.mark_read(_user(), notification_id)
    return jsonify(id=note.id, read_at=note.read_at.isoformat(), unread=notifications.unread_count(_user()))


@api_bp.get("/push/key")
@signed_in
def push_key():
    """The VAPID public key the browser subscribes with (applicationServerKey)."""
    vapid = push.load_vapid(current_settings().push)
    return jsonify(public_key=push.public_key(vapid))


@api_bp.post("/push/subscriptions")
@signed_in
def subscribe():
    """The browser's PushSubscription JSON: {endpoint, keys: {p256dh, auth}}."""
    try:
        subscription = push.subscribe(_user(), request.get_json(silent=True),
                                      current_settings().push.endpoints_allowed)
    except push.EndpointNotAllowed:
        return json_error(400, "push_endpoint_not_allowed",
                          _("This push service is not allowed: the endpoint must be on a known push service."))
    except ValidationError as error:
        return json_error(400, "bad_subscription", _("Send the browser's subscription: endpoint and keys."),
                          fields={k: str(v) for k, v in error.fields.items()})
    response = jsonify(id=subscription.id, endpoint=subscription.endpoint)
    response.status_code = 201
    return response


@api_bp.delete("/push/subscriptions")
@signed_in
def unsubscribe():
    body = request.get_json(silent=True)
    endpoint = body.get("endpoint") if isinstance(body, dict) else None
    if not isinstance(endpoint, str) or not endpoint:
        return json_error(400, "bad_subscription", _("Send the browser's subscription: endpoint and keys."))
    removed = push.unsubscribe(_user(), endpoint)
    if not removed:
        return json_error(404, "no_subscription", _("No such subscription."))
    return "", 204
