"""flask users / seed-demo / doctor."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text

from domain.core.db import db
from domain.core.enums import Role, TicketStatus
from domain.core.models import AuditEvent, User
from domain.core.types import utcnow
from domain.fieldwork.models import Signature
from domain.requests.models import Ticket


def test_users_create(app, runner):
    result = runner.invoke(args=["users", "create", "wang", "--role", "dispatcher", "--password", "pass-word-1",
                                 "--name", "王芳"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.execute(select(User).where(User.username == "wang")).scalar_one()
        assert user.role == Role.DISPATCHER and user.display_name == "王芳" and user.check_password("pass-word-1")


def test_users_create_refuses_bad_input(runner):
    assert runner.invoke(args=["users", "create", "x1", "--role", "wizard", "--password", "pass-word-1"]).exit_code == 2
    result = runner.invoke(args=["users", "create", "x2", "--role", "expert", "--password", "short"])
    assert result.exit_code == 1 and "8" in result.output
    runner.invoke(args=["users", "create", "dup", "--role", "expert", "--password", "pass-word-1"])
    result = runner.invoke(args=["users", "create", "dup", "--role", "expert", "--password", "pass-word-1"])
    assert result.exit_code == 1 and "dup" in result.output


def test_users_reset_password_and_list(app, runner):
    runner.invoke(args=["users", "create", "zhao", "--role", "technician", "--password", "pass-word-1"])
    result = runner.invoke(args=["users", "reset-password", "zhao", "--password", "pass-word-2"])
    assert result.exit_code == 0
    with app.app_context():
        assert db.session.execute(select(User).where(User.username == "zhao")).scalar_one().check_password(
            "pass-word-2")
    assert "zhao" in runner.invoke(args=["users", "list"]).output
    assert runner.invoke(args=["users", "reset-password", "nobody", "--password", "pass-word-2"]).exit_code == 1


def test_seed_demo_covers_every_stage_and_prints_logins(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    for role in Role:
        assert role.value in result.output
    assert "demo1234" in result.output
    with app.app_context():
        statuses = {s for s in db.session.execute(select(Ticket.status)).scalars()}
        assert statuses == set(TicketStatus)
        count = db.session.execute(select(func.count(Ticket.id))).scalar_one()
        assert 18 <= count <= 26  # one request per stage or two, closed unsigned included
        numbers = db.session.execute(select(Ticket.number)).scalars().all()
        assert len(set(numbers)) == count and all(n.startswith("FS-") for n in numbers)
        problems = db.session.execute(select(Ticket.problem)).scalars().all()
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in p) for p in problems)
        # Signed on site: every order past signing but the remote fixes submitted and reviewed since.
        signed = db.session.execute(select(func.count(Signature.id))).scalar_one()
        assert signed == db.session.execute(select(func.count(Ticket.id)).where(Ticket.status.in_(
            [TicketStatus.SIGNED, TicketStatus.SUBMITTED, TicketStatus.APPROVED, TicketStatus.RETURNED]),
            Ticket.remote_resolved_at.is_(None))).scalar_one()
        remote_reviewed = db.session.execute(select(func.count(Ticket.id)).where(
            Ticket.remote_resolved_at.is_not(None), Ticket.status == TicketStatus.APPROVED)).scalar_one()
        assert remote_reviewed >= 2
        # A demo shows the clocks at work, not a board of old misses: no fix waits days to be submitted.
        stale = db.session.execute(select(func.count(Ticket.id)).where(
            Ticket.status.in_([TicketStatus.REMOTE_RESOLVED, TicketStatus.SIGNED]),
            Ticket.service_ended_at < utcnow() - timedelta(days=3))).scalar_one()
        assert stale == 0
        # Every demo request's history is attributable.
        assert db.session.execute(select(func.count(AuditEvent.id))).scalar_one() >= count
    # Running it again adds nothing and still prints the logins.
    again = runner.invoke(args=["seed-demo"])
    assert "already present" in again.output and "supervisor" in again.output
    with app.app_context():
        assert db.session.execute(select(func.count(Ticket.id))).scalar_one() == count


def test_demo_users_can_sign_in(app, runner, client):
    runner.invoke(args=["seed-demo"])
    for name in ("dispatcher", "tech", "expert", "supervisor", "admin"):
        assert client.post("/auth/login", data={"username": name, "password": "demo1234"}).status_code == 302
        client.post("/auth/logout")


def test_doctor_reports_every_check(runner):
    result = runner.invoke(args=["doctor"])
    for name in ("database", "migrations", "weasyprint", "font subsetting", "Chinese font"):
        assert f"] {name}:" in result.output, result.output
    assert "Pango" in result.output


def test_doctor_warns_when_postgresql_keeps_no_statistics(app, runner):
    """On PostgreSQL the doctor says whether autovacuum keeps the statistics, as the server says; a warning, not a
    failure (the app works, its sync slows down as the history grows). SQLite has no such setting."""
    result = runner.invoke(args=["doctor"])
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            assert "] statistics:" not in result.output, result.output
            return
        settings = {name: db.session.execute(text(f"SHOW {name}")).scalar_one()
                    for name in ("autovacuum", "track_counts")}
    if all(value == "on" for value in settings.values()):
        assert "[ok  ] statistics: autovacuum on" in result.output, result.output
    else:
        assert "[WARN] statistics:" in result.output and "ALTER SYSTEM SET autovacuum = on" in result.output
        assert "off: tables are never analyzed" in result.output, result.output  # WARN: the exit status stays 0


def test_tokens_create_prints_a_working_token(app, runner):
    runner.invoke(args=["users", "create", "web", "--role", "dispatcher", "--password", "pass-word-1"])
    result = runner.invoke(args=["tokens", "create", "website form", "--user", "web"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    response = app.test_client().get("/api/v1/session", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json()["username"] == "web"
    runner.invoke(args=["users", "create", "fixer", "--role", "technician", "--password", "pass-word-1"])
    assert runner.invoke(args=["tokens", "create", "x", "--user", "fixer"]).exit_code == 1
    assert runner.invoke(args=["tokens", "create", "x", "--user", "nobody"]).exit_code == 1
