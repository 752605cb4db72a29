"""The dispatch rules: intake validation, assignment (and its races), escalation, and every clock of the policy."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from domain.core import uow
from domain.core.db import db
from domain.core.enums import ClockName, ClockState, ContactMethod, Role, TicketStatus
from domain.core.errors import Conflict, DomainError, Forbidden, ValidationError
from domain.core.models import AuditEvent, User
from domain.requests import access, assignment, intake, progress_notes, remote_work, visits
from domain.requests.models import DeviceModel, Ticket
from domain.sla.clocks import ticket_clocks

from .helpers import SHANGHAI, T0, intake_data, new_ticket


def clocks(ticket, now):
    return {c.name: c for c in ticket_clocks(ticket, now)}


# --- intake ---------------------------------------------------------------------------------------


def test_intake_links_the_catalog_model_and_starts_the_clocks(app, ctx_for):
    with app.app_context():
        ticket = new_ticket(ctx_for)
        assert ticket.device_model is not None and ticket.device_category.code == "video_switcher"
        c = clocks(ticket, T0)
        assert c[ClockName.INTAKE].state == ClockState.MET
        assert c[ClockName.FIRST_CONTACT].state == ClockState.PENDING
        assert c[ClockName.FIRST_CONTACT].due_at == T0 + timedelta(minutes=30)
        assert c[ClockName.REMOTE_FIX].state == ClockState.NOT_APPLICABLE
        assert ticket.next_due_at == T0 + timedelta(minutes=30)


def test_intake_entered_late_misses_the_15_minute_clock(app, ctx_for):
    with app.app_context():
        ticket = new_ticket(ctx_for, reported_at=(T0 - timedelta(minutes=16)).isoformat())
        assert clocks(ticket, T0)[ClockName.INTAKE].state == ClockState.MISSED


def test_normal_urgency_gives_an_hour_for_first_contact(app, ctx_for):
    with app.app_context():
        ticket = new_ticket(ctx_for, urgency="normal")
        assert clocks(ticket, T0)[ClockName.FIRST_CONTACT].due_at == T0 + timedelta(minutes=60)


def test_free_text_device_is_accepted_with_its_category(app, ctx_for):
    with app.app_context():
        ticket = new_ticket(ctx_for, device_model="自组装推流机 v2", device_category="encoder")
        assert ticket.device_model is None and ticket.device_model_text == "自组装推流机 v2"
        assert ticket.device_category.code == "encoder"


def test_local_time_without_offset_is_the_companys_time(app, ctx_for):
    with app.app_context():
        ticket = new_ticket(ctx_for, reported_at="2026-11-24T09:58")
        assert ticket.reported_at == datetime(2026, 11, 24, 1, 58, tzinfo=UTC)


@pytest.mark.parametrize("changes,field", [
    ({"customer_name": ""}, "customer_name"),
    ({"contact_phone": " "}, "contact_phone"),
    ({"problem": ""}, "problem"),
    ({"device_model": ""}, "device_model"),
    ({"device_model": "", "device_model_id": "99999"}, "device_model_id"),
    ({"device_model": "x", "device_category": "spaceship"}, "device_category"),
    ({"urgency": "very"}, "urgency"),
    ({"channel": "pigeon"}, "channel"),
    ({"reported_at": "yesterday"}, "reported_at"),
    ({"reported_at": (T0 + timedelta(minutes=30)).isoformat()}, "reported_at"),
    ({"reported_at": (T0 - timedelta(days=40)).isoformat()}, "reported_at"),
    ({"customer_id": "424242", "customer_name": ""}, "customer_id"),
])
def test_bad_intake_names_the_field_and_saves_nothing(app, ctx_for, changes, field):
    with app.app_context():
        with pytest.raises(ValidationError) as raised:
            intake.create_request(intake_data(**changes), ctx_for("dispatcher"))
        assert field in raised.value.fields
        db.session.rollback()
        assert db.session.execute(select(func.count(Ticket.id))).scalar_one() == 0


def test_several_errors_are_reported_together(app, ctx_for):
    with app.app_context():
        with pytest.raises(ValidationError) as raised:
            intake.create_request(intake_data(customer_name="", problem="", urgency=""), ctx_for("dispatcher"))
        assert {"customer_name", "problem", "urgency"} <= set(raised.value.fields)


def test_a_technician_cannot_enter_requests(app, ctx_for):
    with app.app_context(), pytest.raises(Forbidden):
        intake.create_request(intake_data(), ctx_for("tech"))


# --- assignment and escalation ---------------------------------------------------------------------------


def test_assign_then_reassign_keeps_the_history(app, ctx_for, people):
    with app.app_context():
        ticket = new_ticket(ctx_for)
        assignment.assign(ticket, db.session.get(User, people["tech"]), ctx_for("supervisor"))
        assert ticket.status == TicketStatus.ASSIGNED
        assignment.assign(ticket, db.session.get(User, people["tech2"]), ctx_for("supervisor"))
        db.session.commit()
        assert ticket.status == TicketStatus.ASSIGNED and ticket.assignee.username == "t2"
        events = db.session.execute(select(AuditEvent.action, AuditEvent.data).where(
            AuditEvent.ticket_id == ticket.id).order_by(AuditEvent.id)).all()
        assert [a for a, _ in events] == ["ticket.created", "ticket.assigned", "ticket.reassigned"]
        assert events[2][1] == {"technician": "t2", "previous": "t1"}


def test_assigning_to_an_inactive_technician_is_refused(app, ctx_for):
    with app.app_context():
        new_ticket(ctx_for)
        with pytest.raises(ValidationError) as raised:
            assignment.active_user("gone", Role.TECHNICIAN, "technician")
        assert "已停用" in str(raised.value.fields["technician"])  # outside a request: the default locale
        with pytest.raises(ValidationError):
            assignment.active_user("e1", Role.TECHNICIAN, "technician")  # an expert is not a technician


def test_only_supervisors_assign(app, ctx_for, people):
    with app.app_context():
        ticket = new_ticket(ctx_for)
        with pytest.raises(Forbidden):
            assignment.assign(ticket, db.session.get(User, people["tech"]), ctx_for("dispatcher"))


def test_a_stale_board_cannot_overwrite_an_assignment(app, ctx_for, people):
    with app.app_context():
        ticket = new_ticket(ctx_for)
        seen = ticket.version
        assignment.assign(ticket, db.session.get(User, people["tech"]), ctx_for("supervisor"))
        db.session.commit()
        with pytest.raises(Conflict) as raised:
            assignment.assign(ticket, db.session.get(User, people["tech2"]), ctx_for("supervisor2"),
                            expected_version=seen)
        assert raised.value.code == "changed_meanwhile" and raised.value.details["assignee"] == "t1"


def test_two_supervisors_assigning_at_once_one_wins_nothing_doubled(app, ctx_for, people):
    with app.app_context():
        number = new_ticket(ctx_for).number
        db.session.commit()
    barrier = threading.Barrier(2)
    outcomes = {}

    def supervisor(who: str, tech: str):
        with app.app_context():
            ticket = db.session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            version = ticket.version
            barrier.wait()  # both have read the request before either writes
            try:
                assignment.assign(ticket, db.session.get(User, people[tech]), ctx_for(who), expected_version=version)
                uow.commit()
                outcomes[who] = "assigned"
            except Conflict as error:
                outcomes[who] = error.code
            except Exception as error:  # e.g. SQLite "database is locked": reported, never swallowed
                outcomes[who] = repr(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=supervisor, args=("supervisor", "tech")),
               threading.Thread(target=supervisor, args=("supervisor2", "tech2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["assigned", "changed_meanwhile"], outcomes
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        events = db.session.execute(select(AuditEvent).where(
            AuditEvent.ticket_id == ticket.id, AuditEvent.action.in_(["ticket.assigned", "ticket.reassigned"])
        )).scalars().all()
        assert len(events) == 1 and events[0].data["technician"] == ticket.assignee.username


def test_escalation_lets_the_expert_see_and_add_notes(app, ctx_for, people):
    with app.app_context():
        ticket = new_ticket(ctx_for)
        expert = db.session.get(User, people["expert"])
        assert not access.can_view(expert, ticket)
        with pytest.raises(ValidationError):
            assignment.escalate(ticket, expert, "  ", ctx_for("supervisor"))
        assignment.escalate(ticket, expert, "SDI 板卡疑似故障，请协助判断", ctx_for("supervisor"))
        assert access.can_view(expert, ticket)
        note = progress_notes.add_note(ticket, "建议先更换 SDI 线缆排除", ctx_for("expert"))
        assert note.author.username == "e1"


def test_technicians_see_only_their_requests(app, ctx_for, people):
    with app.app_context():
        ticket = new_ticket(ctx_for)
        assignment.assign(ticket, db.session.get(User, people["tech"]), ctx_for("supervisor"))
        assert access.can_view(db.session.get(User, people["tech"]), ticket)
        assert not access.can_view(db.session.get(User, people["tech2"]), ticket)
        with pytest.raises(Forbidden):
            remote_work.record_contact(ticket, ctx_for("tech2"), method=ContactMethod.PHONE)


def test_cancel_needs_a_reason_and_stops_the_clocks(app, ctx_for):
    with app.app_context():
        ticket = new_ticket(ctx_for)
        with pytest.raises(ValidationError):
            assignment.cancel(ticket, "", ctx_for("supervisor"))
        assignment.cancel(ticket, "客户已自行解决", ctx_for("supervisor"))
        assert ticket.status == TicketStatus.CANCELLED and ticket.next_due_at is None
        assert clocks(ticket, T0 + timedelta(days=1))[ClockName.FIRST_CONTACT].state == ClockState.NOT_APPLICABLE


# --- the technician's clocks ------------------------------------------------------------------------------


@pytest.fixture
def assigned(app, ctx_for, people):
    """An urgent request entered at T0 and assigned to t1."""

    def factory(**changes):
        ticket = new_ticket(ctx_for, **changes)
        assignment.assign(ticket, db.session.get(User, people["tech"]), ctx_for("supervisor"))
        db.session.flush()
        return ticket

    return factory


@pytest.mark.parametrize("minutes,state", [(29, ClockState.MET), (31, ClockState.MISSED)])
def test_first_contact_clock(app, ctx_for, assigned, minutes, state):
    with app.app_context():
        ticket = assigned()
        at = T0 + timedelta(minutes=minutes)
        remote_work.record_contact(ticket, ctx_for("tech", at), method=ContactMethod.PHONE)
        assert ticket.status == TicketStatus.CONTACTED
        c = clocks(ticket, at)
        assert c[ClockName.FIRST_CONTACT].state == state
        assert c[ClockName.REMOTE_FIX].state == ClockState.PENDING
        assert c[ClockName.REMOTE_FIX].due_at == at + timedelta(minutes=30)


def test_open_clock_turns_missed_when_its_time_passes(app, assigned):
    with app.app_context():
        ticket = assigned()
        c = clocks(ticket, T0 + timedelta(minutes=10))[ClockName.FIRST_CONTACT]
        assert c.state == ClockState.PENDING and c.remaining(T0 + timedelta(minutes=10)) == timedelta(minutes=20)
        assert clocks(ticket, T0 + timedelta(minutes=31))[ClockName.FIRST_CONTACT].state == ClockState.MISSED


def test_an_unanswered_call_does_not_stop_the_clock(app, ctx_for, assigned):
    with app.app_context():
        ticket = assigned()
        remote_work.record_contact(ticket, ctx_for("tech", T0 + timedelta(minutes=5)), method=ContactMethod.PHONE,
                                reached=False, note="无人接听")
        assert ticket.status == TicketStatus.ASSIGNED
        assert clocks(ticket, T0 + timedelta(minutes=5))[ClockName.FIRST_CONTACT].done_at is None


@pytest.mark.parametrize("fix_after,fill_after,remote_state,filed_state", [
    (20, 25, ClockState.MET, ClockState.MET),
    (40, 45, ClockState.MISSED, ClockState.MET),
    (20, 35, ClockState.MET, ClockState.MISSED),
])
def test_remote_fix_and_order_filed_clocks(app, ctx_for, assigned, fix_after, fill_after, remote_state,
                                           filed_state):
    with app.app_context():
        ticket = assigned()
        contact = T0 + timedelta(minutes=10)
        remote_work.record_contact(ticket, ctx_for("tech", contact), method=ContactMethod.PHONE)
        fixed, filled = contact + timedelta(minutes=fix_after), contact + timedelta(minutes=fill_after)
        remote_work.resolve_remotely(ticket, ctx_for("tech", filled), cause="输出格式设置错误",
                                  work_done="指导客户改为 1080p30", resolved_at=fixed)
        c = clocks(ticket, filled)
        assert ticket.status == TicketStatus.REMOTE_RESOLVED
        assert c[ClockName.REMOTE_FIX].state == remote_state
        assert c[ClockName.ORDER_FILED].state == filed_state
        assert c[ClockName.SUBMISSION].state == ClockState.PENDING
        assert c[ClockName.SUBMISSION].due_at == fixed + timedelta(hours=2)


def test_resolving_needs_cause_and_work_done(app, ctx_for, assigned):
    with app.app_context():
        ticket = assigned()
        remote_work.record_contact(ticket, ctx_for("tech", T0 + timedelta(minutes=5)), method=ContactMethod.PHONE)
        with pytest.raises(ValidationError) as raised:
            remote_work.resolve_remotely(ticket, ctx_for("tech", T0 + timedelta(minutes=9)), cause="", work_done=" ")
        assert set(raised.value.fields) == {"cause", "work_done"}
        assert ticket.status == TicketStatus.CONTACTED


def test_resolving_before_contact_is_an_illegal_move(app, ctx_for, assigned):
    with app.app_context():
        ticket = assigned()
        with pytest.raises(DomainError) as raised:
            remote_work.resolve_remotely(ticket, ctx_for("tech"), cause="x", work_done="y")
        assert raised.value.code == "not_contacted"  # the declared flow's refusal (domain/fieldwork/flow.py)


@pytest.mark.parametrize("confirm_before_visit,state", [(90, ClockState.MET), (30, ClockState.MISSED)])
def test_visit_and_preparation_clock(app, ctx_for, assigned, confirm_before_visit, state):
    with app.app_context():
        ticket = assigned()
        remote_work.record_contact(ticket, ctx_for("tech", T0 + timedelta(minutes=5)), method=ContactMethod.PHONE)
        scheduled_at = T0 + timedelta(hours=4)
        visit = visits.schedule_visit(ticket, ctx_for("tech", T0 + timedelta(minutes=40)),
                                        scheduled_at=scheduled_at, address="上海市杨浦区政通路177号")
        db.session.flush()
        kinds = [item.kind.value for item in visit.prep_items]
        assert kinds[:2] == ["address", "device_state"] and "tool" in kinds and "spare" in kinds
        c = clocks(ticket, T0 + timedelta(minutes=40))
        assert c[ClockName.REMOTE_FIX].state == ClockState.NOT_APPLICABLE
        assert c[ClockName.PREPARATION].due_at == scheduled_at - timedelta(hours=1)
        confirm_at = scheduled_at - timedelta(minutes=confirm_before_visit)
        with pytest.raises(ValidationError):  # not every item ticked yet
            visits.confirm_preparation(ticket, ctx_for("tech", confirm_at), checked_item_ids=set())
        visits.confirm_preparation(ticket, ctx_for("tech", confirm_at),
                                     checked_item_ids={i.id for i in visit.prep_items})
        assert clocks(ticket, confirm_at)[ClockName.PREPARATION].state == state


def test_short_notice_visit_must_be_prepared_before_it_starts(app, ctx_for, assigned):
    with app.app_context():
        ticket = assigned()
        remote_work.record_contact(ticket, ctx_for("tech", T0 + timedelta(minutes=5)), method=ContactMethod.PHONE)
        now = T0 + timedelta(minutes=10)
        visits.schedule_visit(ticket, ctx_for("tech", now), scheduled_at=now + timedelta(minutes=40),
                                address="现场")
        assert clocks(ticket, now)[ClockName.PREPARATION].due_at == now + timedelta(minutes=40)


def test_rescheduling_moves_the_preparation_deadline(app, ctx_for, assigned):
    with app.app_context():
        ticket = assigned()
        remote_work.record_contact(ticket, ctx_for("tech", T0 + timedelta(minutes=5)), method=ContactMethod.PHONE)
        first = visits.schedule_visit(ticket, ctx_for("tech", T0 + timedelta(minutes=10)),
                                        scheduled_at=T0 + timedelta(hours=3), address="A")
        second = visits.schedule_visit(ticket, ctx_for("tech", T0 + timedelta(minutes=20)),
                                         scheduled_at=T0 + timedelta(hours=6), address="B")
        assert first is second and len(ticket.visits) == 1 and second.address == "B"
        assert clocks(ticket, T0)[ClockName.PREPARATION].due_at == T0 + timedelta(hours=5)
        assert ticket.current_visit is second


def test_cancelling_a_request_calls_off_its_visit(app, ctx_for, assigned):
    with app.app_context():
        ticket = assigned()
        remote_work.record_contact(ticket, ctx_for("tech", T0 + timedelta(minutes=5)), method=ContactMethod.PHONE)
        visit = visits.schedule_visit(ticket, ctx_for("tech", T0 + timedelta(minutes=10)),
                                        scheduled_at=T0 + timedelta(hours=3), address="A")
        assignment.cancel(ticket, "customer sold the device", ctx_for("supervisor", T0 + timedelta(minutes=30)))
        db.session.flush()
        assert visit.cancelled_at == T0 + timedelta(minutes=30) and ticket.current_visit is None


@pytest.mark.parametrize("when,field", [(-60, "scheduled_at"), (None, "scheduled_at")])
def test_bad_visit_time_is_refused(app, ctx_for, assigned, when, field):
    with app.app_context():
        ticket = assigned()
        remote_work.record_contact(ticket, ctx_for("tech", T0 + timedelta(minutes=5)), method=ContactMethod.PHONE)
        at = None if when is None else T0 + timedelta(minutes=when)
        with pytest.raises(ValidationError) as raised:
            visits.schedule_visit(ticket, ctx_for("tech", T0 + timedelta(minutes=10)), scheduled_at=at,
                                    address="x")
        assert field in raised.value.fields
        assert ticket.status == TicketStatus.CONTACTED


def test_policy_overrides_change_the_deadlines(app, ctx_for):
    from domain.sla.models import PolicySetting

    with app.app_context():
        db.session.add(PolicySetting(key="first_contact_urgent_minutes", value="20"))
        db.session.add(PolicySetting(key="intake_minutes", value="not a number"))
        db.session.commit()
        ticket = new_ticket(ctx_for)
        c = clocks(ticket, T0)
        assert c[ClockName.FIRST_CONTACT].due_at == T0 + timedelta(minutes=20)
        assert c[ClockName.INTAKE].due_at == ticket.reported_at + timedelta(minutes=15)  # bad value: default


def test_clock_times_are_utc_in_the_api_form(app, ctx_for):
    with app.app_context():
        ticket = new_ticket(ctx_for)
        first_contact = clocks(ticket, T0)[ClockName.FIRST_CONTACT].as_dict()
        assert first_contact == {"name": "first_contact", "due_at": "2026-11-24T02:30:00+00:00", "done_at": None,
                                 "state": "pending"}


def test_device_lookup_ignores_case_and_spaces(app, people):
    with app.app_context():
        model = intake.find_device_model("blackmagic   atem mini pro iso")
        assert isinstance(model, DeviceModel) and model.model == "ATEM Mini Pro ISO"
        assert intake.find_device_model("ATEM Mini Pro ISO") == model
        assert intake.find_device_model("不存在的设备") is None


@pytest.mark.parametrize("done_on,state", [((2026, 10, 10, 18, 0), ClockState.MET),
                                           ((2026, 10, 11, 9, 0), ClockState.MISSED)])
def test_case_analysis_clock_counts_working_days_across_national_day(app, ctx_for, done_on, state):
    from domain.core.enums import AnalysisTrigger
    from domain.documents.cases import complete_case_analysis, open_case_analysis

    opened = datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    with app.app_context():
        ticket = new_ticket(ctx_for)
        open_case_analysis(ticket, AnalysisTrigger.FIRST_SEEN, ctx_for("supervisor", opened))
        c = clocks(ticket, opened)[ClockName.CASE_ANALYSIS]
        # 1-7 October are holidays; 8, 9 and the make-up Saturday 10 October are the three working days.
        assert c.state == ClockState.PENDING and c.due_at == datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI)
        done = datetime(*done_on, tzinfo=SHANGHAI)
        with pytest.raises(ValidationError):
            complete_case_analysis(ticket, ctx_for("expert", done), summary="x", root_cause="", fix="y",
                                   prevention="z")
        with pytest.raises(Forbidden):
            complete_case_analysis(ticket, ctx_for("tech", done), summary="a", root_cause="b", fix="c",
                                   prevention="d")
        complete_case_analysis(ticket, ctx_for("expert", done), summary="新故障类型", root_cause="固件缺陷",
                               fix="升级固件", prevention="出库前检查固件版本")
        assert clocks(ticket, done)[ClockName.CASE_ANALYSIS].state == state


def test_the_request_page_offers_what_the_state_machine_allows(app, ctx_for, people, assigned):
    from domain.requests import workflow

    with app.app_context():
        ticket = assigned()
        tech, boss, expert = (db.session.get(User, people[who]) for who in ("tech", "supervisor", "expert"))
        assert workflow.available_actions(ticket, tech) == {"contact"}
        assert workflow.available_actions(ticket, boss) == {"escalate", "assign", "cancel"}
        assert workflow.available_actions(ticket, expert) == set()
        remote_work.record_contact(ticket, ctx_for("tech", T0 + timedelta(minutes=5)), method=ContactMethod.PHONE)
        assert workflow.available_actions(ticket, tech) == {"contact", "remote", "resolve", "schedule_visit"}
        visits.schedule_visit(ticket, ctx_for("tech", T0 + timedelta(minutes=10)),
                                scheduled_at=T0 + timedelta(hours=3), address="A")
        assert workflow.available_actions(ticket, tech) == {"contact", "reschedule_visit", "prepare"}
        assignment.cancel(ticket, "no longer needed", ctx_for("supervisor", T0 + timedelta(minutes=20)))
        assert workflow.available_actions(ticket, tech) == set()
        assert workflow.available_actions(ticket, boss) == set()
