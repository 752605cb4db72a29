"""The exception paths of a real day, through the sync contract as the phone sends them: a customer who cannot be
reached is escalated to the supervisors after the policy's number of attempts in a row; a technician hands a job
back with the reason, the supervisors are alerted and reassign it, the work done kept (issue 24)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from domain.alerts.models import Notification
from domain.core.db import db
from domain.sla.models import PolicySetting

from .phones import op, phone


def _unreachable(app) -> list[Notification]:
    with app.app_context():
        return db.session.execute(select(Notification).where(Notification.kind == "unreachable")
                                  .order_by(Notification.id)).scalars().all()


def _call(client, number, reached: bool, minutes: float):
    result = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [
        op("contact.made", number, {"method": "phone", "reached": reached, "note": "无人接听"}, minutes=minutes)]})
    assert result.json["results"][0]["status"] == "applied", result.json


def test_the_supervisors_are_told_after_the_policys_attempts_without_reaching_the_customer(app, assigned):  # noqa: F811
    client = phone(app)
    for i in range(2):
        _call(client, assigned, False, -20 + i)
    assert _unreachable(app) == []  # two calls: the technician keeps trying
    _call(client, assigned, False, -17)
    (alert,) = _unreachable(app)
    assert alert.params["attempts"] == 3 and alert.params["number"] == assigned
    with app.app_context():
        from domain.core.models import User

        assert db.session.get(User, alert.user_id).username == "boss"  # the supervisor, not the technician
    # The same op sent again (a lost answer): nobody is alerted twice.
    with app.app_context():
        from domain.fieldwork.models import SyncOp

        last = db.session.execute(select(SyncOp).order_by(SyncOp.id.desc())).scalars().first()
        body = __import__("json").loads(last.body)
    replay = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [body]}).json["results"][0]
    assert replay["status"] == "duplicate"
    assert len(_unreachable(app)) == 1
    for i in range(2):
        _call(client, assigned, False, -16 + i)
    assert len(_unreachable(app)) == 1
    _call(client, assigned, False, -14)  # six in a row: told again
    assert [a.params["attempts"] for a in _unreachable(app)] == [3, 6]
    # Reached at last: the first contact is made, and later missed calls escalate nothing.
    _call(client, assigned, True, -13)
    for i in range(3):
        _call(client, assigned, False, -12 + i)
    assert len(_unreachable(app)) == 2
    # The supervisor reads it in their language, with the request's number and the count.
    items = phone(app, "boss").get("/api/v1/notifications").json["items"]
    titles = [item["title"] for item in items if item["kind"] == "unreachable"]
    assert any(assigned in title and "3" in title for title in titles), titles


def test_the_number_of_attempts_is_the_policys(app, assigned):  # noqa: F811
    with app.app_context():
        db.session.add(PolicySetting(key="unreachable_attempts", value="2"))
        db.session.commit()
    client = phone(app)
    _call(client, assigned, False, -10)
    assert _unreachable(app) == []
    _call(client, assigned, False, -9)
    assert [a.params["attempts"] for a in _unreachable(app)] == [2]


def _send(client, number, kind, data, minutes=0):
    return client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [op(kind, number, data, minutes=minutes)]}
                       ).json["results"][0]


def test_a_job_handed_back_waits_for_the_supervisor_who_reassigns_it_with_the_work_kept(app, assigned, make_user):  # noqa: F811
    from domain.core import context
    from domain.core.enums import Role
    from domain.core.models import User
    from domain.requests import access, assignment

    from .orderfactory import SHANGHAI

    client = phone(app)
    assert _send(client, assigned, "contact.made", {"method": "phone", "reached": True}, -10)["status"] == "applied"
    refused = _send(client, assigned, "job.handed_back", {"reason": "  "}, -5)
    assert (refused["status"], refused["code"]) == ("rejected", "reason_required")
    assert _send(client, assigned, "job.handed_back", {"reason": "身体不适，无法上门"}, -4)["status"] == "applied"
    again = _send(client, assigned, "job.handed_back", {"reason": "再次交回"}, -3)
    assert (again["status"], again["code"]) == ("rejected", "already_done")
    # Still on the technician's phone, saying so, until reassigned.
    (job,) = [j for j in client.get("/api/v1/me/jobs").json["jobs"] if j["number"] == assigned]
    assert job["handback_reason"] == "身体不适，无法上门" and job["handed_back_at"] and job["facts"]["handed_back"]
    with app.app_context():
        alerts = db.session.execute(select(Notification).where(Notification.kind == "handed_back")).scalars().all()
        assert [db.session.get(User, a.user_id).username for a in alerts] == ["boss"]
        assert alerts[0].params["text"] == "身体不适，无法上门"
    boss = phone(app, "boss")
    page = boss.get(f"/dispatch/requests/{assigned}").get_data(as_text=True)
    assert 'id="handed-back"' in page and "身体不适，无法上门" in page
    # The supervisor reassigns it: the new technician has it, with the first contact already made.
    make_user(Role.TECHNICIAN, "t2")
    with app.app_context():
        ticket = access.get_ticket(assigned)
        boss_user = db.session.execute(select(User).where(User.username == "boss")).scalar_one()
        t2 = db.session.execute(select(User).where(User.username == "t2")).scalar_one()
        from datetime import UTC, datetime
        assignment.assign(ticket, t2, context.Context(actor=boss_user, tz=SHANGHAI, now=datetime.now(UTC)))
        db.session.commit()
    assert [j["number"] for j in client.get("/api/v1/me/jobs").json["jobs"]] == []
    (job,) = phone(app, "t2").get("/api/v1/me/jobs").json["jobs"]
    assert job["handed_back_at"] is None and job["facts"]["contact_made"] and not job["facts"]["handed_back"]
    assert 'id="handed-back"' not in boss.get(f"/dispatch/requests/{assigned}").get_data(as_text=True)


def test_a_job_is_not_handed_back_once_the_service_is_over(app, assigned):  # noqa: F811
    client = phone(app)
    _send(client, assigned, "contact.made", {"method": "phone", "reached": True}, -10)
    _send(client, assigned, "remote.resolved", {"cause": "码率过高", "work_done": "降低码率"}, -8)
    refused = _send(client, assigned, "job.handed_back", {"reason": "不想做了"}, -5)
    assert (refused["status"], refused["code"]) == ("rejected", "service_ended")


@pytest.mark.parametrize("reason", ["生病\x00了", "\ud800", "²" * 3, "1" * 20, "x" * 20000, 12345678901234567890,
                                    float("inf"), ["深", ["层"]], None])
def test_hostile_hand_back_reasons_are_refused_or_kept_never_a_500(app, assigned, reason):  # noqa: F811
    import json as jsonlib

    client = phone(app)
    body = jsonlib.dumps({"device_id": "phone-1", "ops": [op("job.handed_back", assigned, {"reason": reason})]},
                         allow_nan=True)
    response = client.post("/api/v1/sync", data=body, content_type="application/json")
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:
        (result,) = response.json["results"]
        assert result["status"] in ("applied", "rejected")
        if result["status"] == "applied":  # only a storable text gets through, kept whole up to the limit
            with app.app_context():
                from domain.requests import access

                stored = access.get_ticket(assigned).handback_reason
                assert isinstance(reason, str) and stored and "\x00" not in stored
