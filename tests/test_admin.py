"""The admin pages: create, edit, deactivate and reset user accounts."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import AuditEvent, User

from .helpers import PASSWORD

EN = {"Accept-Language": "en"}


@pytest.fixture
def admin(signed_in):
    return signed_in(Role.ADMIN)


def _user(app, username):
    with app.app_context():
        return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def test_admin_creates_a_user_who_can_sign_in(app, client, admin):
    response = client.post("/admin/users/new", data={
        "username": "Li.Qiang", "display_name": "李强", "role": "technician", "phone": "13800000000",
        "password": "first-pass-1"})
    assert response.status_code == 302
    user = _user(app, "li.qiang")
    assert user.display_name == "李强" and user.role == Role.TECHNICIAN and user.active
    assert user.password_hash != "first-pass-1"
    fresh = app.test_client()
    assert fresh.post("/auth/login", data={"username": "li.qiang", "password": "first-pass-1"}).status_code == 302
    with app.app_context():
        assert db.session.execute(select(AuditEvent).where(AuditEvent.action == "user.created",
                                                           AuditEvent.actor_id == admin[0])).first()


@pytest.mark.parametrize("data,message", [
    ({"username": "", "display_name": "X", "role": "technician", "password": "long-enough"}, "Enter a username"),
    ({"username": "bad name!", "display_name": "X", "role": "technician", "password": "long-enough"},
     "lower-case letters"),
    ({"username": "ok", "display_name": "", "role": "technician", "password": "long-enough"}, "Enter the full name"),
    ({"username": "ok", "display_name": "X", "role": "technician", "password": "short"}, "at least 8 characters"),
    ({"username": "ok", "display_name": "X", "role": "wizard", "password": "long-enough"}, "Not a valid choice"),
])
def test_bad_new_user_input_is_explained(app, client, admin, data, message):
    response = client.post("/admin/users/new", data=data, headers=EN)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _user(app, "ok") is None


def test_duplicate_username_is_refused(app, client, admin, make_user):
    make_user(Role.EXPERT, "taken")
    response = client.post("/admin/users/new", data={"username": "TAKEN", "display_name": "X",
                                                      "role": "technician", "password": "long-enough"},
                           headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 400
    assert "用户名 taken 已被占用" in response.get_data(as_text=True)


def test_admin_edits_role_and_name(app, client, admin, make_user):
    user_id, name = make_user(Role.TECHNICIAN)
    response = client.post(f"/admin/users/{user_id}", data={"display_name": "张伟", "role": "expert"})
    assert response.status_code == 302
    user = _user(app, name)
    assert (user.display_name, user.role) == ("张伟", Role.EXPERT)


def test_admin_cannot_drop_own_admin_rights(app, client, admin):
    response = client.post(f"/admin/users/{admin[0]}", data={"display_name": "Me", "role": "technician"},
                           headers=EN)
    assert response.status_code == 400
    assert "You cannot remove your own administrator rights" in response.get_data(as_text=True)
    assert _user(app, admin[1]).role == Role.ADMIN


def test_deactivate_and_reactivate(app, client, admin, make_user):
    user_id, name = make_user(Role.TECHNICIAN)
    client.post(f"/admin/users/{user_id}/active", data={"active": "0"})
    assert _user(app, name).active is False
    other = app.test_client()
    assert other.post("/auth/login", data={"username": name, "password": PASSWORD}).status_code == 400
    client.post(f"/admin/users/{user_id}/active", data={"active": "1"})
    assert _user(app, name).active is True
    assert other.post("/auth/login", data={"username": name, "password": PASSWORD}).status_code == 302


def test_admin_cannot_deactivate_self(app, client, admin):
    response = client.post(f"/admin/users/{admin[0]}/active", data={"active": "0"}, follow_redirects=True,
                           headers=EN)
    assert "You cannot deactivate your own account" in response.get_data(as_text=True)
    assert _user(app, admin[1]).active is True


def test_reset_password(app, client, admin, make_user):
    user_id, name = make_user(Role.TECHNICIAN)
    response = client.post(f"/admin/users/{user_id}/password", data={"password": "reset-pass-22"})
    assert response.status_code == 302
    other = app.test_client()
    assert other.post("/auth/login", data={"username": name, "password": PASSWORD}).status_code == 400
    assert other.post("/auth/login", data={"username": name, "password": "reset-pass-22"}).status_code == 302


def test_reset_password_too_short_keeps_the_old_one(app, client, admin, make_user):
    user_id, name = make_user(Role.TECHNICIAN)
    response = client.post(f"/admin/users/{user_id}/password", data={"password": "short"}, headers=EN)
    assert response.status_code == 400 and "at least 8 characters" in response.get_data(as_text=True)
    assert app.test_client().post("/auth/login", data={"username": name, "password": PASSWORD}).status_code == 302


def test_unknown_user_is_404(client, admin):
    assert client.get("/admin/users/99999").status_code == 404


def test_user_list_filters_by_role(client, admin, make_user):
    make_user(Role.EXPERT, "the-expert")
    make_user(Role.DISPATCHER, "the-dispatcher")
    body = client.get("/admin/users?role=expert").get_data(as_text=True)
    assert "the-expert" in body and "the-dispatcher" not in body


def test_policy_page_changes_a_deadline_and_audits_it(app, client, admin):
    from domain.sla.policy import current_policy

    body = client.get("/admin/policy", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "政策默认值：30" in body
    response = client.post("/admin/policy", data={"first_contact_urgent_minutes": "20", "intake_minutes": "15"})
    assert response.status_code == 302
    with app.app_context():
        assert current_policy().first_contact_urgent_minutes == 20
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "policy.changed")).scalar_one()
        assert event.data == {"setting": "first_contact_urgent_minutes", "old": 30, "new": 20}
    # Back to the default: the stored override goes away.
    client.post("/admin/policy", data={"first_contact_urgent_minutes": "30"})
    with app.app_context():
        from domain.sla.models import PolicySetting

        assert db.session.query(PolicySetting).count() == 0


@pytest.mark.parametrize("value", ["0", "-5", "abc", "99999999"])
def test_policy_page_refuses_bad_numbers(app, client, admin, value):
    from domain.sla.policy import current_policy

    response = client.post("/admin/policy", data={"remote_fix_minutes": value}, headers=EN)
    assert response.status_code == 400 and "Enter a whole number" in response.get_data(as_text=True)
    with app.app_context():
        assert current_policy().remote_fix_minutes == 30


def test_calendar_overrides_can_be_added_and_removed(app, client, admin):
    from datetime import date

    from domain.sla.models import CalendarOverride

    response = client.post("/admin/calendar", data={"day": "2031-01-06", "is_workday": "0", "note": "公司假日"})
    assert response.status_code == 302
    body = client.get("/admin/calendar", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "2031-01-06" in body and "公司假日" in body
    with app.app_context():
        assert db.session.get(CalendarOverride, date(2031, 1, 6)).is_workday is False
    client.post("/admin/calendar/2031-01-06/delete")
    with app.app_context():
        assert db.session.get(CalendarOverride, date(2031, 1, 6)) is None
    assert client.post("/admin/calendar", data={"day": "", "is_workday": "1"}).status_code == 400
    assert client.post("/admin/calendar/not-a-date/delete").status_code == 404
