"""The request state machine: every legal move is allowed and audited, every other move refused."""
from __future__ import annotations

import itertools

import pytest

from domain.core.db import db
from domain.core.enums import TicketStatus as S
from domain.core.errors import DomainError
from domain.core.models import AuditEvent
from domain.requests import workflow
from domain.requests.models import Ticket

LEGAL = {
    (S.NEW, S.ASSIGNED), (S.NEW, S.CANCELLED),
    (S.ASSIGNED, S.CONTACTED), (S.ASSIGNED, S.CANCELLED),
    (S.CONTACTED, S.REMOTE_RESOLVED), (S.CONTACTED, S.VISIT_SCHEDULED), (S.CONTACTED, S.CANCELLED),
    (S.VISIT_SCHEDULED, S.VISIT_SCHEDULED), (S.VISIT_SCHEDULED, S.ON_SITE), (S.VISIT_SCHEDULED, S.CANCELLED),
    (S.ON_SITE, S.SIGNED),
    # another visit; closed without the customer's signature (its own status: the work was done, nothing cancelled)
    (S.ON_SITE, S.CONTACTED), (S.ON_SITE, S.CLOSED_UNSIGNED),
    (S.REMOTE_RESOLVED, S.SUBMITTED), (S.SIGNED, S.SUBMITTED),
    (S.SUBMITTED, S.APPROVED), (S.SUBMITTED, S.RETURNED),
    (S.RETURNED, S.SUBMITTED),
}
PAIRS = list(itertools.product(S, S))


def test_the_table_is_exactly_the_documented_process():
    table = {(a, b) for a, targets in workflow.ALLOWED.items() for b in targets}
    assert table == LEGAL


@pytest.mark.parametrize("current,target", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_each_move(app, current, target):
    with app.app_context():
        ticket = Ticket(number="FS-2026-999999", status=current)
        if (current, target) in LEGAL:
            workflow.move(ticket, target, actor=None, action="test.move", via="test")
            assert ticket.status == target
            event = next(o for o in db.session.new if isinstance(o, AuditEvent))
            assert (event.from_state, event.to_state, event.action) == (current.value, target.value, "test.move")
        else:
            with pytest.raises(DomainError) as raised:
                workflow.move(ticket, target, actor=None, action="test.move")
            assert raised.value.code == "illegal_transition"
            assert ticket.status == current
            assert not any(isinstance(o, AuditEvent) for o in db.session.new)


def test_refusal_names_both_states_in_the_users_language(app):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        ticket = Ticket(number="FS-2026-000042", status=S.APPROVED)
        with pytest.raises(DomainError) as raised:
            workflow.move(ticket, S.ASSIGNED, actor=None, action="x")
        assert str(raised.value.message) == "需求 FS-2026-000042 当前为“已审核归档”，不能变为“已分配”。"


def test_closed_states_are_final():
    assert workflow.ALLOWED[S.APPROVED] == frozenset()
    assert workflow.ALLOWED[S.CANCELLED] == frozenset()
    assert workflow.ALLOWED[S.CLOSED_UNSIGNED] == frozenset()
    assert S.CLOSED_UNSIGNED in workflow.CLOSED and S.CLOSED_UNSIGNED not in workflow.OPEN_STATES
