"""A normal day for the supervisor's day view: ten technicians, thirty visits (planned, on the way, arrived, signed),
and urgent work nobody has, all through the domain functions."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.core import context
from domain.core.db import db
from domain.core.enums import ContactMethod, Role
from domain.core.models import User
from domain.fieldwork import onsite, signing
from domain.requests import assignment, intake, remote_work, visits
from domain.requests.catalog import ensure_catalog

from .orderfactory import signature_data_url

SHANGHAI = ZoneInfo("Asia/Shanghai")
CUSTOMERS = ("星河传媒", "鲸鱼电竞俱乐部", "晨光教育", "远山音乐现场", "蓝海直播基地", "东方体育", "青禾文化",
             "云端剧场", "金桥会展中心", "南湖电视台")
STREETS = ("上海市杨浦区政通路177号 B1 赛事中心", "上海市静安区万航渡路1188号 3 楼演播室", "上海市徐汇区漕溪北路 88 号",
           "上海市浦东新区世纪大道 100 号 52 楼", "上海市闵行区虹梅路 2000 号")


def make_day(make_user, day: date, *, technicians: int = 10, per_technician: int = 3, signed: int = 2,
             unassigned_urgent: int = 2) -> dict:
    """Visits at 09:00, 13:00 and 16:00 (a few minutes apart per technician) on `day` in Shanghai; the first visit
    of every other technician prepared (on the way, or, every third, arrived), `signed` of them signed. Returns the
    ids, the request numbers per technician (in time order) and the unassigned urgent numbers. Inside an app context."""
    desk = make_user(Role.DISPATCHER, "day-desk")[0]
    boss = make_user(Role.SUPERVISOR, "day-boss")[0]
    techs = [make_user(Role.TECHNICIAN, f"day-tech-{i:02d}")[0] for i in range(technicians)]
    ensure_catalog()  # after the users: make_user commits in a session of its own
    start = datetime.combine(day, time(7, 0), tzinfo=SHANGHAI)

    def ctx(user_id: int, at: datetime) -> context.Context:
        return context.Context(actor=db.session.get(User, user_id), tz=SHANGHAI, now=at)

    def new_request(n: int, urgency: str, at: datetime):
        ticket = intake.create_request({
            "customer_name": CUSTOMERS[n % len(CUSTOMERS)], "contact_person": "黄磊", "contact_phone": "13900139002",
            "address": STREETS[n % len(STREETS)], "device_model": "Blackmagic ATEM Mini Pro ISO",
            "problem": "切换台无法切换机位", "urgency": urgency}, ctx(desk, at))
        db.session.flush()
        return ticket

    numbers: dict[int, list[str]] = {}
    done_signing = 0
    for i, tech in enumerate(techs):
        numbers[tech] = []
        for j, hour in enumerate((9, 13, 16)[:per_technician]):
            at = start + timedelta(minutes=i)
            ticket = new_request(i * 3 + j, "urgent" if j == 0 else "normal", at)
            assignment.assign(ticket, db.session.get(User, tech), ctx(boss, at + timedelta(minutes=1)))
            remote_work.record_contact(ticket, ctx(tech, at + timedelta(minutes=5)), method=ContactMethod.PHONE)
            when = datetime.combine(day, time(hour, 0), tzinfo=SHANGHAI) + timedelta(minutes=5 * i)
            visit = visits.schedule_visit(ticket, ctx(tech, at + timedelta(minutes=10)), scheduled_at=when,
                                          address=STREETS[(i + j) % len(STREETS)], agreed_with="黄磊")
            db.session.flush()
            numbers[tech].append(ticket.number)
            if j != 0 or i % 2:
                continue
            visits.confirm_preparation(ticket, ctx(tech, when - timedelta(minutes=60)),
                                       checked_item_ids={item.id for item in visit.prep_items})
            if i % 3:  # prepared, and on the way (the customer told)
                onsite.set_out(ticket, ctx(tech, when - timedelta(minutes=30)), arriving_at=when,
                               event=f"day-{ticket.number}")
                continue
            onsite.arrive(ticket, ctx(tech, when - timedelta(minutes=2)))
            if done_signing >= signed:
                continue
            done_signing += 1
            _sign(ticket, tech, when, ctx)
    waiting = [new_request(90 + n, "urgent", start + timedelta(minutes=30 + n)).number
               for n in range(unassigned_urgent)]
    db.session.commit()
    return {"desk": desk, "boss": boss, "techs": techs, "numbers": numbers, "waiting": waiting}


def _sign(ticket, tech: int, when: datetime, ctx) -> None:
    onsite.confirm_problem(ticket, ctx(tech, when + timedelta(minutes=5)), "两路 SDI 输入无信号")
    onsite.record_work(ticket, ctx(tech, when + timedelta(minutes=30)), cause="SDI 线缆接头松动",
                       work_done="更换 SDI 线缆", at=when + timedelta(minutes=30))
    for item in ("所有输入源正常显示", "切换无黑场与卡顿", "PGM 输出与推流正常", "字幕与画中画正常", "开机自检正常"):
        onsite.record_test(ticket, ctx(tech, when + timedelta(minutes=35)), item=item, passed=True, note="")
    onsite.confirm_customer(ticket, ctx(tech, when + timedelta(minutes=38)), "客户确认设备运行正常")
    onsite.tell_precautions(ticket, ctx(tech, when + timedelta(minutes=39)), ["保持设备通风"])
    signing.sign_order(ticket, ctx(tech, when + timedelta(minutes=40)), signer_name="黄磊", rating=5, comment="",
                       signature_png=signature_data_url(), strokes=[[[10, 20, 0], [30, 40, 16]]],
                       device_id="phone-1", signed_at_client=when + timedelta(minutes=40))
