"""Web Push: the VAPID key, subscriptions (only on known push services' hosts), and real deliveries to a local
HTTP endpoint standing in for the push service; the test decrypts each payload (RFC 8291, aes128gcm) with the
subscription's private key, as the browser would."""
from __future__ import annotations

import base64
import json
import os
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from domain.alerts import push
from domain.alerts import tasks as alerts_tasks
from domain.alerts.models import PushRetry, PushSubscription
from domain.core import context, uow
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import User
from domain.requests import assignment, intake
from domain.requests.catalog import ensure_catalog

from .helpers import settings_of, signed_client

BODY = {"customer_name": "远山音乐现场", "contact_phone": "13600136004", "device_model": "Behringer X32 Compact",
        "problem": "主输出无声", "urgency": "urgent"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class BrowserKeys:
    """What a browser keeps for one push subscription: its P-256 key pair and the auth secret."""

    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        raw = self.private.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint)
        self.keys = {"p256dh": b64url(raw), "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.private, auth_secret=self.auth,
                                           version="aes128gcm"))


class PushService:
    """A local HTTP endpoint in place of FCM/Mozilla/Apple: records each push, answers 201 as they do, and under
    /gone/ 410 (the subscription expired), /flaky/ 503 the first time (overloaded, as FCM answers), /busy/ 429 the
    first time (too many requests), /down/ 500 always, /bad/ 400 (a request it refuses: not worth trying again)."""

    def __init__(self):
        self.received: list[dict] = []
        service = self

        def status_for(path: str) -> int:
            first = sum(1 for push in service.received if push["path"] == path) == 1
            for prefix, status in (("/gone/", 410), ("/down/", 500), ("/bad/", 400)):
                if path.startswith(prefix):
                    return status
            if first and path.startswith("/flaky/"):
                return 503
            return 429 if first and path.startswith("/busy/") else 201

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                service.received.append({"path": self.path, "headers": headers, "body": body})
                self.send_response(status_for(self.path))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def push_service():
    service = PushService()
    yield service
    service.close()


@pytest.fixture
def push_app(make_app):
    return make_app(PUSH_ENDPOINTS_ALLOWED="127.0.0.1", PUBLIC_URL="https://fs.example.com")


@pytest.fixture
def staff(push_app, make_user):
    ids = {name: make_user(role, name)[0] for name, role in [("desk", Role.DISPATCHER), ("boss", Role.SUPERVISOR),
                                                              ("li", Role.TECHNICIAN)]}
    with push_app.app_context():
        ensure_catalog()
        db.session.commit()
    return ids


def new_assigned_request(app, staff) -> str:
    now = datetime.now(UTC)
    with app.app_context():
        def ctx(who):
            return context.Context(actor=db.session.get(User, staff[who]), tz=ZoneInfo("Asia/Shanghai"), now=now)

        ticket = intake.create_request(BODY, ctx("desk"))
        assignment.assign(ticket, db.session.get(User, staff["li"]), ctx("boss"))
        uow.commit()  # after the commit: the worker (here at once) pushes the alerts
        return ticket.number


def test_the_public_key_is_generated_once_and_kept(push_app, make_app, staff):
    client = signed_client(push_app, "li")
    key = client.get("/api/v1/push/key").get_json()["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4  # an uncompressed P-256 point, as pushManager.subscribe() wants
    assert client.get("/api/v1/push/key").get_json()["public_key"] == key
    path = os.path.join(push_app.instance_path, "vapid_private.pem")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    again = make_app()  # another process, the same instance folder
    assert signed_client(again, "li").get("/api/v1/push/key").get_json()["public_key"] == key


@pytest.mark.parametrize("endpoint,status,code", [
    ("https://fcm.googleapis.com/fcm/send/abc", 201, None),
    ("https://updates.push.services.mozilla.com/wpush/v2/abc", 201, None),
    ("https://web.push.apple.com/QGx", 201, None),
    ("http://fcm.googleapis.com/fcm/send/abc", 400, "push_endpoint_not_allowed"),
    ("https://10.0.0.5/internal", 400, "push_endpoint_not_allowed"),
    ("https://fcm.googleapis.com.evil.example/x", 400, "push_endpoint_not_allowed"),
    ("https://user@fcm.googleapis.com/x", 400, "push_endpoint_not_allowed"),
    ("file:///etc/passwd", 400, "push_endpoint_not_allowed"),
])
def test_subscriptions_only_on_known_push_services(make_app, make_user, endpoint, status, code):
    app = make_app()  # the built-in list of push services
    make_user(Role.TECHNICIAN, "li")
    client = signed_client(app, "li")
    response = client.post("/api/v1/push/subscriptions", json={"endpoint": endpoint, "keys": BrowserKeys().keys})
    assert response.status_code == status
    if code:
        assert response.get_json()["error"]["code"] == code
    else:  # the answer names the stored subscription, as the API document says (an integer)
        assert isinstance(response.get_json()["id"], int)


def test_a_malformed_subscription_is_400_with_a_code(push_app, staff, push_service):
    client = signed_client(push_app, "li")
    for body in ({"endpoint": push_service.url("/x")}, {"endpoint": push_service.url("/x"), "keys": {"p256dh": "x"}},
                 {"endpoint": push_service.url("/x"), "keys": {"p256dh": b64url(b"\x04" * 10), "auth": b64url(b"a")}},
                 # a line break would split the request's header line when the push is sent
                 {"endpoint": push_service.url("/x\r\nX-Injected: 1"), "keys": BrowserKeys().keys},
                 {"endpoint": push_service.url("/x y"), "keys": BrowserKeys().keys},
                 "not an object"):
        response = client.post("/api/v1/push/subscriptions", json=body)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_subscription"


def test_delete_removes_the_subscription(push_app, staff, push_service):
    client = signed_client(push_app, "li")
    endpoint = push_service.url("/sub/1")
    assert client.post("/api/v1/push/subscriptions", json={"endpoint": endpoint,
                                                           "keys": BrowserKeys().keys}).status_code == 201
    assert client.delete("/api/v1/push/subscriptions", json={"endpoint": endpoint}).status_code == 204
    assert client.delete("/api/v1/push/subscriptions", json={"endpoint": endpoint}).status_code == 404
    with push_app.app_context():
        assert db.session.execute(select(PushSubscription)).first() is None


def test_an_assignment_is_pushed_encrypted_to_the_technicians_phone(push_app, staff, push_service):
    browser = BrowserKeys()
    client = signed_client(push_app, "li")
    public_key = client.get("/api/v1/push/key").get_json()["public_key"]
    assert client.post("/api/v1/push/subscriptions", json={"endpoint": push_service.url("/sub/li"),
                                                           "keys": browser.keys}).status_code == 201
    number = new_assigned_request(push_app, staff)
    [push] = push_service.received  # the supervisor has no subscription: only the technician's phone
    assert push["path"] == "/sub/li"
    assert push["headers"]["content-encoding"] == "aes128gcm" and int(push["headers"]["ttl"]) > 0
    scheme, _, params = push["headers"]["authorization"].partition(" ")
    assert scheme == "vapid" and f"k={public_key}" in params
    payload = browser.decrypt(push["body"])
    assert number in payload["title"] and payload["body"] == BODY["problem"]
    assert payload["url"] == f"https://fs.example.com/field/#/job/{number}"  # a tap opens the job
    # Delivered once: the next deliveries (the minute tick) send nothing more.
    import worker

    worker.TASKS["deliver_notifications"]()
    assert len(push_service.received) == 1


def test_a_gone_subscription_is_dropped(push_app, staff, push_service):
    client = signed_client(push_app, "li")
    for path in ("/gone/1", "/sub/ok"):
        client.post("/api/v1/push/subscriptions", json={"endpoint": push_service.url(path),
                                                        "keys": BrowserKeys().keys})
    new_assigned_request(push_app, staff)
    assert sorted(p["path"] for p in push_service.received) == ["/gone/1", "/sub/ok"]
    with push_app.app_context():
        left = db.session.execute(select(PushSubscription.endpoint)).scalars().all()
        assert left == [push_service.url("/sub/ok")]


def test_a_user_who_turned_push_off_gets_no_push(push_app, staff, push_service):
    client = signed_client(push_app, "li")
    client.post("/api/v1/push/subscriptions", json={"endpoint": push_service.url("/sub/li"),
                                                    "keys": BrowserKeys().keys})
    client.post("/notifications/preferences", data={"push": ["missed"]})
    new_assigned_request(push_app, staff)
    assert push_service.received == []
    assert client.get("/api/v1/notifications").get_json()["unread"] == 1  # still in the inbox


def subscribe(app, username: str, service: PushService, *paths: str) -> BrowserKeys:
    browser = BrowserKeys()
    client = signed_client(app, username)
    for path in paths:
        assert client.post("/api/v1/push/subscriptions", json={"endpoint": service.url(path),
                                                               "keys": browser.keys}).status_code == 201
    return browser


def retries() -> list[PushRetry]:
    return db.session.execute(select(PushRetry).order_by(PushRetry.id)).scalars().all()


@pytest.mark.parametrize("path", ["/flaky/li", "/busy/li"])
def test_a_push_the_service_could_not_take_is_sent_again_after_a_pause(push_app, staff, push_service, path):
    """One 503 (or 429) from the push service loses nothing: the push is sent again once its pause is over, with
    the same payload, and then no more."""
    browser = subscribe(push_app, "li", push_service, path)
    number = new_assigned_request(push_app, staff)
    assert [p["path"] for p in push_service.received] == [path]
    with push_app.app_context():
        [retry] = retries()
        assert retry.attempts == 1 and retry.last_status in (503, 429)
        due = retry.next_attempt_at
        assert alerts_tasks.resend_failed_pushes(settings_of(push_app), now=due - timedelta(seconds=1)) == 0  # waits
        assert len(push_service.received) == 1
        assert alerts_tasks.resend_failed_pushes(settings_of(push_app), now=due) == 1
        assert retries() == []
        assert alerts_tasks.resend_failed_pushes(settings_of(push_app), now=due + timedelta(hours=1)) == 0  # once
    assert [p["path"] for p in push_service.received] == [path, path]
    first, again = (browser.decrypt(p["body"]) for p in push_service.received)
    assert again == first and number in again["title"]


def test_a_push_service_that_stays_down_is_tried_a_few_times_then_given_up(push_app, staff, push_service):
    subscribe(push_app, "li", push_service, "/down/li")
    new_assigned_request(push_app, staff)
    with push_app.app_context():
        tried_at = []
        while rows := retries():
            [retry] = rows
            tried_at.append(retry.next_attempt_at)
            assert alerts_tasks.resend_failed_pushes(settings_of(push_app), now=retry.next_attempt_at) == 0
            assert len(tried_at) <= push.PUSH_RETRIES
    # The first push and PUSH_RETRIES more, the pauses growing (30 s, then 2, 8 and 32 minutes); then given up (the
    # inbox keeps the alert).
    assert len(push_service.received) == 1 + push.PUSH_RETRIES
    assert [later - earlier for earlier, later in zip(tried_at, tried_at[1:], strict=False)] == [
        timedelta(minutes=2), timedelta(minutes=8), timedelta(minutes=32)]
    assert push.retry_pause(1) == timedelta(seconds=30)


def test_a_push_refused_or_gone_is_not_tried_again(push_app, staff, push_service):
    subscribe(push_app, "li", push_service, "/bad/li", "/gone/li")
    new_assigned_request(push_app, staff)
    assert sorted(p["path"] for p in push_service.received) == ["/bad/li", "/gone/li"]
    with push_app.app_context():
        assert retries() == []


def test_a_push_retried_after_its_alert_went_stale_is_dropped_not_sent(push_app, staff, push_service):
    subscribe(push_app, "li", push_service, "/flaky/li")
    new_assigned_request(push_app, staff)
    with push_app.app_context():
        [retry] = retries()
        late = retry.created_at + timedelta(seconds=push.PUSH_TTL + 1)
        assert alerts_tasks.resend_failed_pushes(settings_of(push_app), now=late) == 0
        assert retries() == []
    assert len(push_service.received) == 1


def test_the_minute_tick_sends_the_pushes_due_again(push_app, staff, push_service):
    import worker

    subscribe(push_app, "li", push_service, "/flaky/li")
    new_assigned_request(push_app, staff)
    with push_app.app_context():
        due = retries()[0].next_attempt_at
        assert worker.tick(due)["pushes"] == 1
    assert len(push_service.received) == 2
