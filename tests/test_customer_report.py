"""The customer's report page, no account: from a device's QR label (/d/<code>, channel qr) and the website
(/report, channel web); the intake clock starts when the customer sends it; customer service is alerted and
forwards it; photos through the photo pipeline; the duplicate guard, the honeypot, the rate limits; forged and
re-issued labels; hostile input. The tracking page and its revocation."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from domain.alerts.models import Notification
from domain.core.blobs import sha256_hex  # noqa: F401 - imported for the photo checks below
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import Blob
from domain.core.types import utcnow
from domain.fieldwork.models import Photo
from domain.requests.catalog import ensure_catalog
from domain.requests.models import Ticket

from .helpers import csrf_from, signed_client

DEVICE = {"asset_number": "ZC-ENC-0001", "serial_number": "MW2301A77", "model": "Magewell Ultra Encode HDMI"}
FORM = {"name": "王小明", "mobile": "138 0013 8000", "problem": "编码器每隔几分钟重启，直播断流",
        "address": "上海市徐汇区漕溪北路88号", "urgent": "y"}


@pytest.fixture
def world(make_app, make_user):
    app = make_app(SERVICE_PHONE="400-820-1234", PUBLIC_URL="https://fs.example.cn")
    with app.app_context():
        ensure_catalog()
        db.session.commit()
    ids = {name: make_user(role, name)[0] for name, role in [
        ("desk", Role.DISPATCHER), ("boss", Role.SUPERVISOR), ("li", Role.TECHNICIAN)]}
    created = signed_client(app, "desk").post("/api/v1/devices", json=DEVICE).get_json()
    return {"app": app, "ids": ids, "path": created["report_url"].removeprefix("https://fs.example.cn")}


def _tickets(app) -> list[Ticket]:
    with app.app_context():
        return db.session.execute(select(Ticket).order_by(Ticket.id)).scalars().all()


def _count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _jpeg(width=1200, height=900, gps=True) -> bytes:
    image = Image.new("RGB", (width, height), (200, 60, 30))
    exif = Image.Exif()
    if gps:
        exif[0x8825] = {1: "N", 2: (31.0, 12.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
        exif[0x010F] = "HUAWEI"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def _send(client, path, form=None, photos=(), environ_base=None, **extra):
    data = {**(form or FORM), **extra}
    data["photos"] = [(io.BytesIO(raw), f"p{i}.jpg") for i, raw in enumerate(photos)]
    return client.post(path, data=data, content_type="multipart/form-data", environ_base=environ_base or {})


def test_a_report_from_the_label_opens_a_qr_request_whose_intake_clock_runs_until_forwarded(world):
    app = world["app"]
    client = app.test_client()
    page = client.get(world["path"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Magewell Ultra Encode HDMI" in html and "ZC-ENC-0001" in html
    for name in ("name", "mobile", "problem", "address", "urgent", "photos"):
        assert f'name="{name}"' in html
    assert "<script" not in html.split("<body", 1)[1]  # the form needs no script to submit
    before = utcnow()
    sent = _send(client, world["path"], photos=[_jpeg()])
    assert sent.status_code == 200, sent.get_data(as_text=True)[:2000]
    body = sent.get_data(as_text=True)
    number = re.search(r"FS-\d{4}-\d{6}", body).group(0)
    tracking = re.search(r'href="(/c/[^"]+)"', body).group(1)
    assert number in body and "https://fs.example.cn/c/" in body

    desk = signed_client(app, "desk")
    data = desk.get(f"/api/v1/requests/{number}").get_json()
    assert data["channel"] == "qr" and data["urgency"] == "urgent" and data["status"] == "new"
    assert data["device"]["asset_number"] == "ZC-ENC-0001" and data["serial_number"] == "MW2301A77"
    # The same link (request and generation), signed a second apart or not: a token carries its time of signing.
    assert data["contact_phone"] == "13800138000" and data["tracking_url"].startswith("https://fs.example.cn/c/")
    assert data["tracking_url"].split("/c/")[1].split(".")[0] == tracking.split("/c/")[1].split(".")[0]
    from datetime import datetime

    reported = datetime.fromisoformat(data["reported_at"])
    assert before - timedelta(seconds=1) <= reported <= utcnow()
    clocks = {c["name"]: c for c in data["clocks"]}
    assert clocks["intake"]["state"] == "pending"
    assert datetime.fromisoformat(clocks["intake"]["due_at"]) == reported + timedelta(minutes=15)
    assert clocks["first_contact"]["due_at"] is None  # starts when customer service forwards it
    with app.app_context():
        alerted = db.session.execute(select(Notification.user_id).where(Notification.kind == "customer_report")
                                     ).scalars().all()
        assert sorted(alerted) == sorted([world["ids"]["desk"], world["ids"]["boss"]])
        photo = db.session.execute(select(Photo)).scalar_one()
        assert photo.uploaded_by_id is None
        stored = db.session.get(Blob, photo.blob_sha256).data
        assert b"HUAWEI" not in stored and Image.open(io.BytesIO(stored)).getexif().get(0x8825) is None

    board = desk.get("/dispatch/board").get_data(as_text=True)
    assert number in board
    detail = desk.get(f"/dispatch/requests/{number}").get_data(as_text=True)
    assert 'id="forward"' in detail
    assert desk.post(f"/dispatch/requests/{number}/forward").status_code == 302
    clocks = {c["name"]: c for c in desk.get(f"/api/v1/requests/{number}").get_json()["clocks"]}
    assert clocks["intake"]["state"] == "met" and clocks["first_contact"]["state"] == "pending"
    assert desk.post(f"/dispatch/requests/{number}/forward").status_code == 302  # refused and flashed, no change
    assert signed_client(app, "li").post(f"/dispatch/requests/{number}/forward").status_code == 403

    tracked = client.get(tracking)
    assert tracked.status_code == 200 and number in tracked.get_data(as_text=True)


def test_assigning_a_report_not_yet_forwarded_forwards_it(world):
    app = world["app"]
    number = re.search(r"FS-\d{4}-\d{6}", _send(app.test_client(), world["path"]).get_data(as_text=True)).group(0)
    boss = signed_client(app, "boss")
    assert boss.post(f"/api/v1/requests/{number}/assign", json={"technician": "li"}).status_code == 200
    clocks = {c["name"]: c for c in boss.get(f"/api/v1/requests/{number}").get_json()["clocks"]}
    assert clocks["intake"]["state"] == "met" and clocks["first_contact"]["state"] == "pending"


def test_the_same_device_and_mobile_within_30_minutes_joins_the_open_request(world):
    app = world["app"]
    first = _send(app.test_client(), world["path"]).get_data(as_text=True)
    again = _send(app.test_client(), world["path"], problem="现在完全无法开机", photos=[_jpeg(gps=False)])
    assert again.status_code == 200
    number = re.search(r"FS-\d{4}-\d{6}", first).group(0)
    assert number in again.get_data(as_text=True)
    other = _send(app.test_client(), world["path"], mobile="13900139000").get_data(as_text=True)
    assert number not in other
    tickets = _tickets(app)
    assert len(tickets) == 2 and "现在完全无法开机" in tickets[0].problem
    assert _count(app, Photo) == 1
    with app.app_context():  # 31 minutes later it is a new request
        ticket = db.session.get(Ticket, tickets[0].id)
        ticket.reported_at = utcnow() - timedelta(minutes=31)
        db.session.commit()
    _send(app.test_client(), world["path"])
    assert len(_tickets(app)) == 3


def test_the_website_form_names_the_device_in_words_and_joins_only_from_the_same_browser(world):
    app = world["app"]
    client = app.test_client()
    missing = _send(client, "/report")
    assert missing.status_code == 400 and 'id="device-error"' in missing.get_data(as_text=True)
    sent = _send(client, "/report", device="ATEM Mini Pro ISO")
    assert sent.status_code == 200
    number = re.search(r"FS-\d{4}-\d{6}", sent.get_data(as_text=True)).group(0)
    ticket = _tickets(app)[0]
    assert ticket.channel.value == "web" and ticket.device_model_text == "Blackmagic ATEM Mini Pro ISO"
    assert ticket.device_id is None
    assert number in _send(client, "/report", device="ATEM Mini Pro ISO").get_data(as_text=True)  # a replay
    assert number not in _send(app.test_client(), "/report", device="ATEM Mini Pro ISO").get_data(as_text=True)
    assert len(_tickets(app)) == 2
    # An asset number typed on the website links the registered device for customer service, but the customer's
    # pages show only what was typed.
    typed = _send(app.test_client(), "/report", device="zc-enc-0001", mobile="13700137000").get_data(as_text=True)
    assert "Magewell" not in typed
    ticket = _tickets(app)[-1]
    assert ticket.device_id is not None and ticket.device_model_text == "zc-enc-0001"
    assert ticket.serial_number == "MW2301A77"
    tracking = re.search(r'href="(/c/[^"]+)"', typed).group(1)
    assert "Magewell" not in app.test_client().get(tracking).get_data(as_text=True)


def test_forged_reissued_and_retired_labels_all_say_the_label_is_no_longer_valid(world):
    app = world["app"]
    client = app.test_client()
    old = world["path"]
    desk = signed_client(app, "desk")
    assert desk.post("/devices/ZC-ENC-0001/label").status_code == 302
    new = desk.get("/api/v1/devices/ZC-ENC-0001").get_json()["report_url"].removeprefix("https://fs.example.cn")
    assert client.get(new).status_code == 200
    answers = {}
    for label, path in [("reissued", old), ("forged", "/d/abcdefghijkmnpqr"), ("junk", "/d/%F0%9F%92%A9"),
                        ("long", "/d/" + "a" * 300)]:
        response = client.get(path)
        assert response.status_code == 404, label
        text = response.get_data(as_text=True)
        assert "400-820-1234" in text and "ZC-ENC" not in text and "Magewell" not in text
        answers[label] = re.sub(r'value="[^"]*"', "", text)
    assert len(set(answers.values())) == 1  # nothing tells a forged code from a retired one
    assert _send(client, old).status_code == 404 and _tickets(app) == []
    desk.post("/devices/ZC-ENC-0001/edit", data={"asset_number": "ZC-ENC-0001", "model": DEVICE["model"],
                                                 "state": "retired"})
    assert client.get(new).status_code == 404


def test_the_honeypot_and_the_csrf_token_refuse_without_losing_what_was_typed(world, make_app):
    app = world["app"]
    trap = _send(app.test_client(), world["path"], website="http://spam.example")
    assert trap.status_code == 400 and _tickets(app) == []
    strict = make_app(WTF_CSRF_ENABLED=True, SERVICE_PHONE="400-820-1234")
    client = strict.test_client()
    path = world["path"]
    expired = _send(client, path)
    assert expired.status_code == 400 and "编码器每隔几分钟重启" in expired.get_data(as_text=True)
    token = csrf_from(client.get(path).get_data(as_text=True))
    assert _send(client, path, csrf_token=token).status_code == 200


def _png_bomb(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize("field, value", [
    ("name", "王\x00小明"), ("problem", "x" * 2001), ("mobile", "138²0013800"), ("mobile", "1" * 20),
    ("mobile", "+86 ١٣٨٠٠١٣٨٠٠٠"), ("address", "\x00"), ("name", ""), ("problem", "   "),
])
def test_hostile_fields_are_form_errors_and_open_nothing(world, field, value):
    app = world["app"]
    response = _send(app.test_client(), world["path"], **{field: value})
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert _tickets(app) == []


def test_hostile_bodies_and_photos_never_500(world):
    app = world["app"]
    client = app.test_client()
    huge = client.post(world["path"], data={**FORM, "problem": "长" * (10 * 1024 * 1024 // 3)})
    assert huge.status_code in (400, 413)
    surrogate = client.post(world["path"], data=b"name=%ED%A0%80&mobile=13800138000&problem=x",
                            content_type="application/x-www-form-urlencoded")
    assert surrogate.status_code == 200  # undecodable bytes stay as written (%ED%A0%80): stored, never a 500
    assert all("\ud800" not in t.contact_name for t in _tickets(app))
    bomb = _send(client, world["path"], photos=[_png_bomb(10000, 5000)])  # 50 megapixels, a few KB
    assert bomb.status_code == 400 and 'id="photos-error"' in bomb.get_data(as_text=True)
    garbage = _send(client, world["path"], photos=[b"\xff\xd8\xff" + b"\x00" * 5000])
    assert garbage.status_code == 400
    four = _send(client, world["path"], photos=[_jpeg(64, 64, gps=False)] * 4)
    assert four.status_code == 400
    assert len(_tickets(app)) == 1 and _count(app, Photo) == 0


def test_a_photo_over_the_size_limit_is_a_form_error(make_app, world):
    # A limit of 100 KB here: the test client spools larger bodies to files it never closes.
    app = make_app(REPORT_PHOTO_MAX_BYTES=100 * 1024)
    response = _send(app.test_client(), world["path"], photos=[_jpeg(2000, 2000, gps=False) + b"\x00" * 150_000])
    assert response.status_code == 400 and 'id="photos-error"' in response.get_data(as_text=True)
    assert _tickets(app) == []


def test_rate_limits_per_address_and_per_device(make_app, world):
    app = make_app(RATELIMIT_ENABLED=True, REPORT_RATE_LIMIT="3 per minute", REPORT_DEVICE_RATE_LIMIT="4 per hour",
                   SERVICE_PHONE="400-820-1234")
    client = app.test_client()
    codes = [_send(client, world["path"], mobile=f"1380013800{i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    others = [_send(app.test_client(), world["path"], mobile=f"1390013900{i}",
                    environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}).status_code for i in range(3)]
    assert others == [200, 429, 429]  # the label's fifth report, from any address
    assert _send(app.test_client(), "/report", device="x", environ_base={"REMOTE_ADDR": "10.0.1.1"}
                 ).status_code == 200


def test_the_tracking_page_shows_the_state_and_technician_but_nothing_internal_and_can_be_revoked(world):
    app = world["app"]
    client = app.test_client()
    body = _send(client, world["path"]).get_data(as_text=True)
    number = re.search(r"FS-\d{4}-\d{6}", body).group(0)
    tracking = re.search(r'href="(/c/[^"]+)"', body).group(1)
    boss = signed_client(app, "boss")
    boss.post(f"/api/v1/requests/{number}/assign", json={"technician": "li"})
    boss.post(f"/dispatch/requests/{number}/notes", data={"note-text": "内部备注：客户上次欠费"})
    page = client.get(tracking).get_data(as_text=True)
    assert "Test technician" in page and number in page
    assert "内部备注" not in page and "欠费" not in page and "截止" not in page and "deadline" not in page.lower()
    assert "13800138000" not in page
    assert client.get(tracking[:-3] + "abc").status_code == 404
    with app.app_context():
        from domain.core.context import Context
        from domain.core.models import User
        from domain.customer.tracking import revoke_tracking_links

        ticket = db.session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        revoke_tracking_links(ticket, Context(actor=db.session.get(User, world["ids"]["boss"]), tz=None))
        db.session.commit()
    assert client.get(tracking).status_code == 404
    fresh = boss.get(f"/api/v1/requests/{number}").get_json()["tracking_url"].removeprefix("https://fs.example.cn")
    assert fresh != tracking and client.get(fresh).status_code == 200


def test_a_tracking_link_expires_with_the_share_link_rules(world):
    app = world["app"]
    body = _send(app.test_client(), world["path"]).get_data(as_text=True)
    token = re.search(r'href="/c/([^"]+)"', body).group(1)
    with app.app_context():
        from domain.core.site import current
        from domain.customer.tracking import ticket_for_token

        site = current()
        assert ticket_for_token(token, site, utcnow() + timedelta(days=site.share_link_days - 1)) is not None
        assert ticket_for_token(token, site, utcnow() + timedelta(days=site.share_link_days + 1)) is None
        forged = token.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAA"
        assert ticket_for_token(forged, site, utcnow()) is None
