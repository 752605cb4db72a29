"""Submission and review: the 2-hour clock, approve or return, internal fields only after a return, case analyses."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from domain.core import context
from domain.core.db import db
from domain.core.enums import ClockName, ClockState, TicketStatus
from domain.core.errors import DomainError, ValidationError
from domain.core.models import User
from domain.documents import review
from domain.requests import access
from domain.requests.models import FaultCategory
from domain.sla.clocks import ticket_clocks

from .helpers import ZH, signed_client
from .orderfactory import SHANGHAI, make_signed_order


@pytest.fixture
def signed(app, make_user):
    with app.app_context():
        return make_signed_order(make_user, photos=0)


def ctx_of(made, who, now=None):
    return context.Context(actor=db.session.get(User, made["ids"][who]), tz=SHANGHAI,
                            **({"now": now} if now else {}))


def fault_of(ticket):
    return db.session.execute(select(FaultCategory).where(
        FaultCategory.device_category_id == ticket.device_category_id)).scalars().first()


def test_submit_needs_the_write_up_then_stops_the_2_hour_clock(app, signed):
    with app.app_context():
        ticket = access.get_ticket(signed["number"])
        with pytest.raises(ValidationError) as raised:
            review.submit(ticket, ctx_of(signed, "tech"))
        assert set(raised.value.fields) == {"fault_category_id", "solution_summary"}
        review.save_internal_fields(ticket, ctx_of(signed, "tech"), fault_category_id=fault_of(ticket).id,
                                    root_cause="接头氧化", solution_summary="更换 SDI 线缆", parts_used="SDI 线 1 根")
        ended = ticket.service_ended_at
        review.submit(ticket, ctx_of(signed, "tech", ended + timedelta(minutes=90)))
        clock = {c.name: c for c in ticket_clocks(ticket, ended + timedelta(hours=3))}[ClockName.SUBMISSION]
        assert ticket.status == TicketStatus.SUBMITTED and clock.state == ClockState.MET


def test_late_submission_misses_the_clock(app, signed):
    with app.app_context():
        ticket = access.get_ticket(signed["number"])
        review.save_internal_fields(ticket, ctx_of(signed, "tech"), fault_category_id=fault_of(ticket).id,
                                    root_cause="", solution_summary="更换线缆", parts_used="")
        late = ticket.service_ended_at + timedelta(hours=2, minutes=5)
        review.submit(ticket, ctx_of(signed, "tech", late))
        assert {c.name: c for c in ticket_clocks(ticket, late)}[ClockName.SUBMISSION].state == ClockState.MISSED


def test_return_then_amend_internal_fields_never_the_signed_content(app, signed):
    number = signed["number"]
    tech, boss = signed_client(app, signed["ids"]["tech"]), signed_client(app, signed["ids"]["boss"])
    with app.app_context():
        ticket = access.get_ticket(number)
        fault, content = fault_of(ticket).id, ticket.service_order.content_sha256
    tech.post(f"/orders/{number}/internal", data={"fault_category_id": fault, "solution_summary": "更换线缆",
                                                  "submit": "1"})
    assert number in boss.get("/orders/review").get_data(as_text=True)
    response = boss.post(f"/orders/{number}/review", data={"decision": "return", "comment": ""}, headers=ZH,
                         follow_redirects=True)
    assert "请说明需要修改的内容" in response.get_data(as_text=True)
    boss.post(f"/orders/{number}/review", data={"decision": "return", "comment": "请补充根本原因"})
    page = tech.get(f"/dispatch/requests/{number}", headers=ZH).get_data(as_text=True)
    assert "已退回：请补充根本原因" in page
    tech.post(f"/orders/{number}/internal", data={"fault_category_id": fault, "root_cause": "接头氧化",
                                                  "solution_summary": "更换线缆并清洁接口", "submit": "1"})
    boss.post(f"/orders/{number}/review", data={"decision": "approve", "comment": ""})
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.status == TicketStatus.APPROVED and ticket.root_cause == "接头氧化"
        assert [r.decision.value for r in ticket.reviews] == ["returned", "approved"]
        assert ticket.service_order.content_sha256 == content  # what the customer signed is untouched
        assert ticket.signature.signer_name == "黄磊"


def test_an_already_reviewed_order_cannot_be_reviewed_again(app, signed):
    with app.app_context():
        ticket = access.get_ticket(signed["number"])
        review.save_internal_fields(ticket, ctx_of(signed, "tech"), fault_category_id=fault_of(ticket).id,
                                    root_cause="", solution_summary="x", parts_used="")
        review.submit(ticket, ctx_of(signed, "tech"))
        review.review(ticket, ctx_of(signed, "boss"), approve=True, comment="")
        with pytest.raises(DomainError) as raised:
            review.review(ticket, ctx_of(signed, "boss"), approve=False, comment="再看看")
        assert raised.value.code == "illegal_transition"
        with pytest.raises(DomainError):
            review.save_internal_fields(ticket, ctx_of(signed, "tech"), fault_category_id=None, root_cause="",
                                        solution_summary="改", parts_used="")


def test_first_seen_fault_type_opens_a_case_analysis(app, signed, make_user):
    with app.app_context():
        ticket = access.get_ticket(signed["number"])
        review.save_internal_fields(ticket, ctx_of(signed, "tech"), fault_category_id=fault_of(ticket).id,
                                    root_cause="", solution_summary="x", parts_used="")
        review.submit(ticket, ctx_of(signed, "tech"))
        review.review(ticket, ctx_of(signed, "boss"), approve=True, comment="")
        db.session.commit()
        assert ticket.case_analysis is not None and ticket.case_analysis.trigger.value == "first_seen"
        clock = {c.name: c for c in ticket_clocks(ticket, ticket.closed_at)}[ClockName.CASE_ANALYSIS]
        assert clock.state == ClockState.PENDING
        # The same fault type again: no new analysis unless the supervisor marks it complex.
        second = make_signed_order(make_user, photos=0)
        other = access.get_ticket(second["number"])
        review.save_internal_fields(other, ctx_of(second, "tech"), fault_category_id=fault_of(other).id,
                                    root_cause="", solution_summary="x", parts_used="")
        review.submit(other, ctx_of(second, "tech"))
        review.review(other, ctx_of(second, "boss"), approve=True, comment="")
        assert other.case_analysis is None


def test_only_a_supervisor_reviews(app, signed):
    with app.app_context():
        ticket = access.get_ticket(signed["number"])
        from domain.core.errors import Forbidden

        with pytest.raises(Forbidden):
            review.review(ticket, ctx_of(signed, "expert"), approve=True, comment="")
