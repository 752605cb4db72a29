"""Demo data: one user per role and about twenty requests spread over every stage of the process."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlalchemy import select

from domain.core import accounts, site
from domain.core.blobs import store_blob
from domain.core.context import Context
from domain.core.db import db
from domain.core.enums import (
    AnalysisTrigger,
    Channel,
    ClockName,
    ContactMethod,
    RemoteOutcome,
    ReviewDecision,
    Role,
    SignatureMissing,
    TicketStatus,
    Urgency,
)
from domain.core.models import User
from domain.core.types import utcnow
from domain.documents.models import Review
from domain.documents.orders import freeze_order
from domain.fieldwork.models import AcceptanceTest, Precaution, Signature
from domain.requests import workflow
from domain.requests.assignment import assign, cancel
from domain.requests.catalog import ensure_catalog
from domain.requests.intake import create_request
from domain.requests.models import Customer, DeviceModel, FaultCategory, ProgressNote, Ticket
from domain.requests.remote_work import record_contact, record_remote_session, resolve_remotely
from domain.requests.visits import confirm_preparation, schedule_visit
from domain.sla.clocks import start_clock, stop_clock
from domain.sla.policy import DEFAULT_POLICY

DEMO_PASSWORD = "demo1234"


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    is_admin: bool = False


DEMO_USERS = [
    DemoUser("dispatcher", "王芳", Role.DISPATCHER),
    DemoUser("tech", "李强", Role.TECHNICIAN),
    DemoUser("tech2", "张伟", Role.TECHNICIAN),
    DemoUser("expert", "陈静", Role.EXPERT),
    DemoUser("supervisor", "刘洋", Role.SUPERVISOR),
    DemoUser("admin", "系统管理员", Role.ADMIN),
]

CUSTOMERS = [
    ("星河传媒直播间", "周敏", "13800138001", "上海市徐汇区漕溪北路88号 5楼 直播间A"),
    ("鲸鱼电竞俱乐部", "黄磊", "13900139002", "上海市杨浦区政通路177号 B1 赛事中心"),
    ("小满带货工作室", "林小满", "13700137003", "杭州市余杭区文一西路998号 3幢 201"),
    ("远山音乐现场", "赵远", "13600136004", "上海市静安区万航渡路1188号 Livehouse"),
    ("晨光教育", "孙老师", "13500135005", "苏州市工业园区星湖街328号 2号楼 演播室"),
    ("青禾婚礼策划", "吴青", "13300133006", "上海市浦东新区世纪大道1号 宴会厅"),
]

# (status, urgency, customer index, brand, model, serial, problem, hours since the customer got in touch)
SCENARIOS = [
    (TicketStatus.NEW, Urgency.URGENT, 1, "Blackmagic", "ATEM Mini Pro ISO", "ATM-23-0412",
     "比赛直播中切换台突然无法切换机位，PGM 画面卡住，直播已受影响。", 0.2),
    (TicketStatus.NEW, Urgency.NORMAL, 4, "Rode", "RODECaster Pro II", "RCP-88120",
     "调音台第3通道偶尔有轻微电流声，其他通道正常。", 0.5),
    (TicketStatus.ASSIGNED, Urgency.URGENT, 0, "Magewell", "Ultra Encode HDMI", "MWE-5521",
     "编码器推流到抖音频繁断开，每隔几分钟重连一次，直播间观众反映卡顿。", 0.4),
    (TicketStatus.ASSIGNED, Urgency.NORMAL, 2, "Godox", "SL-60W", "GDX-60-771",
     "补光灯亮度调节旋钮不灵敏，需要转很多圈才有变化。", 1.5),
    (TicketStatus.CONTACTED, Urgency.URGENT, 3, "Behringer", "X32 Compact", "X32C-3390",
     "演出前调音台主输出无声，耳返正常，晚上8点开播。", 2),
    (TicketStatus.CONTACTED, Urgency.NORMAL, 5, "Canon", "XF605", "XF6-10233",
     "摄像机自动对焦在暗光下来回拉风箱。", 5),
    (TicketStatus.REMOTE_RESOLVED, Urgency.NORMAL, 2, "Elgato", "HD60 X", "EHX-2211",
     "OBS 里采集卡画面黑屏，声音正常。", 1.5),
    (TicketStatus.REMOTE_RESOLVED, Urgency.URGENT, 0, "Teradek", "Vidiu X", "TDX-0921",
     "推流鉴权失败，提示密钥无效，直播即将开始。", 50),
    (TicketStatus.REMOTE_RESOLVED, Urgency.NORMAL, 4, "Yamaha", "MG10XU", "YMG-7781",
     "电脑无法识别调音台 USB 声卡。", 75),
    (TicketStatus.VISIT_SCHEDULED, Urgency.URGENT, 1, "Blackmagic", "ATEM Television Studio HD8", "ATV-8812",
     "导播台两路 SDI 输入丢失信号，远程排查线缆与设置均无效，需要上门。", 3),
    (TicketStatus.VISIT_SCHEDULED, Urgency.NORMAL, 5, "Aputure", "LS 300d II", "APT-300-551",
     "灯光在摄像机画面中有明显频闪，调整快门无改善。", 20),
    (TicketStatus.ON_SITE, Urgency.URGENT, 3, "Roland", "V-8HD", "RLV-8HD-22",
     "切换台开机后风扇狂转，十分钟后自动关机。", 6),
    (TicketStatus.ON_SITE, Urgency.NORMAL, 0, "Sony", "PXW-Z190", "SNZ-190-667",
     "摄像机 SDI 输出偶发花屏。", 28),
    (TicketStatus.SIGNED, Urgency.URGENT, 1, "LiveU", "Solo Pro", "LUS-4410",
     "户外赛事直播编码器码率大幅波动，丢帧严重。", 3),
    (TicketStatus.SIGNED, Urgency.NORMAL, 2, "Panasonic", "AW-UE150", "PAU-150-09",
     "PTZ 摄像机云台转动时有异响。", 52),
    (TicketStatus.SUBMITTED, Urgency.NORMAL, 4, "Magewell", "USB Capture HDMI 4K Plus", "MUC-4K-332",
     "教学直播采集卡间歇性掉线。", 80),
    (TicketStatus.SUBMITTED, Urgency.URGENT, 3, "Behringer", "X32 Compact", "X32C-3391",
     "现场演出调音台数字输出无信号。", 100),
    (TicketStatus.APPROVED, Urgency.NORMAL, 5, "Sony", "PXW-Z190", "SNZ-190-668",
     "婚礼跟拍机位无法开机。", 170),
    (TicketStatus.APPROVED, Urgency.URGENT, 0, "Blackmagic", "ATEM Mini Pro ISO", "ATM-23-0413",
     "直播中切换台推流失败，提示网络错误。", 200),
    (TicketStatus.RETURNED, Urgency.NORMAL, 1, "Elgato", "HD60 X", "EHX-2212",
     "采集卡画面延迟过高，影响解说同步。", 120),
    (TicketStatus.CANCELLED, Urgency.NORMAL, 2, "Godox", "SL-60W", "GDX-60-772",
     "客户反映灯不亮，后确认为插排未通电，已自行解决。", 48),
    (TicketStatus.CLOSED_UNSIGNED, Urgency.NORMAL, 5, "Sony", "PXW-Z190", "SNZ-190-669",
     "摄像机 SDI 输出画面偏色，婚礼直播前需要处理。", 30),
    # Older requests: the weekly report's last complete week and the week before have figures whatever the day.
    (TicketStatus.APPROVED, Urgency.URGENT, 3, "Roland", "V-8HD", "RLV-8HD-23",
     "切换台 HDMI 输出间歇性黑屏，直播中断数秒。", 230),
    (TicketStatus.REMOTE_RESOLVED, Urgency.NORMAL, 4, "Elgato", "HD60 X", "EHX-2213",
     "采集卡在直播软件中显示分辨率不对。", 275),
    (TicketStatus.APPROVED, Urgency.NORMAL, 1, "Canon", "XF605", "XF6-10234",
     "摄像机录制时偶尔提示存储卡错误。", 340),
    (TicketStatus.REMOTE_RESOLVED, Urgency.URGENT, 0, "Magewell", "Ultra Encode HDMI", "MWE-5522",
     "编码器推流地址配置后无法连接平台。", 420),
]

def demo_signature_png() -> bytes:
    """A hand-drawn looking signature, for the signed demo orders."""
    image = Image.new("RGB", (480, 160), "white")
    draw = ImageDraw.Draw(image)
    points = [(40 + x * 4, 90 + 30 * math.sin(x / 6) * math.cos(x / 17)) for x in range(100)]
    draw.line(points, fill="black", width=4, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def ensure_demo_users() -> dict[str, User]:
    users = {}
    for spec in DEMO_USERS:
        user = accounts.find_user(spec.username)
        if user is None:
            user = accounts.create_user(spec.username, DEMO_PASSWORD, spec.role, display_name=spec.display_name,
                                        is_admin=spec.is_admin, via="cli")
        users[spec.username] = user
    return users


# Remote fixes the technician went on to submit, and the supervisor to review (by the device's serial number): a
# team does not leave days-old fixes unsubmitted, and the demo should show one running clock of each kind, not a
# board full of old misses.
REMOTE_THEN = {"TDX-0921": TicketStatus.SUBMITTED, "YMG-7781": TicketStatus.APPROVED,
               "EHX-2213": TicketStatus.APPROVED, "MWE-5522": TicketStatus.APPROVED}


def seed_demo(tz: ZoneInfo, now: datetime | None = None) -> tuple[dict[str, User], int]:
    """Create the demo users and, on an empty database, the demo requests. Returns (users, requests made).

    Requests go through the same domain functions as the app (so their clocks are real), replayed at
    plausible past times.
    """
    now = now or utcnow()
    ensure_catalog()
    users = ensure_demo_users()
    if db.session.execute(select(Ticket.id).limit(1)).first() is not None:
        return users, 0
    policy = DEFAULT_POLICY
    customers = [Customer(name=n, contact_person=c, phone=p, address=a) for n, c, p, a in CUSTOMERS]
    db.session.add_all(customers)
    db.session.flush()
    models = {(m.brand, m.model): m for m in db.session.execute(select(DeviceModel)).scalars()}
    signature_blob = store_blob(demo_signature_png(), "image/png")
    technicians = [users["tech"], users["tech2"]]
    for index, (status, urgency, cust, brand, model, serial, problem, hours) in enumerate(SCENARIOS):
        customer, device = customers[cust], models[(brand, model)]
        reported = now - timedelta(hours=hours)
        # Every fourth intake was slow, to show a missed intake clock.
        created = min(now, reported + timedelta(minutes=5 if index % 4 else 22))

        def ctx(actor: User, at: datetime) -> Context:
            return Context(actor=actor, tz=tz, now=min(at, now), via="cli", policy=policy)

        ticket = create_request({
            "customer_id": customer.id, "contact_phone": customer.phone, "contact_person": customer.contact_person,
            "address": customer.address, "device_model_id": device.id, "serial_number": serial,
            "problem": problem, "urgency": urgency.value,
            "channel": [Channel.PHONE, Channel.WEB, Channel.OTHER][index % 3],
            "reported_at": reported.isoformat()}, ctx(users["dispatcher"], created))
        db.session.flush()
        _advance(ticket, REMOTE_THEN.get(serial, status), users, technicians[index % 2], signature_blob.sha256,
                 created, now, ctx, remote=status == TicketStatus.REMOTE_RESOLVED)
    db.session.flush()
    seed_articles(users["expert"], tz, now)
    return users, len(SCENARIOS)


def _write_up(ticket: Ticket, ctx: Context, expert: User, analysed: Context | None) -> None:
    """An approved demo order's internal write-up; the first of its fault type opens a case analysis, as in review,
    which the expert writes when `analysed` (a context of that time) is given."""
    from domain.documents.cases import complete_case_analysis, open_case_analysis

    fault = db.session.execute(select(FaultCategory).where(
        FaultCategory.device_category_id == ticket.device_category_id).order_by(FaultCategory.id)).scalars().first()
    if fault is None:
        return
    seen = db.session.execute(select(Ticket.id).where(Ticket.fault_category_id == fault.id)).first() is not None
    ticket.fault_category, ticket.root_cause = fault, ticket.cause
    ticket.solution_summary = ticket.work_done
    if not seen:
        open_case_analysis(ticket, AnalysisTrigger.FIRST_SEEN, ctx)
        if analysed is not None:
            complete_case_analysis(ticket, analysed, summary=f"{ticket.device_model_text}：{ticket.problem}",
                                   root_cause=ticket.cause or "", fix=ticket.work_done or "",
                                   prevention="出库前按检查表测试该项，并在交接时提醒客户。")


# FAQ articles: (brand, model, fault code, title, symptoms, solution, precautions).
ARTICLES = [
    ("Blackmagic", "ATEM Mini Pro ISO", "stream_fail", "ATEM Mini Pro 推流中断或无法开始推流",
     "按下“开始推流”后状态灯闪烁，几秒后推流停止；或直播平台显示无信号。",
     "1. 用网络测试仪确认上行带宽，需为码率的 1.5 倍以上；\n2. 在 ATEM Software Control 中重新粘贴推流密钥，"
     "确认服务器地址为平台提供的 RTMP 地址；\n3. 将码率从 9 Mbps 降为 6 Mbps 后重试；\n"
     "4. 仍失败时改用有线网络直连路由器。",
     "推流密钥每场直播可能变化，开播前务必重新核对。"),
    ("Sony", "PXW-Z190", "no_signal", "摄像机 SDI/HDMI 无视频信号输出",
     "摄像机取景器画面正常，但切换台或监视器显示无信号、黑屏。",
     "1. 在菜单 [视频输出] 中确认 SDI/HDMI 输出已开启，分辨率与切换台一致（如 1080p50）；\n"
     "2. 更换一根已知良好的线缆测试；\n3. 关闭 HDMI 的 TC 输出和 4K 输出后重试。",
     "插拔线缆前先关闭设备电源，避免接口损坏。"),
    ("Yamaha", "MG10XU", "noise", "调音台底噪大、有电流声",
     "监听耳机和直播声音中有持续的嗡嗡声，音量推子拉到底仍存在。",
     "1. 将调音台与电脑接在同一个电源插排上，排除接地环路；\n2. 使用平衡线（XLR/TRS）连接；\n"
     "3. 必要时在电脑 USB 上加装隔离器；\n4. 检查增益，避免前级过大后级过小。",
     "不要拆除电源插头的接地脚。"),
    ("Magewell", "Ultra Encode HDMI", "bitrate_drop", "编码器码率波动、直播画面卡顿丢帧",
     "直播平台显示码率忽高忽低，观众端画面卡顿，编码器网页显示丢帧。",
     "1. 改用固定码率（CBR）并将关键帧间隔设为 2 秒；\n2. 降低分辨率或帧率（1080p30）；\n"
     "3. 检查 4G/5G 信号，必要时启用有线备用线路。",
     "直播前至少测试推流 30 分钟。"),
    ("Elgato", "HD60 X", "not_detected", "电脑无法识别采集卡",
     "直播软件中找不到采集设备，设备管理器中出现未知设备。",
     "1. 接到电脑的 USB 3.0（蓝色）接口上，不要经过集线器；\n2. 安装最新的 4K Capture Utility 驱动；\n"
     "3. 关闭其他占用采集设备的软件后重新打开直播软件。",
     "请接在 USB 3.0 接口上。"),
]


def seed_articles(author: User, tz: ZoneInfo, now: datetime) -> int:
    """Published FAQ articles for the demo, written through the knowledge-base rules."""
    from domain.knowledge.kb import ArticleInput, save_article

    models = {(m.brand, m.model): m for m in db.session.execute(select(DeviceModel)).scalars()}
    faults = {(f.device_category_id, f.code): f for f in db.session.execute(select(FaultCategory)).scalars()}
    ctx = Context(actor=author, tz=tz, now=now, via="cli")
    for brand, model, fault_code, title, symptoms, solution, precautions in ARTICLES:
        device = models[(brand, model)]
        fault = faults.get((device.category_id, fault_code))
        save_article(ctx, None, ArticleInput(title=title, device_model_id=device.id,
                                             fault_category_id=fault.id if fault else None, symptoms=symptoms,
                                             solution=solution, precautions=precautions), publish=True)
    return len(ARTICLES)


def _advance(ticket: Ticket, status: TicketStatus, users: dict[str, User], tech: User, signature_sha: str,
             created: datetime, now: datetime, ctx, remote: bool = False) -> None:
    """Take a request through the process up to `status`, each step at a plausible time (`remote`: solved by
    remote guidance, then on to `status`)."""
    supervisor = users["supervisor"]
    t = created
    if status == TicketStatus.CANCELLED:
        cancel(ticket, "客户已自行解决", ctx(supervisor, t + timedelta(minutes=20)))
        return
    if status == TicketStatus.NEW:
        return
    t += timedelta(minutes=6)
    assign(ticket, tech, ctx(supervisor, t))
    if status == TicketStatus.ASSIGNED:
        return
    # Most contacts are on time; the urgent Behringer one shows a missed first-contact clock.
    late = ticket.urgency == Urgency.URGENT and ticket.device_model_text.startswith("Behringer")
    t += timedelta(minutes=45 if late else 12)
    record_contact(ticket, ctx(tech, t), method=ContactMethod.PHONE, note="已电话联系客户，了解现场情况",
                   at=min(t, now))
    if status == TicketStatus.CONTACTED:
        return
    if remote:
        record_remote_session(ticket, ctx(tech, t + timedelta(minutes=20)), method=ContactMethod.SCREEN_SHARE,
                              steps="远程共享屏幕，检查设备输出设置", outcome=RemoteOutcome.RESOLVED,
                              started_at=t + timedelta(minutes=1), ended_at=t + timedelta(minutes=18))
        resolve_remotely(ticket, ctx(tech, t + timedelta(minutes=24)),
                         cause="设置错误：输出格式与直播软件不匹配",
                         work_done="远程指导客户将输出分辨率改为 1080p30 并重启软件，画面恢复正常。",
                         resolved_at=t + timedelta(minutes=18))
        if status != TicketStatus.REMOTE_RESOLVED:
            _submit_and_review(ticket, status, users, t + timedelta(minutes=18), now, ctx)
        return
    record_remote_session(ticket, ctx(tech, t + timedelta(minutes=25)), method=ContactMethod.PHONE,
                          steps="电话指导检查线缆与电源，重启设备，故障依旧", outcome=RemoteOutcome.NEEDS_VISIT,
                          started_at=t + timedelta(minutes=1), ended_at=t + timedelta(minutes=25))
    t += timedelta(minutes=26)
    if status == TicketStatus.VISIT_SCHEDULED:
        visit_at = max(now + timedelta(hours=2), t + timedelta(hours=3))
    else:
        visit_at = min(now - timedelta(hours=1, minutes=10), t + timedelta(hours=2))
        t = min(t, visit_at - timedelta(hours=1, minutes=30))
    visit = schedule_visit(ticket, ctx(tech, t), scheduled_at=visit_at, address=ticket.address or "",
                           agreed_with=ticket.contact_name or "")
    db.session.flush()
    if status == TicketStatus.VISIT_SCHEDULED:
        return
    prepared = visit_at - timedelta(minutes=75)
    confirm_preparation(ticket, ctx(tech, prepared), checked_item_ids={i.id for i in visit.prep_items},
                        at=prepared)
    # Arrival and what follows belong to the offline app's sync ops; recorded directly here.
    visit.arrived_at = visit_at - timedelta(minutes=5)
    workflow.move(ticket, TicketStatus.ON_SITE, actor=tech, action="visit.arrived", via="cli")
    visit.problem_confirmed_at = visit.arrived_at + timedelta(minutes=8)
    visit.confirmed_problem = ticket.problem
    ticket.notes.append(ProgressNote(author=tech, text="已到达现场，与客户确认故障现象。", shown_to_customer=True,
                                     written_at=visit.arrived_at + timedelta(minutes=9)))
    ticket.notes.append(ProgressNote(author=tech, text="排查发现电源适配器接触不良，已更换备件测试。",
                                     shown_to_customer=True, written_at=visit.arrived_at + timedelta(minutes=30)))
    if status == TicketStatus.ON_SITE:
        return
    if status == TicketStatus.CLOSED_UNSIGNED:  # the customer refused to sign; a supervisor closed it unsigned
        from domain.fieldwork.unsigned import decide, record_missing_signature

        refused = visit.arrived_at + timedelta(minutes=40)
        record_missing_signature(ticket, ctx(tech, refused), situation=SignatureMissing.REFUSED,
                                 reason="客户认为偏色未完全消除，拒绝签字", photo_id=None, at=refused)
        decide(ticket, ctx(supervisor, refused + timedelta(hours=2)), decision="close",
               reason="主管电话回访：客户确认设备可正常使用，但不愿补签，按不签字结案")
        return
    done = visit.arrived_at + timedelta(minutes=50)
    category = ticket.device_category
    for position, item in enumerate(category.acceptance_tests):
        ticket.tests.append(AcceptanceTest(item=item["zh"], passed=True, note="", position=position,
                                           recorded_at=done, recorded_by_id=tech.id, visit_id=visit.id))
    visit.customer_confirmed_at = done + timedelta(minutes=2)
    visit.customer_confirmation = "云台转动无异响，推流 10 分钟画面稳定"
    for position, text in enumerate(category.precaution_templates):
        ticket.precautions.append(Precaution(text=text["zh"], position=position, told_at=done))
    visit.precautions_told_at = done + timedelta(minutes=3)
    ticket.cause = "电源适配器老化导致供电不稳"
    ticket.work_done = "更换电源适配器，重新连接线缆，完成验收测试。"
    visit.work_recorded_at = done - timedelta(minutes=5)  # written before the test, as on the phone
    signed_at = done + timedelta(minutes=5)
    rating = 4 if ticket.urgency == Urgency.URGENT else 5
    ticket.signature = Signature(signer_name=ticket.contact_name or "客户", rating=rating,
                                 comment="响应很快，处理专业", png_sha256=signature_sha,
                                 strokes=[[[10, 90, 0], [60, 60, 40], [120, 100, 90]]],
                                 signed_at_client=signed_at, signed_at=signed_at, device_id="demo-phone",
                                 technician_id=tech.id)
    workflow.move(ticket, TicketStatus.SIGNED, actor=tech, action="order.signed", via="cli")
    db.session.flush()
    freeze_order(ticket, site=site.current(), now=signed_at)
    visit.departed_at = signed_at + timedelta(minutes=10)
    ticket.service_ended_at = signed_at
    start_clock(ticket, ClockName.SUBMISSION, signed_at, signed_at + DEFAULT_POLICY.minutes("submission_minutes"))
    if status != TicketStatus.SIGNED:
        _submit_and_review(ticket, status, users, signed_at, now, ctx)


def _submit_and_review(ticket: Ticket, status: TicketStatus, users: dict[str, User], ended: datetime,
                       now: datetime, ctx) -> None:
    """Submitted 70 minutes after the service ended, then reviewed up to `status` three hours later; a case
    analysis it opens is written a day later, unless that is recent."""
    supervisor, tech = users["supervisor"], ticket.assignee
    ticket.submitted_at = ended + timedelta(minutes=70)
    stop_clock(ticket, ClockName.SUBMISSION, ticket.submitted_at)
    workflow.move(ticket, TicketStatus.SUBMITTED, actor=tech, action="order.submitted", via="cli")
    if status == TicketStatus.SUBMITTED:
        return
    decision = ReviewDecision.APPROVED if status == TicketStatus.APPROVED else ReviewDecision.RETURNED
    reviewed = ticket.submitted_at + timedelta(hours=3)
    ticket.reviews.append(Review(reviewer=supervisor, decision=decision, created_at=reviewed,
                                 comment=None if decision == ReviewDecision.APPROVED else "请补充故障分类和根本原因"))
    if decision == ReviewDecision.APPROVED:
        ticket.closed_at = reviewed
        # Analyses opened in the last three days are still being written (their clock running).
        _write_up(ticket, ctx(supervisor, reviewed), users["expert"],
                  ctx(users["expert"], reviewed + timedelta(days=1)) if reviewed < now - timedelta(days=3) else None)
    workflow.move(ticket, status, actor=supervisor, action=f"order.{decision.value}", via="cli")
