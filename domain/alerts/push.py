"""Web Push: the server's VAPID key pair, the browsers' subscriptions, and sending (RFC 8030, 8291, 8292).

A subscription names the URL the server will post to, so only the known push services' hosts are accepted
(or the list the setting PUSH_ENDPOINTS_ALLOWED gives instead): a subscription can never make the server call
an internal address. Redirects are not followed.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import requests
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from ..alerts.models import PushSubscription
from ..core.db import db
from ..core.errors import ValidationError
from ..core.models import User
from ..core.settings import PushSettings
from ..core.types import utcnow

log = logging.getLogger(__name__)

# The push services of the browsers a phone runs (Chrome/Android, Firefox, Safari/iOS, Edge/Windows).
KNOWN_PUSH_HOSTS = ("fcm.googleapis.com", "android.googleapis.com", "updates.push.services.mozilla.com",
                    "*.push.apple.com", "*.notify.windows.com")
PUSH_TTL = 4 * 3600  # a phone offline longer than this misses the push; the inbox keeps the alert
# A push the service did not take (5xx, 429, no answer) is sent again 30 s, 2, 8 and 32 minutes later, then given up
# (the inbox keeps the alert): one hiccup of the push service must not lose the phone's notification.
PUSH_RETRIES = 4
RETRY_FIRST_PAUSE = 30  # seconds, times 4 after each failure


def retry_pause(attempts: int):
    from datetime import timedelta

    return timedelta(seconds=RETRY_FIRST_PAUSE * 4 ** (max(attempts, 1) - 1))


def worth_retrying(status: int | None) -> bool:
    """The push service's answer says "try again later": overloaded, rate-limited, down or not reached."""
    return status is None or status == 429 or status >= 500
PUSH_TIMEOUT = 10


def allowed_hosts(setting: tuple[str, ...]) -> tuple[str, ...]:
    """PUSH_ENDPOINTS_ALLOWED (listed, lower case) instead of the known push services."""
    return setting or KNOWN_PUSH_HOSTS


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
        if host == pattern:
            return True
    return False


def _b64url_bytes(value, name: str, length: int | None) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValidationError({name: _l("The subscription's keys are missing or malformed.")})
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValidationError({name: _l("The subscription's keys are missing or malformed.")}) from None
    if length is not None and len(raw) != length:
        raise ValidationError({name: _l("The subscription's keys are missing or malformed.")})
    return value


class EndpointNotAllowed(ValidationError):
    code = "push_endpoint_not_allowed"


def check_subscription(body, allowed_setting: tuple[str, ...]) -> tuple[str, str, str]:
    """(endpoint, p256dh, auth) from the browser's PushSubscription JSON, or a ValidationError."""
    if not isinstance(body, dict) or not isinstance(body.get("keys"), dict):
        raise ValidationError({"keys": _l("Send the browser's subscription: endpoint and keys.")})
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > 1000 or \
            any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in endpoint):  # "\r\n" would split a header
        raise ValidationError({"endpoint": _l("Send the browser's subscription: endpoint and keys.")})
    parts = urlsplit(endpoint)
    hosts = allowed_hosts(allowed_setting)
    # https always; plain http only for a host an administrator listed by name (a local test service).
    scheme_ok = parts.scheme == "https" or (parts.scheme == "http" and bool(allowed_setting)
                                             and (parts.hostname or "") in hosts)
    if not scheme_ok or not parts.hostname or parts.username or not host_allowed(parts.hostname, hosts):
        raise EndpointNotAllowed({"endpoint": _l("This push service is not allowed.")})
    p256dh = _b64url_bytes(body["keys"].get("p256dh"), "p256dh", 65)
    auth = _b64url_bytes(body["keys"].get("auth"), "auth", 16)
    return endpoint, p256dh, auth


def subscribe(user: User, body, allowed_setting: tuple[str, ...]) -> PushSubscription:
    endpoint, p256dh, auth = check_subscription(body, allowed_setting)
    subscription = db.session.execute(select(PushSubscription).where(PushSubscription.endpoint == endpoint)
                                      ).scalar_one_or_none()
    if subscription is None:
        subscription = PushSubscription(endpoint=endpoint, user_id=user.id, p256dh=p256dh, auth=auth)
        db.session.add(subscription)
        db.session.flush()  # its id, which the answer gives
    else:  # the same browser, maybe signed in as someone else now: it belongs to the last one
        subscription.user_id, subscription.p256dh, subscription.auth = user.id, p256dh, auth
    return subscription


def unsubscribe(user: User, endpoint: str) -> bool:
    result = db.session.execute(delete(PushSubscription).where(PushSubscription.user_id == user.id,
                                                               PushSubscription.endpoint == endpoint))
    return bool(result.rowcount)


# --- VAPID ----------------------------------------------------------------------------------------------


def vapid_key_path(instance_path: str) -> Path:
    return Path(instance_path) / "vapid_private.pem"


def load_vapid(settings: PushSettings):
    """The server's VAPID key (py_vapid): VAPID_PRIVATE_KEY, else generated once into the instance folder like the
    secret key. Several app servers must share this file (or VAPID_PRIVATE_KEY), or phones subscribed through one
    server reject pushes signed by another."""
    from py_vapid import Vapid02

    if settings.private_key:
        return Vapid02.from_string(private_key=settings.private_key)
    path = vapid_key_path(settings.key_folder)
    if not path.exists():
        vapid = Vapid02()
        vapid.generate_keys()
        try:  # exclusive create: two processes starting at once keep the first key written
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            from cryptography.hazmat.primitives import serialization

            with os.fdopen(fd, "wb") as f:
                f.write(vapid.private_key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return Vapid02.from_file(str(path))


def public_key(vapid) -> str:
    """The application server key the browser's pushManager.subscribe() needs (uncompressed P-256, base64url)."""
    from cryptography.hazmat.primitives import serialization

    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class _NoRedirects(requests.Session):
    def __init__(self):
        super().__init__()
        self.trust_env = False  # no proxy from the environment between us and the push service

    def post(self, url, **kwargs):
        kwargs["allow_redirects"] = False
        return super().post(url, **kwargs)


def pusher_for(settings: PushSettings) -> Pusher:
    """A Pusher signing with this deployment's VAPID key (generated into the key folder at first use)."""
    return Pusher(load_vapid(settings), settings.vapid_subject)


class Pusher:
    """Sends to many subscriptions over one HTTP session, signing one VAPID header per push service."""

    def __init__(self, vapid, subject: str):
        self.vapid, self.subject = vapid, subject
        self.session = _NoRedirects()
        self._headers: dict[str, dict] = {}

    def _vapid_headers(self, endpoint: str) -> dict:
        import time

        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        cached = self._headers.get(audience)
        if cached is None or cached["exp"] < time.time() + 600:
            exp = int(time.time()) + 12 * 3600
            cached = {"exp": exp, "headers": self.vapid.sign({"aud": audience, "exp": exp, "sub": self.subject})}
            self._headers[audience] = cached
        return dict(cached["headers"])

    def send(self, subscription: PushSubscription, payload: dict) -> int | None:
        """Post one push; the HTTP status, or None when the service could not be reached."""
        from pywebpush import WebPusher

        info = {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh,
                                                            "auth": subscription.auth}}
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            response = WebPusher(info, requests_session=self.session).send(
                data, self._vapid_headers(subscription.endpoint), ttl=PUSH_TTL, timeout=PUSH_TIMEOUT)
        except requests.RequestException as error:
            log.warning("push to %s failed: %s", urlsplit(subscription.endpoint).hostname, error)
            return None
        return response.status_code


def push_to(pusher: Pusher, subscriptions: list[PushSubscription],
            payload: dict) -> tuple[int, list[int], list[tuple[int, int | None]]]:
    """Push to each subscription; (sent, ids of subscriptions gone: 404/410, to be dropped, and (id, status) of the
    pushes to send again later: `worth_retrying`)."""
    sent, gone, again = 0, [], []
    for subscription in subscriptions:
        status = pusher.send(subscription, payload)
        if status in (404, 410):
            gone.append(subscription.id)
        elif status is not None and 200 <= status < 300:
            sent += 1
            subscription.last_sent_at = utcnow()
        else:
            log.warning("push service answered %s for subscription %s", status, subscription.id)
            if worth_retrying(status):
                again.append((subscription.id, status))
    return sent, gone, again
