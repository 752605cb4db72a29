"""The sync contract (DESIGN.md): every guarantee, on SQLite and PostgreSQL."""
from __future__ import annotations

import io
import json
import threading
import urllib.parse
import urllib.request
import uuid
from datetime import datetime

import pytest
from PIL import Image
from sqlalchemy import func, select

from domain.core.db import db
from domain.core.enums import TicketStatus
from domain.core.models import AuditEvent, User
from domain.fieldwork.models import AcceptanceTest, Photo, Signature, SyncOp
from domain.requests import access
from domain.requests.models import ProgressNote, Ticket

from .helpers import PASSWORD, csrf_from
from .orderfactory import make_prepared_visit, signature_data_url
from .phones import app_processes, at, http_phone, jpeg_with_gps_and_rotation, op, phone, visit_ops


@pytest.fixture
def job(app, make_user):
    """A visit scheduled for t1, prepared; t2 is another technician."""
    with app.app_context():
        return make_prepared_visit(make_user, tech="t1", other_tech="t2")


def sync(client, ops, device="phone-1"):
    response = client.post("/api/v1/sync", json={"device_id": device, "ops": ops})
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["status"] if r["status"] != "rejected" else f"rejected:{r['code']}" for r in response.json["results"]]


def counts(app, number):
    with app.app_context():
        ticket = access.get_ticket(number)
        return {
            "notes": db.session.execute(select(func.count(ProgressNote.id)).where(
                ProgressNote.ticket_id == ticket.id)).scalar_one(),
            "tests": db.session.execute(select(func.count(AcceptanceTest.id)).where(
                AcceptanceTest.ticket_id == ticket.id)).scalar_one(),
            "signatures": db.session.execute(select(func.count(Signature.id)).where(
                Signature.ticket_id == ticket.id)).scalar_one(),
            "status": ticket.status.value,
        }


def test_the_whole_visit_syncs_and_the_order_is_signed(app, job):
    client = phone(app)
    ops = visit_ops(job["number"])
    assert sync(client, ops) == ["applied"] * len(ops)
    assert counts(app, job["number"]) == {"notes": 1, "tests": 4, "signatures": 1, "status": "signed"}
    with app.app_context():
        ticket = access.get_ticket(job["number"])
        assert ticket.visits[-1].departed_at is not None
        assert ticket.service_order.pdf_sha256  # rendered right after the signature was committed
        signature = ticket.signature
        assert signature.device_id == "phone-1" and signature.signed_at_client < signature.signed_at


def test_replay_changes_nothing_and_answers_duplicate(app, job):
    client = phone(app)
    ops = visit_ops(job["number"])
    sync(client, ops)
    before = counts(app, job["number"])
    assert sync(client, ops) == ["duplicate"] * len(ops)
    assert sync(client, list(reversed(ops[2:5]))) == ["duplicate"] * 3  # in a later batch, any order
    assert counts(app, job["number"]) == before
    with app.app_context():
        assert db.session.execute(select(func.sum(SyncOp.replays))).scalar_one() == len(ops) + 3


def test_op_id_reused_with_another_body_is_rejected(app, job):
    client = phone(app)
    first = op("note.added", job["number"],
               {"note_id": str(uuid.uuid4()), "text": "第一条", "shown_to_customer": False})
    sync(client, [op("visit.arrived", job["number"], minutes=-5), first])
    reused = dict(first, data=dict(first["data"], text="被改过的内容"))
    assert sync(client, [reused]) == ["rejected:op_id_reused"]
    with app.app_context():
        texts = db.session.execute(select(ProgressNote.text)).scalars().all()
        assert texts == ["第一条"]
        stored = db.session.execute(select(SyncOp).where(SyncOp.code == "op_id_reused")).scalar_one()
        assert "被改过的内容" in stored.body  # kept, for the supervisor to see


def test_a_malformed_op_never_stops_the_others(app, job):
    client = phone(app)
    number = job["number"]
    batch = [
        op("visit.arrived", number, minutes=-5),
        {"op_id": "not-a-uuid", "kind": "note.added", "ticket": number, "at": at(), "data": {}},
        "just a string",
        op("teleport.done", number),
        op("note.added", "FS-1999-000001", {"note_id": str(uuid.uuid4()), "text": "x"}),
        dict(op("note.added", number, {"note_id": str(uuid.uuid4()), "text": "x"}), at="yesterday"),
        dict(op("note.added", number, {"note_id": str(uuid.uuid4()), "text": "x"}), at="2026-11-24T10:00:00"),
        op("note.added", number, {"note_id": "nope", "text": "x"}),
        op("test.recorded", number, {"item": "开机", "passed": "yes"}),
        op("photo.added", number, {"caption": "x"}),
        op("note.added", number, {"note_id": str(uuid.uuid4()), "text": "好的那条"}),
    ]
    assert sync(client, batch) == ["applied", "rejected:bad_op_id", "rejected:malformed_op", "rejected:unknown_kind",
                                   "rejected:unknown_ticket", "rejected:bad_time", "rejected:bad_time",
                                   "rejected:bad_payload", "rejected:bad_payload", "rejected:use_photo_endpoint",
                                   "applied"]
    with app.app_context():
        # Every op received is stored with its raw body, rejected ones included.
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == len(batch)
        assert db.session.execute(select(ProgressNote.text)).scalars().all() == ["好的那条"]
        row = db.session.execute(select(SyncOp).where(SyncOp.code == "unknown_kind")).scalar_one()
        assert json.loads(row.body)["kind"] == "teleport.done" and row.device_id == "phone-1"
        assert row.user_id == db.session.execute(select(User.id).where(User.username == "t1")).scalar_one()


def test_a_rejected_op_replayed_is_a_duplicate_with_its_code(app, job):
    client = phone(app)
    early = op("order.signed", job["number"], {"signer_name": "赵远", "rating": 5,
                                                "signature_png": signature_data_url(), "strokes": [[[1, 2, 0]]]})
    first = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [early]}).json["results"][0]
    assert first["status"] == "rejected" and first["code"] == "not_on_site" and first["message"]
    replay = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [early]}).json["results"][0]
    # The replay answers with the stored rejection: the same code and the same message as the first answer.
    assert replay == {"op_id": early["op_id"], "status": "duplicate", "code": "not_on_site",
                      "message": first["message"]}


def test_without_a_session_the_answer_is_401_json(app, job):
    response = app.test_client().post("/api/v1/sync", json={"device_id": "p", "ops": []})
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
    assert "Location" not in response.headers


def test_csrf_header_is_required(make_app, job):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = csrf_from(page)
    client.post("/auth/login", data={"username": "t1", "password": PASSWORD, "csrf_token": token})
    ops = [op("visit.arrived", job["number"], minutes=-1)]
    response = client.post("/api/v1/sync", json={"device_id": "p", "ops": ops})
    assert response.status_code == 401 and response.json["error"]["code"] == "csrf_failed"
    header = client.get("/api/v1/session").json["csrf_token"]
    response = client.post("/api/v1/sync", json={"device_id": "p", "ops": ops}, headers={"X-CSRFToken": header})
    assert response.status_code == 200 and response.json["results"][0]["status"] == "applied"


def test_not_the_assignee_is_rejected(app, job):
    other = phone(app, "t2")
    assert sync(other, [op("visit.arrived", job["number"], minutes=-1)]) == ["rejected:not_assignee"]
    assert counts(app, job["number"])["status"] == "visit_scheduled"


def test_an_op_on_a_signed_order_is_order_locked(app, job):
    client = phone(app)
    sync(client, visit_ops(job["number"])[:-1])
    late = [op("note.added", job["number"], {"note_id": str(uuid.uuid4()), "text": "签字后补充"}),
            op("test.recorded", job["number"], {"item": "各通道输入有信号", "passed": False}),
            op("precautions.told", job["number"], {"items": ["改过的注意事项"]})]
    assert sync(client, late) == ["rejected:order_locked"] * 3
    assert counts(app, job["number"])["tests"] == 4


def test_departure_before_signature_is_refused(app, job):
    client = phone(app)
    assert sync(client, [op("visit.arrived", job["number"], minutes=-3),
                         op("visit.departed", job["number"], minutes=-1)]) == ["applied", "rejected:not_signed"]


@pytest.mark.parametrize("body,status,code", [
    (b"not json", 400, "bad_json"), (b"[1,2]", 400, "bad_batch"), (b'{"ops": []}', 400, "bad_device"),
    (b'{"device_id": "p", "ops": {}}', 400, "bad_batch"),
])
def test_malformed_batches(app, job, body, status, code):
    response = phone(app).post("/api/v1/sync", data=body, content_type="application/json")
    assert response.status_code == status and response.json["error"]["code"] == code


def test_oversized_batches_are_413(make_app, job):
    app = make_app(SYNC_MAX_OPS=5, SYNC_MAX_BYTES=4096)
    client = phone(app)
    many = [op("note.added", job["number"], {"note_id": str(uuid.uuid4()), "text": "x"}) for _ in range(6)]
    response = client.post("/api/v1/sync", json={"device_id": "p", "ops": many})
    assert response.status_code == 413 and response.json["error"]["code"] == "too_many_ops"
    big = [op("note.added", job["number"], {"note_id": str(uuid.uuid4()), "text": "长" * 3000})]
    response = client.post("/api/v1/sync", json={"device_id": "p", "ops": big})
    assert response.status_code == 413 and response.json["error"]["code"] == "batch_too_large"
    with app.app_context():
        assert db.session.execute(select(func.count(ProgressNote.id))).scalar_one() == 0


def test_two_servers_syncing_the_same_outbox_at_once_apply_it_once(make_app, job):
    """Two app instances (as two processes or machines behind a balancer) receive the same outbox at the same
    moment: a retry racing the original. Each op is applied exactly once."""
    servers = [make_app(), make_app()]
    clients = [phone(server) for server in servers]
    ops = visit_ops(job["number"])[:10]  # through the precautions
    barrier = threading.Barrier(2)
    answers = [None, None]

    def send(i):
        barrier.wait()
        answers[i] = clients[i].post("/api/v1/sync", json={"device_id": "phone-1", "ops": ops}).json["results"]

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for index in range(len(ops)):
        statuses = sorted(answers[k][index]["status"] for k in range(2))
        assert statuses == ["applied", "duplicate"], (index, statuses)  # sorted: one applied, one duplicate
    assert counts(servers[0], job["number"]) == {"notes": 1, "tests": 4, "signatures": 0, "status": "on_site"}


def test_me_jobs_has_what_the_phone_needs_offline(app, job):
    data = phone(app).get("/api/v1/me/jobs").json
    assert data["server_time"] and data["user"]["username"] == "t1"
    # The phone's "due soon" highlight is the policy's threshold, shipped with the feed.
    from domain.sla.policy import DEFAULT_POLICY

    assert data["due_soon_minutes"] == DEFAULT_POLICY.due_soon_minutes
    (mine,) = data["jobs"]
    assert mine["number"] == job["number"] and mine["status"] == "visit_scheduled"
    assert mine["customer"]["phone"] == "13600136004" and mine["visit"]["checklist"]
    assert all("id" in item for item in mine["visit"]["checklist"])
    assert mine["templates"]["acceptance_tests"] and mine["templates"]["precautions"]
    assert {c["name"] for c in mine["clocks"]} >= {"first_contact", "preparation"}
    assert phone(app, "t2").get("/api/v1/me/jobs").json["jobs"] == []


def test_openapi_document_lists_every_op_kind(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert {"/api/v1/sync", "/api/v1/sync/photo", "/api/v1/me/jobs", "/api/v1/session"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    for kind in ("contact.made", "note.added", "test.recorded", "order.signed", "visit.departed"):
        assert f"op.{kind}" in schemas
    assert schemas["op.order.signed"]["properties"]["data"]["properties"]["rating"]["maximum"] == 5


def test_one_registry_gives_the_kinds_their_payload_schemas_and_the_flow(app):
    """The registry of op kinds is the one list: the applier's kinds, the OpenAPI payloads and the flow's steps."""
    from domain.fieldwork import flow
    from domain.fieldwork.ops import REGISTRY

    schemas = app.test_client().get("/api/v1/openapi.json").json["components"]["schemas"]
    assert set(REGISTRY) == set(flow.STEPS)
    for kind, spec in REGISTRY.items():
        data = schemas[f"op.{kind}"]["properties"]["data"]
        required = {name for name, field in spec.payload.model_fields.items() if field.is_required()}
        assert set(data.get("required", [])) == required, kind
    assert schemas["op.contact.made"]["properties"]["data"]["properties"]["method"]["$ref"] == \
        "#/components/schemas/ContactMethod"
    assert set(schemas["ContactMethod"]["enum"]) >= {"phone", "screen_share"}
    assert {"op.remote.guided", "op.work.recorded", "op.order.submitted"} <= set(schemas)


def test_a_payload_that_does_not_fit_its_kind_is_refused_naming_the_field(app, job):
    client = phone(app)
    number = job["number"]
    answer = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [
        op("note.added", number, {"note_id": str(uuid.uuid4()), "text": 12}),
        op("contact.made", number, {"method": "pigeon"}),
        op("visit.scheduled", number, {"scheduled_at": "tomorrow", "address": "x"}),
        op("prep.confirmed", number, {"items": ["1"]}),
    ]}, headers={"Accept-Language": "en"}).json["results"]
    assert [(r["status"], r["code"]) for r in answer] == [("rejected", "bad_payload"), ("rejected", "bad_payload"),
                                                          ("rejected", "bad_time"), ("rejected", "bad_payload")]
    assert "text" in answer[0]["message"] and "method" in answer[1]["message"]
    assert "items.0" in answer[3]["message"]


# --- photos -------------------------------------------------------------------------------------------------


_photo_times: dict[str, str] = {}


def send_photo(client, number, data: bytes, op_id=None, name="p.jpg"):
    op_id = op_id or str(uuid.uuid4())
    when = _photo_times.setdefault(op_id, at(-1))  # a resent op carries the same time, as the phone's outbox does
    fields = {"op_id": op_id, "ticket": number, "at": when, "device_id": "phone-1",
              "caption": "现场照片", "file": (io.BytesIO(data), name)}
    response = client.post("/api/v1/sync/photo", data=fields, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.json["results"][0]
    return result["status"] if result["status"] != "rejected" else f"rejected:{result['code']}"


def test_photo_is_upright_small_and_without_gps(app, job):
    client = phone(app)
    sync(client, [op("visit.arrived", job["number"], minutes=-5)])
    op_id = str(uuid.uuid4())
    assert send_photo(client, job["number"], jpeg_with_gps_and_rotation(), op_id) == "applied"
    assert send_photo(client, job["number"], jpeg_with_gps_and_rotation(), op_id) == "duplicate"
    with app.app_context():
        (photo,) = db.session.execute(select(Photo)).scalars().all()
        from domain.core.models import Blob

        stored = Image.open(io.BytesIO(db.session.get(Blob, photo.blob_sha256).data))
        assert (stored.width, stored.height) == (1067, 1600) == (photo.width, photo.height)  # rotated, <= 1600
        assert not stored.getexif() and "exif" not in stored.info
        top = stored.getpixel((stored.width // 2, 10))
        assert top[2] > top[0]  # the blue left half is now on top: orientation applied
        thumb = Image.open(io.BytesIO(db.session.get(Blob, photo.thumb_sha256).data))
        assert max(thumb.size) == 400


def test_photos_sent_earlier_come_back_in_the_jobs_feed_as_thumbnails_only_their_viewers_get(app, job):
    """The phone shows each photo sent earlier: the feed gives a thumbnail URL (a small JPEG, cached for good,
    behind the request's access check); the photo op keeps the phone's own clock beside the corrected time."""
    client = phone(app)
    sync(client, [op("visit.arrived", job["number"], minutes=-5)])
    op_id, device_at = str(uuid.uuid4()), at(4)
    response = client.post("/api/v1/sync/photo", data={
        "op_id": op_id, "ticket": job["number"], "at": at(-1), "device_at": device_at, "device_id": "phone-1",
        "caption": "机柜背面", "file": (io.BytesIO(jpeg_with_gps_and_rotation()), "p.jpg")},
        content_type="multipart/form-data")
    assert response.json["results"][0]["status"] == "applied"
    with app.app_context():
        record = db.session.execute(select(SyncOp).where(SyncOp.op_id == uuid.UUID(op_id))).scalar_one()
        assert record.device_at == datetime.fromisoformat(device_at)
    feed = client.get("/api/v1/me/jobs").json
    (photo,) = next(j for j in feed["jobs"] if j["number"] == job["number"])["photos"]
    assert photo["caption"] == "机柜背面" and photo["thumb_url"].endswith(f"/photos/{photo['id']}?size=thumb")
    thumb = client.get(photo["thumb_url"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert "max-age=31536000" in thumb.headers["Cache-Control"] and "private" in thumb.headers["Cache-Control"]
    image = Image.open(io.BytesIO(thumb.data))
    assert image.format == "JPEG" and max(image.size) <= 400 and len(thumb.data) < 60_000
    assert client.get(photo["thumb_url"], headers={"If-None-Match": thumb.headers["ETag"]}).status_code == 304
    assert phone(app, "t2").get(photo["thumb_url"]).status_code == 403  # another technician's request


@pytest.mark.parametrize("make,code", [
    (lambda: b"", "photo_empty"),
    (lambda: b"%PDF-1.7 this is not an image", "photo_unreadable"),
    (lambda: jpeg_with_gps_and_rotation()[:5000], "photo_unreadable"),
    (lambda: _gif(), "photo_format"),
    (lambda: _bomb(), "photo_bomb"),
])
def test_bad_photos_are_rejected_with_a_code(app, job, make, code):
    client = phone(app)
    sync(client, [op("visit.arrived", job["number"], minutes=-5)])
    op_id = str(uuid.uuid4())
    assert send_photo(client, job["number"], make(), op_id) == f"rejected:{code}"
    assert send_photo(client, job["number"], make(), op_id) == "duplicate"
    with app.app_context():
        assert db.session.execute(select(func.count(Photo.id))).scalar_one() == 0
        assert db.session.execute(select(SyncOp.code).where(SyncOp.kind == "photo.added")).scalar_one() == code


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (50, 50)).save(out, "GIF")
    return out.getvalue()


def _bomb() -> bytes:
    """A PNG that declares 20000 x 20000 pixels but compresses to a few hundred KB."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    return out.getvalue()


def test_huge_upload_is_refused_before_reading(make_app, job):
    # Below the test client's 500 KB spooling threshold, so the test leaves no temporary file behind.
    app = make_app(MAX_CONTENT_LENGTH=100 * 1024)
    client = phone(app)
    response = client.post("/api/v1/sync/photo", data={"op_id": str(uuid.uuid4()), "ticket": job["number"],
                                                        "at": at(), "device_id": "p",
                                                        "file": (io.BytesIO(b"x" * 200_000), "big.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 413 and response.json["error"]["code"] == "too_large"
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 0


def test_ticket_state_after_sync_is_on_site(app, job):
    client = phone(app)
    sync(client, [op("visit.arrived", job["number"], minutes=-5)])
    with app.app_context():
        assert db.session.execute(select(Ticket.status).where(Ticket.number == job["number"])).scalar_one() \
            == TicketStatus.ON_SITE


# --- two real app processes ---------------------------------------------------------------------------------


def test_two_app_processes_syncing_the_same_outbox_at_once_apply_it_once(app, job, database_url, tmp_path):
    """Two app server processes on one database receive the same outbox at the same moment (a phone whose retry
    reached the second server while the first was still working): every op is stored once and applied once."""
    ops = visit_ops(job["number"])[:10]  # through the precautions
    with app_processes(database_url, tmp_path) as bases:
        opener, csrf = http_phone(bases[0])  # one session, valid on both servers (signed cookie, shared key)
        body = json.dumps({"device_id": "phone-1", "ops": ops}).encode()
        barrier = threading.Barrier(2)
        answers, errors = [None, None], []

        def send(i):
            request = urllib.request.Request(bases[i] + "/api/v1/sync", data=body, method="POST", headers={
                "Content-Type": "application/json", "X-CSRFToken": csrf})
            try:
                barrier.wait(30)
                with opener.open(request, timeout=60) as response:
                    answers[i] = json.loads(response.read())["results"]
            except Exception as error:  # noqa: BLE001 - reported below, with the server logs
                errors.append(error)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        logs = "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("server-*.log")))
        assert not errors and None not in answers, (errors, logs)
    for index, sent in enumerate(ops):
        statuses = sorted(answers[k][index]["status"] for k in range(2))
        assert statuses == ["applied", "duplicate"], (index, sent["kind"], statuses)
    with app.app_context():
        rows = db.session.execute(select(SyncOp.op_id, SyncOp.status)).all()
        assert sorted(str(r.op_id) for r in rows) == sorted(o["op_id"] for o in ops)  # one row per op
        assert {r.status.value for r in rows} == {"applied"}
        actions = dict(db.session.execute(select(AuditEvent.action, func.count(AuditEvent.id))
                                          .where(AuditEvent.via == "sync").group_by(AuditEvent.action)).all())
        assert actions == {"visit.arrived": 1, "problem.confirmed": 1, "note.added": 1, "test.recorded": 4,
                           "work.recorded": 1, "customer.confirmed": 1, "precautions.told": 1}
    assert counts(app, job["number"]) == {"notes": 1, "tests": 4, "signatures": 0, "status": "on_site"}
