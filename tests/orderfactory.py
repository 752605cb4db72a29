"""Build a request taken all the way to the customer's signature, through the domain functions."""
from __future__ import annotations

import base64
import io
import math
import uuid
from datetime import UTC, datetime, timedelta

from PIL import Image, ImageDraw

from domain.core import context
from domain.core.blobs import store_blob
from domain.core.db import db
from domain.core.enums import ContactMethod, Role
from domain.core.models import User
from domain.fieldwork import onsite, signing
from domain.fieldwork.models import Photo
from domain.requests import assignment, intake, progress_notes, remote_work, visits
from domain.requests.catalog import ensure_catalog

from .helpers import SHANGHAI


def signature_data_url(width: int = 600, height: int = 200, blank: bool = False) -> str:
    """A transparent PNG with a hand-drawn looking line, as signature_pad produces."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    if not blank:
        draw = ImageDraw.Draw(image)
        points = [(40 + x * 5, height / 2 + 40 * math.sin(x / 5)) for x in range(100)]
        draw.line(points, fill=(20, 20, 20, 255), width=5)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def photo_blobs(index: int) -> tuple[str, str]:
    """A photo and its thumbnail stored as blobs (the photo pipeline itself belongs to the offline app)."""
    image = Image.new("RGB", (1600, 1200), (40 + index * 7 % 200, 90, 140))
    draw = ImageDraw.Draw(image)
    draw.rectangle((200, 200, 1400, 1000), outline=(255, 255, 255), width=20)
    draw.text((300, 500), f"photo {index}", fill=(255, 255, 0))
    full, thumb = io.BytesIO(), io.BytesIO()
    image.save(full, "JPEG", quality=80)
    image.resize((400, 300)).save(thumb, "JPEG", quality=75)
    return store_blob(full.getvalue(), "image/jpeg").sha256, store_blob(thumb.getvalue(), "image/jpeg").sha256


def make_signed_order(make_user, *, notes=("已到达现场，与客户确认故障现象。", "更换 SDI 线缆后信号恢复。"),
                      photos: int = 4, tech_locale: str | None = None, sign: bool = True,
                      internal_notes=(),
                      problem: str = "比赛直播中切换台突然无法切换机位，PGM 画面卡住。") -> dict:
    """Returns the user ids and the request number; the caller is inside an app context."""
    suffix = uuid.uuid4().hex[:5]
    ids = {
        "desk": make_user(Role.DISPATCHER, f"desk-{suffix}")[0],
        "boss": make_user(Role.SUPERVISOR, f"boss-{suffix}")[0],
        "tech": make_user(Role.TECHNICIAN, f"tech-{suffix}", locale=tech_locale)[0],
        "other": make_user(Role.TECHNICIAN, f"other-{suffix}")[0],
        "expert": make_user(Role.EXPERT, f"expert-{suffix}")[0],
    }
    ensure_catalog()
    now = datetime.now(UTC) - timedelta(hours=5)

    def ctx(who, minutes):
        return context.Context(actor=db.session.get(User, ids[who]), tz=SHANGHAI,
                                now=now + timedelta(minutes=minutes))

    ticket = intake.create_request({
        "customer_name": "鲸鱼电竞俱乐部", "contact_person": "黄磊", "contact_phone": "13900139002",
        "address": "上海市杨浦区政通路177号 B1 赛事中心", "device_model": "Blackmagic ATEM Mini Pro ISO",
        "serial_number": "ATM-23-0412", "problem": problem, "urgency": "urgent",
        "reported_at": (now - timedelta(minutes=4)).isoformat()}, ctx("desk", 0))
    db.session.flush()
    assignment.assign(ticket, db.session.get(User, ids["tech"]), ctx("boss", 3))
    remote_work.record_contact(ticket, ctx("tech", 10), method=ContactMethod.PHONE, at=now + timedelta(minutes=10))
    visit = visits.schedule_visit(ticket, ctx("tech", 20), scheduled_at=now + timedelta(minutes=150),
                                    address="上海市杨浦区政通路177号 B1 赛事中心", agreed_with="黄磊")
    db.session.flush()
    visits.confirm_preparation(ticket, ctx("tech", 70), checked_item_ids={i.id for i in visit.prep_items})
    onsite.arrive(ticket, ctx("tech", 145))
    onsite.confirm_problem(ticket, ctx("tech", 150), "两路 SDI 输入无信号，PGM 卡死")
    for i, text in enumerate(notes):
        progress_notes.add_note(ticket, text, ctx("tech", 155 + i), shown_to_customer=True)
    for i, text in enumerate(internal_notes):
        progress_notes.add_note(ticket, text, ctx("tech", 155 + len(notes) + i), shown_to_customer=False)
    db.session.flush()
    for i in range(photos):
        full, thumb = photo_blobs(i)
        db.session.add(Photo(ticket=ticket, blob_sha256=full, thumb_sha256=thumb, width=1600, height=1200,
                             caption=f"现场照片 {i + 1}", taken_at=now + timedelta(minutes=160 + i),
                             uploaded_by_id=ids["tech"]))
    onsite.record_work(ticket, ctx("tech", 175), cause="SDI 线缆接头松动",
                       work_done="更换 SDI 线缆并重新插紧，切换恢复正常。", at=now + timedelta(minutes=175))
    # The switcher's whole checklist (every item needs a result before the customer confirms), and one of the
    # technician's own.
    for item in ("所有输入源正常显示", "切换无黑场与卡顿", "PGM 输出与推流正常", "字幕与画中画正常", "开机自检正常"):
        onsite.record_test(ticket, ctx("tech", 180), item=item, passed=True, note="")
    onsite.confirm_customer(ticket, ctx("tech", 185), "客户确认设备运行正常")
    onsite.tell_precautions(ticket, ctx("tech", 186), ["固件升级前请联系技术支持", "保持设备通风"])
    if sign:
        signing.sign_order(ticket, ctx("tech", 190), signer_name="黄磊", rating=5, comment="响应很快，处理专业",
                           signature_png=signature_data_url(), strokes=[[[10, 20, 0], [30, 40, 16]]],
                           device_id="phone-1", signed_at_client=now + timedelta(minutes=190))
    db.session.commit()
    return {"ids": ids, "number": ticket.number}


def make_prepared_visit(make_user, *, tech: str, other_tech: str | None = None) -> dict:
    """An urgent request whose visit is agreed for ten minutes from now and prepared, assigned to `tech`.
    The caller is inside an app context."""
    ids = {"desk": make_user(Role.DISPATCHER, "desk")[0], "boss": make_user(Role.SUPERVISOR, "boss")[0],
           "tech": make_user(Role.TECHNICIAN, tech)[0]}
    if other_tech:
        ids["tech2"] = make_user(Role.TECHNICIAN, other_tech)[0]
    ensure_catalog()
    now = datetime.now(UTC) - timedelta(minutes=90)

    def ctx(who, minutes):
        return context.Context(actor=db.session.get(User, ids[who]), tz=SHANGHAI,
                                now=now + timedelta(minutes=minutes))

    ticket = intake.create_request({"customer_name": "远山音乐现场", "contact_person": "赵远",
                                      "contact_phone": "13600136004", "address": "上海市静安区万航渡路1188号",
                                      "device_model": "Behringer X32 Compact", "problem": "主输出无声",
                                      "urgency": "urgent"}, ctx("desk", 0))
    db.session.flush()
    assignment.assign(ticket, db.session.get(User, ids["tech"]), ctx("boss", 2))
    remote_work.record_contact(ticket, ctx("tech", 5), method=ContactMethod.PHONE)
    visit = visits.schedule_visit(ticket, ctx("tech", 10), scheduled_at=now + timedelta(minutes=100),
                                    address="上海市静安区万航渡路1188号")
    db.session.flush()
    visits.confirm_preparation(ticket, ctx("tech", 20), checked_item_ids={i.id for i in visit.prep_items})
    db.session.commit()
    return {"ids": ids, "number": ticket.number}
