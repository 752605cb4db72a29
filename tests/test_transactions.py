"""The unit of work: the request (or command) commits once, rolls back on any error; work queued for after the
commit runs only after a commit; a form action leaves nothing half-written; a stale version is a 409."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from domain.core import uow
from domain.core.db import db
from domain.core.errors import Conflict, DomainError
from domain.requests.models import Ticket
from domain.sla.models import CalendarOverride

from .helpers import API_BODY, API_STAFF, new_ticket, signed_client, staff_fixture

staff = staff_fixture(API_STAFF)


def _write_override(note: str) -> None:
    from datetime import date

    db.session.add(CalendarOverride(day=date(2031, 1, 1), is_workday=False, note=note))


@pytest.fixture
def routes(app):
    """Test-only views that write, then succeed, fail with an answer, or raise."""
    from flask import abort

    from blueprints.access import public

    ran = []

    @app.post("/_t/ok")
    @public
    def ok():
        _write_override("ok")
        uow.after_commit(lambda: ran.append("after ok"))
        return "done"

    @app.post("/_t/answer-400")
    @public
    def answer_400():
        _write_override("400")
        uow.after_commit(lambda: ran.append("after 400"))
        return "bad", 400

    @app.post("/_t/abort")
    @public
    def aborted():
        _write_override("abort")
        abort(403)

    @app.post("/_t/raise")
    @public
    def raises():
        _write_override("raise")
        uow.after_commit(lambda: ran.append("after raise"))
        raise RuntimeError("boom")

    return ran


def _overrides(app) -> list[str]:
    with app.app_context():
        return [o.note for o in db.session.execute(select(CalendarOverride)).scalars()]


def test_a_successful_request_commits_once_and_then_runs_its_queued_work(app, routes):
    assert app.test_client().post("/_t/ok").status_code == 200
    assert _overrides(app) == ["ok"] and routes == ["after ok"]


@pytest.mark.parametrize("path,status", [("/_t/answer-400", 400), ("/_t/abort", 403), ("/_t/raise", 500)])
def test_an_error_answer_or_exception_rolls_back_and_drops_queued_work(app, routes, path, status):
    assert app.test_client().post(path).status_code == status
    assert _overrides(app) == [] and routes == []


def test_a_failing_after_commit_job_keeps_the_committed_work(app):
    done = []
    with app.app_context():
        _write_override("kept")

        def broken():
            _write_override("never")  # same day: would collide, and is rolled back with the job
            raise RuntimeError("renderer down")

        uow.after_commit(broken)
        uow.after_commit(lambda: done.append(True))
        uow.commit()
    assert _overrides(app) == ["kept"] and done == [True]


def test_a_command_transaction_rolls_back_on_error(app):
    with app.app_context():
        with pytest.raises(RuntimeError), uow.transaction():
            _write_override("half")
            raise RuntimeError("stopped")
    assert _overrides(app) == []


def test_a_refused_form_action_leaves_nothing_of_its_own_writes(app, ctx_for):  # noqa: F811
    with app.app_context():
        ticket = new_ticket(ctx_for)
        uow.commit()
        number, before = ticket.number, ticket.problem

        def half_then_refused():
            ticket.problem = "overwritten"
            _write_override("half")
            db.session.flush()
            raise DomainError("refused", "no")

        with app.test_request_context():
            from blueprints.core.actions import form_action

            outcome = form_action(half_then_refused)
        assert not outcome.ok and outcome.error.code == "refused"
        uow.commit()
        assert db.session.execute(select(Ticket.problem).where(Ticket.number == number)).scalar_one() == before
    assert _overrides(app) == []


def test_a_stale_version_is_the_one_conflict(app, ctx_for):  # noqa: F811
    with app.app_context():
        ticket = new_ticket(ctx_for)
        uow.commit()
        number = ticket.number
        ticket.problem = "mine"
        # Someone else saves the same request meanwhile (another connection bumps its version).
        with db.engine.begin() as other:
            other.execute(Ticket.__table__.update().where(Ticket.__table__.c.number == number)
                          .values(version=Ticket.__table__.c.version + 1))
        with pytest.raises(Conflict) as raised:
            uow.commit()
        assert raised.value.code == "changed_meanwhile" and number in str(raised.value.message)


def test_a_request_changed_meanwhile_answers_409_json(app, staff, monkeypatch):  # noqa: F811
    """Through the web: the request's commit meets the stale version and the error handlers answer 409."""
    number = signed_client(app, "desk").post("/api/v1/requests", json=API_BODY).get_json()["number"]
    from domain.requests import assignment

    real_assign = assignment.assign

    def assign_while_someone_else_saves(ticket, *args, **kwargs):
        real_assign(ticket, *args, **kwargs)
        with db.engine.begin() as other:
            other.execute(Ticket.__table__.update().where(Ticket.__table__.c.number == number)
                          .values(version=Ticket.__table__.c.version + 1))

    monkeypatch.setattr(assignment, "assign", assign_while_someone_else_saves)
    response = signed_client(app, "boss").post(f"/api/v1/requests/{number}/assign", json={"technician": "li"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "changed_meanwhile"
    monkeypatch.undo()
    with app.app_context():
        assert db.session.execute(select(Ticket).where(Ticket.number == number)).scalar_one().assignee is None
