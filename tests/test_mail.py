"""E-mail through a real SMTP server (aiosmtpd on 127.0.0.1): the outbox, retries when the server is down, the
log when no server is configured, the weekly report delivered on Monday 09:00 (Asia/Shanghai) and the
customer's copy of the signed order."""
from __future__ import annotations

import email
import socket
from datetime import UTC, datetime, timedelta
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

import worker
from domain.alerts import mail, weekly
from domain.alerts import tasks as alerts_tasks
from domain.alerts.models import Notification, OutboxMail, StoredReport
from domain.core import uow
from domain.core.db import db
from domain.core.enums import Role
from domain.reporting.reports import Week

from .helpers import SHANGHAI, settings_of, signed_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.content, policy=email_policy.default)))
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int):
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)

    def __enter__(self):
        self.controller.start()
        return self.inbox

    def __exit__(self, *exc):
        self.controller.stop()


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def mail_app(make_app, smtp_port):
    return make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port, SMTP_TLS="off", MAIL_FROM="support@fs.example.com",
                    WEEKLY_REPORT_TO="cs@fs.example.com, cs-lead@fs.example.com",
                    PUBLIC_URL="https://fs.example.com")


def test_a_mail_goes_out_through_smtp(mail_app, smtp_port):
    with SmtpServer(smtp_port) as inbox, mail_app.app_context():
        mail.queue_mail("test", ["a@example.com"], "主题 subject", "正文",
                        [("x.pdf", b"%PDF-1.7 test", "application/pdf")])
        uow.commit()  # sent after the commit (the worker, here at once)
        [(rcpt, message)] = inbox.messages
        assert rcpt == ["a@example.com"] and message["Subject"] == "主题 subject"
        assert message["From"] == "support@fs.example.com"
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == "x.pdf" and attachment.get_content() == b"%PDF-1.7 test"
        assert db.session.execute(select(OutboxMail.state)).scalar_one() == "sent"


def test_a_server_that_is_down_is_retried_with_backoff_and_nothing_is_lost(mail_app, make_user, smtp_port):
    now = datetime.now(UTC)
    with mail_app.app_context():
        mail.queue_mail("test", ["a@example.com"], "Retry me", "body")
        uow.commit()  # nobody listens on the port yet: the attempt fails
        row = db.session.execute(select(OutboxMail)).scalar_one()
        assert row.state == "queued" and row.attempts == 1 and "Connection" in row.last_error
        first_retry = row.next_attempt_at
        assert alerts_tasks.send_due_mail(settings_of(mail_app).mail, now=now) == 0  # not due yet: no attempt
        assert db.session.execute(select(OutboxMail.attempts)).scalar_one() == 1
        assert alerts_tasks.send_due_mail(settings_of(mail_app).mail, now=first_retry + timedelta(seconds=1)) == 0
        row = db.session.execute(select(OutboxMail)).scalar_one()
        assert row.attempts == 2 and row.next_attempt_at - first_retry >= timedelta(minutes=2)  # growing pause
        pending_until = row.next_attempt_at
    _, admin = make_user(Role.ADMIN)
    page = signed_client(mail_app, admin).get("/admin/outbox").get_data(as_text=True)
    assert "Retry me" in page and "Connection" in page  # visible to an admin
    with SmtpServer(smtp_port) as inbox, mail_app.app_context():
        assert alerts_tasks.send_due_mail(settings_of(mail_app).mail, now=pending_until + timedelta(seconds=1)) == 1
        assert [m["Subject"] for _, m in inbox.messages] == ["Retry me"]


def test_without_smtp_host_mail_is_logged_and_kept(make_app, caplog):
    app = make_app(SMTP_HOST=None)
    with app.app_context():
        mail.queue_mail("test", ["a@example.com"], "Kept", "the body text")
        uow.commit()
        row = db.session.execute(select(OutboxMail)).scalar_one()
        assert row.state == "held" and row.sent_at is None
    assert "the body text" in caplog.text and "SMTP_HOST is not set" in caplog.text
    port = free_port()
    configured = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TLS="off")
    with SmtpServer(port) as inbox, configured.app_context():
        # once SMTP is configured, the kept mail goes out
        assert alerts_tasks.send_due_mail(settings_of(configured).mail) == 1
        assert inbox.messages[0][1]["Subject"] == "Kept"


def test_the_delivery_week_turns_at_monday_nine_in_shanghai():
    # Monday 2026-11-30 09:00 in Shanghai is 01:00 UTC; the report due then is week 48 (Nov 23-29).
    assert weekly.week_due(datetime(2026, 11, 30, 0, 59, tzinfo=UTC), SHANGHAI).label == "2026-W47"
    assert weekly.week_due(datetime(2026, 11, 30, 1, 0, tzinfo=UTC), SHANGHAI).label == "2026-W48"
    # Sunday evening in UTC is already Monday in Shanghai: still before 09:00 there.
    assert weekly.week_due(datetime(2026, 11, 29, 20, 0, tzinfo=UTC), SHANGHAI).label == "2026-W47"
    assert weekly.week_due(datetime(2026, 12, 6, 23, 0, tzinfo=UTC), SHANGHAI).label == "2026-W48"
    # Across the year boundary: Monday 2027-01-04 09:00 delivers 2026-W53.
    assert weekly.week_due(datetime(2027, 1, 4, 1, 0, tzinfo=UTC), SHANGHAI).label == "2026-W53"


def test_the_weekly_report_is_stored_mailed_and_announced_on_monday(mail_app, make_user, smtp_port):
    boss_id, boss = make_user(Role.SUPERVISOR, "boss")
    monday_nine = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    with SmtpServer(smtp_port) as inbox:
        with mail_app.app_context():
            db.session.add(StoredReport(week="2026-W47", pdf_sha256=mail.store_blob(b"%PDF", "application/pdf")
                                        .sha256, csv_sha256=mail.store_blob(b"a", "text/csv").sha256))
            db.session.commit()
        with mail_app.app_context():  # the worker's minute tick, with an injected clock
            assert worker.tick(monday_nine - timedelta(minutes=1))["weekly"] == 0  # W47 stored: nothing to do
            assert worker.tick(monday_nine)["weekly"] == 1
            assert worker.tick(monday_nine + timedelta(minutes=1))["weekly"] == 0  # never twice
        [(rcpt, message)] = inbox.messages
    assert rcpt == ["cs@fs.example.com", "cs-lead@fs.example.com"]
    assert "2026-W48" in message["Subject"]
    files = {a.get_filename(): a.get_content() for a in message.iter_attachments()}
    assert files["weekly-report-2026-W48.pdf"].startswith(b"%PDF-")
    assert files["weekly-report-2026-W48.csv"].count("\n") > 3
    with mail_app.app_context():
        [note] = db.session.execute(select(Notification).where(Notification.user_id == boss_id)).scalars().all()
        assert note.kind == "weekly_report" and note.params["week"] == "2026-W48"
    client = signed_client(mail_app, boss)
    page = client.get("/reports/delivered").get_data(as_text=True)
    assert "2026-W48" in page and "2026-W47" in page
    pdf = client.get("/reports/delivered/2026-W48.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert client.get("/reports/delivered/2026-W01.pdf").status_code == 404


def test_week_label_matches_the_report_module():
    assert Week(2026, 48, SHANGHAI).label == "2026-W48"


def test_customer_email_on_intake_and_the_copy_after_signing(mail_app, make_user, smtp_port):
    from domain.fieldwork import signing
    from domain.requests import access

    from .orderfactory import SHANGHAI as TZ
    from .orderfactory import make_signed_order, signature_data_url

    _, desk = make_user(Role.DISPATCHER, "desk")
    client = signed_client(mail_app, desk)
    body = {"customer_name": "远山音乐现场", "contact_phone": "13600136004", "device_model": "Behringer X32",
            "problem": "主输出无声", "urgency": "normal"}
    bad = client.post("/api/v1/requests", json={**body, "customer_email": "not an address"})
    assert bad.status_code == 422 and "customer_email" in bad.get_json()["error"]["fields"]
    good = client.post("/api/v1/requests", json={**body, "customer_email": "zhao@example.com"})
    assert good.status_code == 201
    with mail_app.app_context():
        assert access.get_ticket(good.get_json()["number"]).customer_email == "zhao@example.com"
    # At signing on the phone: the e-mail given there is used, and the customer gets the link.
    with SmtpServer(smtp_port) as inbox, mail_app.app_context():
        made = make_signed_order(make_user, photos=0, sign=False)
        ticket = access.get_ticket(made["number"])
        from domain.core import context
        from domain.core.models import User

        ctx = context.Context(actor=db.session.get(User, made["ids"]["tech"]), tz=TZ)
        signing.sign_order(ticket, ctx, signer_name="黄磊", rating=5, comment="", device_id="phone-1",
                           signature_png=signature_data_url(), strokes=[[[1, 2, 0], [3, 4, 16]]],
                           signed_at_client=None, customer_email="huang@example.com")
        uow.commit()
        [(rcpt, message)] = inbox.messages
    assert rcpt == ["huang@example.com"] and made["number"] in message["Subject"]
    link = next(line for line in message.get_content().splitlines() if "/o/" in line).strip()
    assert link.startswith("https://fs.example.com/o/")
    response = mail_app.test_client().get(link.removeprefix("https://fs.example.com"))
    assert response.status_code == 200  # the customer opens it without an account


def test_intake_form_takes_the_customers_email(mail_app, make_user):
    _, desk = make_user(Role.DISPATCHER, "desk")
    page = signed_client(mail_app, desk).get("/dispatch/new").get_data(as_text=True)
    assert 'name="customer_email"' in page and 'type="email"' in page
