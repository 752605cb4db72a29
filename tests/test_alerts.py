"""Alerts: the inbox API and page, alerts at once for events of the process, the periodic deadline scan with an
injected clock (once, never twice, after a restart too), and the alert settings."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from domain.alerts import delivery, notifications
from domain.alerts.models import Notification
from domain.alerts.scan import scan_deadlines
from domain.core.db import db
from domain.core.enums import ClockName, ContactMethod
from domain.core.models import User
from domain.requests import access, assignment, remote_work
from domain.sla.policy import DEFAULT_POLICY
from domain.sla.rules import CLOCK_RULES

from .helpers import ALERT_BODY, ALERTS_STAFF, SHANGHAI, T0, ctx, new_request, signed_client, staff_fixture

staff = staff_fixture(ALERTS_STAFF)


def alerts_of(user_id, kind=None):
    query = select(Notification).where(Notification.user_id == user_id)
    if kind:
        query = query.where(Notification.kind == kind)
    return db.session.execute(query.order_by(Notification.id)).scalars().all()


def test_new_request_alerts_supervisors_and_assignment_alerts_the_technician(app, staff):
    with app.app_context():
        ticket = new_request(staff)
        assert [n.kind for n in alerts_of(staff["boss"])] == ["new_request"]
        assert [n.kind for n in alerts_of(staff["boss2"])] == ["new_request"]
        assert alerts_of(staff["li"]) == [] and alerts_of(staff["desk"]) == []
        assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], T0 + timedelta(minutes=2)))
        db.session.commit()
        [assigned] = alerts_of(staff["li"])
        assert assigned.kind == "assigned" and assigned.ticket_id == ticket.id
        assignment.escalate(ticket, db.session.get(User, staff["chen"]), "固件问题", ctx(staff["boss"], T0))
        db.session.commit()
        assert [n.kind for n in alerts_of(staff["chen"])] == ["escalated"]


def test_inbox_api_lists_the_users_alerts_and_marks_one_read(app, staff):
    with app.app_context():
        number = new_request(staff).number
    client = signed_client(app, "boss")
    box = client.get("/api/v1/notifications").get_json()
    assert box["unread"] == 1
    [item] = box["items"]
    assert set(item) == {"id", "kind", "ticket", "title", "body", "created_at", "read_at"}
    assert item["kind"] == "new_request" and item["ticket"] == number and number in item["title"]
    assert item["read_at"] is None and item["body"] == ALERT_BODY["problem"]
    response = client.post(f"/api/v1/notifications/{item['id']}/read")
    assert response.status_code == 200 and response.get_json()["unread"] == 0
    assert client.get("/api/v1/notifications").get_json()["items"][0]["read_at"] is not None
    # Someone else's alert is not found, not readable.
    other = signed_client(app, "boss2")
    assert other.post(f"/api/v1/notifications/{item['id']}/read").status_code == 404
    assert other.get("/api/v1/notifications").get_json()["unread"] == 1


def test_titles_are_written_in_the_readers_language(app, staff):
    with app.app_context():
        number = new_request(staff).number
    client = signed_client(app, "boss")
    zh = client.get("/api/v1/notifications").get_json()["items"][0]["title"]
    client.post("/lang", data={"lang": "en"})
    en = client.get("/api/v1/notifications").get_json()["items"][0]["title"]
    assert en == f"New request {number} waits for assignment"
    assert zh != en and number in zh


def test_the_bell_shows_the_unread_count_on_every_page(app, staff):
    with app.app_context():
        new_request(staff)
        new_request(staff)
    client = signed_client(app, "boss")
    for path in ("/", "/dispatch/board", "/kb/", "/notifications/"):
        page = client.get(path).get_data(as_text=True)
        assert 'class="bell-count" data-unread-count>2</span>' in page, path
    page = client.get("/notifications/").get_data(as_text=True)
    assert page.count('class="card alert-item unread"') == 2
    client.post("/notifications/read-all")
    assert 'data-unread-count hidden>0</span>' in client.get("/").get_data(as_text=True)


def test_the_phone_shows_the_bell_too(app, staff):
    client = signed_client(app, "li")
    page = client.get("/field/").get_data(as_text=True)
    assert "data-unread-count" in page and "/static/js/alerts.js" in page
    assert "/static/js/alerts.js" in client.get("/sw.js").get_data(as_text=True)  # precached: works offline


def test_open_from_the_inbox_marks_read_and_goes_to_the_request(app, staff):
    with app.app_context():
        number = new_request(staff).number
        note_id = alerts_of(staff["boss"])[0].id
    client = signed_client(app, "boss")
    response = client.post(f"/notifications/{note_id}/read", data={"open": "1"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/dispatch/requests/{number}")
    assert client.get("/api/v1/notifications").get_json()["unread"] == 0


def test_open_from_the_inbox_takes_a_technician_to_the_job_on_the_phone(app, staff):
    """The same place as a tap on the push: the job in the field app, not the office's request page."""
    with app.app_context():
        ticket = new_request(staff)
        assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], T0 + timedelta(minutes=1)))
        db.session.commit()
        [note] = alerts_of(staff["li"], "assigned")
        number, note_id = ticket.number, note.id
    response = signed_client(app, "li").post(f"/notifications/{note_id}/read", data={"open": "1"})
    assert response.status_code == 302 and response.headers["Location"] == f"/field/#/job/{number}"


# --- the periodic scan ------------------------------------------------------------------------------------


def scan(at):
    created = scan_deadlines(at, SHANGHAI)
    db.session.commit()
    return created


def test_first_contact_warned_once_before_and_missed_once_after_the_deadline(app, make_app, staff):
    with app.app_context():
        ticket = new_request(staff)  # urgent: first contact due T0 + 30 min, warned 10 min before
        assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], T0 + timedelta(minutes=1)))
        db.session.commit()
        due = T0 + timedelta(minutes=30)
        assert scan(due - timedelta(minutes=10, seconds=1)) == 0
        assert scan(due - timedelta(minutes=10)) == 1
        [soon] = alerts_of(staff["li"], "due_soon")
        assert soon.params == {"number": ticket.number, "clock": "first_contact", "due_at": due.isoformat()}
        assert scan(due - timedelta(minutes=5)) == 0  # the next minute's scan: nothing new
        assert scan(due) == 3  # missed: the technician and both supervisors
        assert scan(due + timedelta(minutes=1)) == 0
        number = ticket.number
    # A restarted worker (a new app, a new process's state) alerts nobody again.
    restarted = make_app()
    with restarted.app_context():
        assert scan(T0 + timedelta(minutes=31)) == 0
        assert scan(T0 + timedelta(minutes=20)) == 0
        total = db.session.execute(select(func.count(Notification.id)).where(
            Notification.kind.in_(["due_soon", "missed"]))).scalar_one()
        assert total == 4
    client = signed_client(app, "li")
    missed = [i for i in client.get("/api/v1/notifications").get_json()["items"] if i["kind"] == "missed"]
    assert len(missed) == 1 and missed[0]["ticket"] == number


def test_an_unassigned_request_is_warned_to_the_supervisors(app, staff):
    with app.app_context():
        new_request(staff)
        assert scan(T0 + timedelta(minutes=20)) == 2
        assert {n.user_id for n in db.session.execute(select(Notification).where(
            Notification.kind == "due_soon")).scalars()} == {staff["boss"], staff["boss2"]}


def test_a_deadline_met_in_time_is_never_alerted(app, staff):
    with app.app_context():
        ticket = new_request(staff)
        assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], T0 + timedelta(minutes=1)))
        remote_work.record_contact(ticket, ctx(staff["li"], T0 + timedelta(minutes=5)), method=ContactMethod.PHONE,
                                at=T0 + timedelta(minutes=5))
        db.session.commit()
        for minutes in (20, 30, 31, 60):
            scan(T0 + timedelta(minutes=minutes))
        kinds = {n.kind for n in alerts_of(staff["li"])}
        # Remote-fix clock (started at contact, 30 min, no warning) is missed at contact + 30.
        assert "due_soon" not in kinds
        missed = [n.params["clock"] for n in alerts_of(staff["li"], "missed")]
        assert missed == ["remote_fix"]


def test_a_rescheduled_deadline_is_a_new_alert(app, staff):
    from domain.sla.clocks import start_clock

    with app.app_context():
        ticket = new_request(staff)
        assert scan(T0 + timedelta(minutes=21)) == 2
        start_clock(ticket, ClockName.FIRST_CONTACT, T0, T0 + timedelta(minutes=50))
        db.session.commit()
        assert scan(T0 + timedelta(minutes=22)) == 0
        assert scan(T0 + timedelta(minutes=41)) == 2


# --- the scan's watermark ----------------------------------------------------------------------------------


def written_at(at):
    """The clocks were written (committed) at `at` (server time), as if entered then."""
    from sqlalchemy import update

    from domain.sla.models import TicketClock

    db.session.execute(update(TicketClock).values(written_at=at))
    db.session.commit()


def first_contact_alerts():
    return sorted((n.params["number"], n.kind, n.user_id) for n in db.session.execute(
        select(Notification).where(Notification.clock == "first_contact")).scalars())


def test_a_gap_in_the_scans_alerts_everything_once(app, staff):
    with app.app_context():
        # Unassigned requests, the supervisors alerted: urgent (first contact due T0+30, warned at T0+20), normal
        # (due T0+60, warned at T0+50), normal entered at T0+5 (due T0+65, warned at T0+55).
        early = new_request(staff).number
        middle = new_request(staff, urgency="normal").number
        late = new_request(staff, at=T0 + timedelta(minutes=5), urgency="normal").number
        written_at(T0 + timedelta(minutes=5))
        assert scan(T0 + timedelta(minutes=21)) == 2  # early warned
        # The worker is stopped for 30 minutes: early's deadline passed, middle's warning came. The next scan's
        # window covers the gap.
        assert scan(T0 + timedelta(minutes=51)) == 2 + 2
        bosses = sorted([staff["boss"], staff["boss2"]])
        assert first_contact_alerts() == sorted([(early, kind, b) for b in bosses for kind in ("due_soon", "missed")]
                                                + [(middle, "due_soon", b) for b in bosses])
        assert scan(T0 + timedelta(minutes=52)) == 0
        assert scan(T0 + timedelta(minutes=56)) == 2  # late warned
        assert scan(T0 + timedelta(minutes=57)) == 0
        assert scan(T0 + timedelta(minutes=70)) == 2 + 2  # a second gap: middle and late missed
        assert scan(T0 + timedelta(minutes=71)) == 0
        assert first_contact_alerts() == sorted((n, kind, b) for n in (early, middle, late) for b in bosses
                                                for kind in ("due_soon", "missed"))


def test_the_watermark_survives_a_restart_and_bounds_what_is_read(app, make_app, staff):
    with app.app_context():
        number = new_request(staff).number  # first contact due T0+30
        written_at(T0)
        assert scan(T0 + timedelta(minutes=33)) == 2  # first scan: missed (the warning's time has passed too)
    restarted = make_app()
    with restarted.app_context():
        from domain.alerts.scan import window_start

        assert window_start(T0 + timedelta(minutes=34)) == T0 + timedelta(minutes=31)  # the stored mark - overlap
        # Read only what is new since the mark: an alert removed by hand is not made again by the next minute
        # (the deadline is behind the window), which is what keeps each minute's reads small.
        db.session.execute(Notification.__table__.delete().where(Notification.kind == "missed"))
        db.session.commit()
        assert scan(T0 + timedelta(minutes=34)) == 0
        # A deadline passing after the restart is alerted (the window starts at the stored mark).
        later = new_request(staff, at=T0 + timedelta(minutes=6)).number  # due T0+36
        written_at(T0)
        assert scan(T0 + timedelta(minutes=37)) == 2
        # A scan whose clock went back reads the whole look-back again (and the keys keep it to once).
        assert scan(T0 + timedelta(minutes=20)) == 2  # the first request's warning: never made before
        assert scan(T0 + timedelta(minutes=21)) == 0
        assert [n[0] for n in first_contact_alerts() if n[1] == "missed"] == [later, later]
        assert {n[0] for n in first_contact_alerts() if n[1] == "due_soon"} == {number}


def test_a_request_entered_late_is_warned_though_its_warning_time_is_behind_the_watermark(app, staff):
    with app.app_context():
        assert scan(T0 + timedelta(minutes=30)) == 0  # nothing open yet: the mark is at T0+30
        # Entered at T0+30 for a customer who called at T0+5: first contact due T0+35, its warning (T0+25)
        # and the intake deadline lie before the mark.
        number = new_request(staff, at=T0 + timedelta(minutes=5)).number
        written_at(T0 + timedelta(minutes=30, seconds=20))
        assert scan(T0 + timedelta(minutes=31)) == 2
        assert first_contact_alerts() == sorted((number, "due_soon", b) for b in (staff["boss"], staff["boss2"]))
        assert scan(T0 + timedelta(minutes=32)) == 0
        assert scan(T0 + timedelta(minutes=36)) == 2  # then missed, once


def test_case_analysis_is_warned_the_working_day_before(app):
    rule = CLOCK_RULES[ClockName.CASE_ANALYSIS]
    with app.app_context():
        # Due at the end of Monday 2026-11-30: warned on Friday 2026-11-27 at 09:00 (the weekend does not count).
        due = datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI)
        assert rule.warn_at(due, DEFAULT_POLICY, SHANGHAI) == datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI)
        # Due right after the National Day holiday: the warning falls on a working day before it, whatever
        # the holidays and make-up working days in between.
        from domain.sla.workdays import is_workday

        due = datetime(2026, 10, 9, 0, 0, tzinfo=SHANGHAI)
        warn = rule.warn_at(due, DEFAULT_POLICY, SHANGHAI)
        assert is_workday(warn.date()) and warn < due - timedelta(days=1)


def test_every_clock_is_declared_once_with_its_settings():
    assert set(CLOCK_RULES) == set(ClockName)
    for rule in CLOCK_RULES.values():
        for setting in rule.threshold + ((rule.warn_setting,) if rule.warn_setting else ()):
            assert hasattr(DEFAULT_POLICY, setting), setting
    assert DEFAULT_POLICY.warn_first_contact_minutes == 10 and DEFAULT_POLICY.warn_preparation_minutes == 15
    assert DEFAULT_POLICY.warn_submission_minutes == 30 and DEFAULT_POLICY.warn_case_analysis_working_days == 1


def test_submission_and_return_alert_supervisors_then_the_technician(app, make_user):
    from domain.documents import review

    from .orderfactory import make_signed_order

    with app.app_context():
        made = make_signed_order(make_user, photos=0)
        ticket = access.get_ticket(made["number"])
        ids = made["ids"]
        ticket.fault_category_id = None
        from domain.requests.models import FaultCategory

        ticket.fault_category = db.session.execute(select(FaultCategory)).scalars().first()
        ticket.solution_summary = "更换线缆"
        review.submit(ticket, ctx(ids["tech"], datetime.now(UTC)))
        db.session.commit()
        assert [n.kind for n in alerts_of(ids["boss"], "submitted")] == ["submitted"]
        review.review(ticket, ctx(ids["boss"], datetime.now(UTC)), approve=False, comment="请补充根因")
        db.session.commit()
        [returned] = alerts_of(ids["tech"], "returned")
        assert returned.params["text"] == "请补充根因"


def test_alert_settings_are_saved_per_user(app, staff):
    client = signed_client(app, "li")
    page = client.get("/notifications/preferences").get_data(as_text=True)
    assert 'name="push" value="assigned" aria-label' in page
    response = client.post("/notifications/preferences", data={"email": "li@example.com", "push": ["assigned"],
                                                               "email_kind": ["missed", "bogus"]})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.get(User, staff["li"])
        assert user.email == "li@example.com"
        chosen = delivery.channels_of(user)
        # What a technician can get is as chosen; what cannot reach them keeps its default (a role change).
        assert chosen["push"] & TECHNICIAN_KINDS == {"assigned"} and chosen["email"] & TECHNICIAN_KINDS == {"missed"}
        assert chosen["push"] - TECHNICIAN_KINDS == {"new_request", "escalated", "submitted", "weekly_report",
                                                     "unreachable", "handed_back", "channel_failing",
                                                     "customer_report", "seal_failing", "unsigned", "followup"}
        assert "bogus" not in chosen["email"]
    bad = client.post("/notifications/preferences", data={"email": "not-an-address"})
    assert bad.status_code == 400
    with app.app_context():
        assert db.session.get(User, staff["li"]).email == "li@example.com"  # nothing lost


@pytest.mark.parametrize(("email", "kept"), [
    ("li\x00@example.com", False), ("li\x7f@example.com", False), ("1" * 20, False), ("a@b.c" * 60, False),
    ("李²@example.com", True),
], ids=["nul", "control", "20-digits", "too-long", "superscript"])
def test_alert_settings_refuse_an_address_that_cannot_be_stored_and_lose_nothing(app, staff, email, kept):
    """Never a 500 (a NUL is a text PostgreSQL refuses): a clear error, the address saved before kept."""
    client = signed_client(app, "li")
    assert client.post("/notifications/preferences", data={"email": "li@example.com"}).status_code == 302
    response = client.post("/notifications/preferences", data={"email": email})
    assert response.status_code == (302 if kept else 400)
    with app.app_context():
        assert db.session.get(User, staff["li"]).email == (email if kept else "li@example.com")


TECHNICIAN_KINDS = {"assigned", "due_soon", "missed", "returned"}


@pytest.mark.parametrize(("username", "offered"), [
    ("li", TECHNICIAN_KINDS),
    ("boss", {"new_request", "due_soon", "missed", "submitted", "weekly_report", "unreachable", "handed_back",
              "customer_report", "seal_failing", "unsigned", "followup"}),
    ("chen", {"escalated", "due_soon", "missed"}),
    # a customer's own report, to forward within the intake clock; another visit to get scheduled
    ("desk", {"customer_report", "followup"}),
])
def test_alert_settings_offer_what_can_reach_the_role(app, staff, username, offered):
    page = signed_client(app, username).get("/notifications/preferences").get_data(as_text=True)
    assert set(re.findall(r'name="push" value="(\w+)"', page)) == offered
    assert set(re.findall(r'name="email_kind" value="(\w+)"', page)) == offered


def test_insert_once_is_one_statement_for_many_alerts(app, staff):
    with app.app_context():
        rows = [{"user_id": staff["boss"], "kind": "missed", "key": f"k{i}"} for i in range(1200)]
        assert notifications.insert_once(rows) == 1200
        assert notifications.insert_once(rows) == 0
        db.session.commit()


# --- working-day warnings and lead times changed: read once, in the window since the mark ------------------


def test_warned_through_is_the_latest_deadline_warned_by_then():
    """warn_at(due) <= t exactly when due <= warned_through(t): the scan's range of deadlines is the warnings come,
    across weekends, the National Day holiday and its make-up Saturday, an administrator's day off, and 2027."""
    from dataclasses import replace

    rule = CLOCK_RULES[ClockName.CASE_ANALYSIS]
    days_off = {date(2026, 11, 26): False, date(2027, 1, 1): False}  # a company day off; New Year 2027 entered
    for amount in (1, 2, 3):
        policy = replace(DEFAULT_POLICY, warn_case_analysis_working_days=amount)
        for start in (datetime(2026, 9, 24, tzinfo=SHANGHAI), datetime(2026, 11, 19, tzinfo=SHANGHAI),
                      datetime(2026, 12, 24, tzinfo=SHANGHAI)):
            moments = [start + timedelta(hours=h, minutes=m) for h in range(0, 24 * 20, 3) for m in (0, 59)]
            moments += [start + timedelta(days=d, hours=9) for d in range(20)]  # 09:00 exactly
            deadlines = [start + timedelta(days=d) for d in range(1, 30)]  # local midnights
            deadlines += [start + timedelta(days=d, hours=h) for d in range(1, 30) for h in (9, 17)]
            for overrides in ({}, days_off):
                warnings = [(due, rule.warn_at(due, policy, SHANGHAI, overrides)) for due in deadlines]
                for t in moments:
                    through = rule.warned_through(t, policy, SHANGHAI, overrides)
                    for due, warn in warnings:
                        assert (warn <= t) == (due <= through), (t, due)
    minutes = CLOCK_RULES[ClockName.FIRST_CONTACT]
    assert minutes.warned_through(T0, DEFAULT_POLICY, SHANGHAI) == T0 + timedelta(minutes=10)
    assert CLOCK_RULES[ClockName.INTAKE].warned_through(T0, DEFAULT_POLICY, SHANGHAI) is None


def case_analysis(staff, opened):
    """A request approved at `opened` as a complex case: its case analysis clock starts (the request is closed)."""
    from domain.core.enums import AnalysisTrigger, TicketStatus
    from domain.documents.cases import open_case_analysis

    ticket = new_request(staff, at=opened - timedelta(hours=3))
    assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss"], opened - timedelta(hours=3)))
    ticket.expert_id = staff["chen"]
    ticket.status = TicketStatus.APPROVED
    for clock in ticket.clocks:  # the request's own clocks were met long ago
        clock.done_at = clock.done_at or opened - timedelta(hours=2)
    analysis = open_case_analysis(ticket, AnalysisTrigger.COMPLEX, ctx(staff["boss"], opened))
    db.session.commit()
    written_at(opened)
    return ticket, analysis


def case_alerts(kind=None):
    query = select(Notification).where(Notification.clock == "case_analysis")
    if kind:
        query = query.where(Notification.kind == kind)
    return sorted((n.kind, n.user_id) for n in db.session.execute(query).scalars())


def scan_every(start, end, step):
    created = 0
    while start <= end:
        created += scan(start)
        start += step
    return created


def test_case_analysis_warned_once_the_working_day_before_across_a_weekend(app, make_app, staff):
    with app.app_context():
        # Opened Wednesday 25 November, 3 working days: Thursday, Friday, Monday. Due at the end of Monday 30
        # November; warned on Friday 27 at 09:00 (the working day before its last day), to the supervisors and
        # the expert.
        ticket, analysis = case_analysis(staff, datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
        assert analysis.due_at == datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI)
        warned = [("due_soon", staff[who]) for who in ("boss", "boss2", "chen")]
        assert scan_every(datetime(2026, 11, 26, 23, 0, tzinfo=SHANGHAI),
                          datetime(2026, 11, 27, 8, 59, tzinfo=SHANGHAI), timedelta(minutes=30)) == 0
        assert scan(datetime(2026, 11, 27, 8, 59, 59, tzinfo=SHANGHAI)) == 0
        assert scan(datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI)) == 3
        assert case_alerts() == sorted(warned)
        assert scan(datetime(2026, 11, 27, 9, 1, tzinfo=SHANGHAI)) == 0
        # Read once, when its day starts: an alert removed by hand is not made again by the next minutes (the
        # scan no longer reads the working-day warnings over their whole horizon every minute).
        db.session.execute(Notification.__table__.delete().where(Notification.clock == "case_analysis"))
        db.session.commit()
        assert scan_every(datetime(2026, 11, 27, 9, 2, tzinfo=SHANGHAI),
                          datetime(2026, 11, 27, 12, 0, tzinfo=SHANGHAI), timedelta(minutes=15)) == 0
        # The weekend and Monday: nothing new (each scan within the look-back of the previous one).
        assert scan_every(datetime(2026, 11, 27, 12, 0, tzinfo=SHANGHAI),
                          datetime(2026, 11, 30, 23, 59, tzinfo=SHANGHAI), timedelta(minutes=90)) == 0
    restarted = make_app()
    with restarted.app_context():
        assert scan(datetime(2026, 11, 30, 23, 59, 30, tzinfo=SHANGHAI)) == 0
        # Missed at midnight: the supervisors and the expert, once.
        assert scan(datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI)) == 3
        assert scan(datetime(2026, 12, 1, 0, 1, tzinfo=SHANGHAI)) == 0
        # A scan whose clock went back reads its whole window again: the warning removed by hand comes back
        # once, nothing else twice.
        assert scan(datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)) == 3
        assert scan(datetime(2026, 11, 28, 10, 1, tzinfo=SHANGHAI)) == 0
        assert case_alerts() == sorted(warned + [("missed", staff[who]) for who in ("boss", "boss2", "chen")])


def test_case_analysis_after_the_national_day_holiday_and_a_day_off_entered_late(app, staff):
    from domain.sla.workdays import set_override

    with app.app_context():
        # Opened 30 September: 1-7 October are holidays, 8, 9 and the make-up Saturday 10 October the three
        # working days. Due at the end of Saturday 10 October, warned on Friday 9 October at 09:00.
        ticket, analysis = case_analysis(staff, datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI))
        assert analysis.due_at == datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI)
        assert scan_every(datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI),
                          datetime(2026, 10, 8, 9, 30, tzinfo=SHANGHAI), timedelta(minutes=100)) == 0
        # The company then gives Friday 9 October off: the warning moves to Thursday 8 at 09:00, which the
        # scans already passed. The next scan sends it, once.
        set_override(date(2026, 10, 9), False, "公司调休", actor=db.session.get(User, staff["boss"]))
        db.session.commit()
        assert scan(datetime(2026, 10, 8, 9, 31, tzinfo=SHANGHAI)) == 3
        assert scan(datetime(2026, 10, 8, 9, 32, tzinfo=SHANGHAI)) == 0
        assert scan_every(datetime(2026, 10, 8, 10, 0, tzinfo=SHANGHAI),
                          datetime(2026, 10, 10, 23, 59, tzinfo=SHANGHAI), timedelta(minutes=100)) == 0
        assert scan(datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI)) == 3
        assert [kind for kind, _ in case_alerts()] == ["due_soon"] * 3 + ["missed"] * 3


def test_case_analysis_across_new_year_2027_the_calendar_does_not_know(app, staff, calendar_without_2027):
    from domain.sla.models import CalendarOverride
    with app.app_context():
        # New Year's Day 2027 entered by the administrator: 31 December, Monday 4 and Tuesday 5 January count.
        # Due at the end of 5 January, warned on Monday 4 at 09:00 (Friday 1 is a holiday, then the weekend).
        db.session.add(CalendarOverride(day=date(2027, 1, 1), is_workday=False, note="元旦",
                                        created_by_id=staff["boss"]))
        db.session.commit()
        ticket, analysis = case_analysis(staff, datetime(2026, 12, 30, 10, 0, tzinfo=SHANGHAI))
        assert analysis.due_at == datetime(2027, 1, 6, 0, 0, tzinfo=SHANGHAI)
        assert scan_every(datetime(2026, 12, 30, 10, 0, tzinfo=SHANGHAI),
                          datetime(2027, 1, 4, 8, 59, tzinfo=SHANGHAI), timedelta(minutes=110)) == 0
        assert scan(datetime(2027, 1, 4, 8, 59, 59, tzinfo=SHANGHAI)) == 0
        assert scan(datetime(2027, 1, 4, 9, 0, tzinfo=SHANGHAI)) == 3
        assert scan(datetime(2027, 1, 4, 9, 1, tzinfo=SHANGHAI)) == 0
        assert case_alerts() == sorted(("due_soon", staff[who]) for who in ("boss", "boss2", "chen"))


def test_an_approved_orders_case_analysis_is_warned_and_missed(app, make_user):
    """Through the review: approving a complex case closes the request and starts its case analysis, whose clock
    the scan still follows."""
    from domain.documents import review
    from domain.requests.models import FaultCategory

    from .orderfactory import make_signed_order

    with app.app_context():
        made = make_signed_order(make_user, photos=0)
        ticket, ids = access.get_ticket(made["number"]), made["ids"]
        ticket.fault_category = db.session.execute(select(FaultCategory)).scalars().first()
        ticket.solution_summary = "更换线缆"
        review.submit(ticket, ctx(ids["tech"], datetime.now(UTC)))
        review.review(ticket, ctx(ids["boss"], datetime.now(UTC)), approve=True, comment="", complex_case=True)
        db.session.commit()
        assert ticket.status == "approved"
        due = ticket.case_analysis.due_at
        warn = CLOCK_RULES[ClockName.CASE_ANALYSIS].warn_at(due, DEFAULT_POLICY, SHANGHAI)
        assert scan(warn - timedelta(minutes=1)) == 0
        assert scan(warn) == len(alerts_of(ids["boss"], "due_soon")) == 1
        assert scan(due) == len(alerts_of(ids["boss"], "missed")) == 1


def set_policy(staff, **values):
    from domain.sla.policy import save_policy

    save_policy(values, actor=db.session.get(User, staff["boss"]))
    db.session.commit()


def test_a_lead_time_raised_sends_the_warnings_it_moved_behind_the_mark(app, make_app, staff):
    with app.app_context():
        # Unassigned, so the supervisors are warned. Urgent: first contact due T0+30, warned at T0+20 (10 min).
        first = new_request(staff).number
        second = new_request(staff, at=T0 + timedelta(minutes=15)).number  # due T0+45
        written_at(T0)
        assert scan_every(T0 + timedelta(minutes=1), T0 + timedelta(minutes=12), timedelta(minutes=1)) == 0
        # Raised to 20 minutes: the first request's warning (now T0+10) already lay behind the mark (T0+12).
        set_policy(staff, warn_first_contact_minutes=20)
        assert scan(T0 + timedelta(minutes=13)) == 2
        assert {n[0] for n in first_contact_alerts()} == {first}
        assert scan(T0 + timedelta(minutes=14)) == 0
    restarted = make_app()
    with restarted.app_context():
        assert scan_every(T0 + timedelta(minutes=15), T0 + timedelta(minutes=24), timedelta(minutes=1)) == 0
        assert scan(T0 + timedelta(minutes=25)) == 2  # the second's warning, at its new time (T0+45-20)
        assert scan_every(T0 + timedelta(minutes=26), T0 + timedelta(minutes=29), timedelta(minutes=1)) == 0
        assert scan(T0 + timedelta(minutes=30)) == 2  # the first missed
        bosses = (staff["boss"], staff["boss2"])
        assert first_contact_alerts() == sorted([(first, "due_soon", b) for b in bosses]
                                                + [(first, "missed", b) for b in bosses]
                                                + [(second, "due_soon", b) for b in bosses])


def test_a_lead_time_lowered_sends_nothing_again(app, staff):
    with app.app_context():
        first = new_request(staff).number  # due T0+30, warned at T0+20
        second = new_request(staff, at=T0 + timedelta(minutes=10)).number  # due T0+40
        written_at(T0)
        assert scan_every(T0 + timedelta(minutes=1), T0 + timedelta(minutes=20), timedelta(minutes=1)) == 2
        # Lowered to 5 minutes: the first's warning (now T0+25) was already sent for this deadline.
        set_policy(staff, warn_first_contact_minutes=5)
        assert scan_every(T0 + timedelta(minutes=21), T0 + timedelta(minutes=29), timedelta(minutes=1)) == 0
        assert scan(T0 + timedelta(minutes=30)) == 2  # the first missed: a new alert, not its warning again
        assert scan_every(T0 + timedelta(minutes=31), T0 + timedelta(minutes=34), timedelta(minutes=1)) == 0
        assert scan(T0 + timedelta(minutes=35)) == 2  # the second's warning, at its new time (T0+40-5)
        # And raised again: nothing sent twice.
        set_policy(staff, warn_first_contact_minutes=30)
        assert scan(T0 + timedelta(minutes=36)) == 0
        bosses = (staff["boss"], staff["boss2"])
        assert [n for n in first_contact_alerts() if n[1] == "due_soon"] == sorted(
            (number, "due_soon", b) for number in (first, second) for b in bosses)


def test_the_scan_runs_the_same_statements_for_one_case_analysis_or_many(app, staff):
    from sqlalchemy import event

    def statements(at):
        count = []

        def on_execute(*args):
            count.append(1)

        event.listen(db.engine, "before_cursor_execute", on_execute)
        try:
            created = scan(at)
        finally:
            event.remove(db.engine, "before_cursor_execute", on_execute)
        return len(count), created

    with app.app_context():
        case_analysis(staff, datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))  # warned Friday 27 at 09:00
        scan(datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI))
        one = statements(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))  # Thursday's warnings: none of these
        for _ in range(12):
            case_analysis(staff, datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
        scan(datetime(2026, 11, 27, 8, 0, tzinfo=SHANGHAI))
        many = statements(datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI))
        assert many[1] == 13 * 3  # each warned to both supervisors and the expert
        quiet = statements(datetime(2026, 11, 27, 9, 1, tzinfo=SHANGHAI))
        # The same reads and writes whatever is found: the alerts made add the supervisors' read and one insert.
        assert one[1] == quiet[1] == 0 and one[0] == quiet[0] and many[0] == quiet[0] + 2


def test_a_request_assigned_no_longer_waits_in_the_supervisors_inboxes(app, staff):
    with app.app_context():
        waiting, other = new_request(staff).number, new_request(staff, problem="另一台编码器无法开机").number
    client = signed_client(app, "boss")
    assert client.get("/api/v1/notifications").get_json()["unread"] == 2
    with app.app_context():
        from domain.requests import access

        ticket = access.get_ticket(waiting)
        assignment.assign(ticket, db.session.get(User, staff["li"]), ctx(staff["boss2"], T0 + timedelta(minutes=3)))
        db.session.commit()
    box = client.get("/api/v1/notifications").get_json()
    assert box["unread"] == 1  # the other one still waits
    read = {item["ticket"]: item["read_at"] for item in box["items"] if item["kind"] == "new_request"}
    assert read[waiting] is not None and read[other] is None


def test_the_weekly_report_alert_opens_the_report(app, staff):
    with app.app_context():
        from domain.alerts.notifications import Kind, notify

        boss = db.session.get(User, staff["boss"])
        notify([boss.id], Kind.WEEKLY_REPORT, "2026-W49", week="2026-W49")
        db.session.commit()
    client = signed_client(app, "boss")
    page = client.get("/notifications/").get_data(as_text=True)
    assert 'name="open" value="1"' in page
    item_id = client.get("/api/v1/notifications").get_json()["items"][0]["id"]
    opened = client.post(f"/notifications/{item_id}/read", data={"open": "1"})
    assert opened.status_code == 302 and "/reports/" in opened.headers["Location"]
