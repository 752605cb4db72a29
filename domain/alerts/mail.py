"""Outgoing e-mail through an outbox: a mail is a row first, sent by the worker after the commit.

With no SMTP_HOST the mail is written to the log once and kept ("held"); it goes out once SMTP is configured.
A refused or unreachable server is retried with a growing pause (1, 2, 4... minutes, at most 6 hours); the
mail stays in the outbox, visible to an administrator, and is never dropped.
"""
from __future__ import annotations

import logging
import re
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from ..alerts.models import OutboxMail
from ..core import validation
from ..core.blobs import store_blob
from ..core.db import db
from ..core.deferred import after_commit_task
from ..core.models import Blob
from ..core.settings import MailSettings
from ..core.types import utcnow

log = logging.getLogger(__name__)

QUEUED, HELD, SENT = "queued", "held", "sent"
MAX_PAUSE = timedelta(hours=6)
CLAIM_FOR = timedelta(minutes=10)  # a worker killed while sending: the mail is tried again after this
BATCH = 50


# Also the phone's (signing.pad_rules). No control characters: a NUL is a text the database refuses.
EMAIL_RE = re.compile(r"^[^@\s,;<>\x00-\x1f\x7f]+@[^@\s,;<>\x00-\x1f\x7f]+\.[^@\s,;<>\x00-\x1f\x7f]+$")
EMAIL_MAX = 254
INVALID_EMAIL = _l("Enter a valid e-mail address, or leave it empty.")


def valid_email(value: str) -> bool:
    """A plausible single address (the mail server has the last word), never a text that cannot be stored (a lone
    surrogate)."""
    return len(value) <= EMAIL_MAX and validation.text_problem(value) is None and EMAIL_RE.match(value) is not None


def queue_mail(kind: str, recipients: list[str], subject: str, body: str,
               attachments: list[tuple[str, bytes, str]] | None = None) -> OutboxMail | None:
    """Put a mail in the outbox (sent after the commit). Attachments are (filename, bytes, media type)."""
    recipients = [r.strip() for r in recipients if r and r.strip()]
    if not recipients:
        return None
    files = []
    for filename, data, media_type in attachments or []:
        files.append({"filename": filename, "sha256": store_blob(data, media_type).sha256,
                      "media_type": media_type})
    mail = OutboxMail(kind=kind, recipients=recipients, subject=subject[:300], body=body, attachments=files)
    db.session.add(mail)
    after_commit_task("send_mail")
    return mail


def build_message(mail: OutboxMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(mail.recipients)
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip(">") or None)
    message.set_content(mail.body)
    for item in mail.attachments or []:
        blob = db.session.get(Blob, item["sha256"])
        maintype, _, subtype = item["media_type"].partition("/")
        message.add_attachment(blob.data, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=item["filename"])
    return message


def smtp_send(settings: MailSettings, message: EmailMessage) -> None:
    host, port, mode = settings.host, settings.port, settings.tls
    if mode == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=20, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=20)
    with client:
        if mode == "starttls":
            client.starttls(context=ssl.create_default_context())
        if settings.user:
            client.login(settings.user, settings.password or "")
        client.send_message(message)


def pause_after(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_PAUSE)


def sendable_states(settings: MailSettings) -> list[str]:
    return [QUEUED, HELD] if settings.host else [QUEUED]


def due_mail(settings: MailSettings, now: datetime) -> list[int]:
    """The mail to try now, oldest first."""
    return list(db.session.execute(select(OutboxMail.id).where(OutboxMail.state.in_(sendable_states(settings)),
                                                               OutboxMail.next_attempt_at <= now)
                                   .order_by(OutboxMail.id).limit(BATCH)).scalars())


def claim(mail_id: int, settings: MailSettings, now: datetime) -> bool:
    """Take one mail for sending (the caller commits): another worker skips it, and a worker killed while
    sending leaves it to be tried again after CLAIM_FOR."""
    return bool(db.session.execute(update(OutboxMail).where(OutboxMail.id == mail_id,
                                                            OutboxMail.state.in_(sendable_states(settings)),
                                                            OutboxMail.next_attempt_at <= now)
                                   .values(next_attempt_at=now + CLAIM_FOR)).rowcount)


def message_or_hold(mail_id: int, settings: MailSettings, now: datetime) -> EmailMessage | None:
    """The message to send; with no SMTP_HOST the mail is written to the log, marked held (kept) and None is
    returned."""
    mail = db.session.get(OutboxMail, mail_id)
    if not settings.host:
        log.warning("SMTP_HOST is not set: mail %s kept in the outbox, not sent.\nTo: %s\nSubject: %s\n\n%s",
                    mail.id, ", ".join(mail.recipients), mail.subject, mail.body)
        mail.state, mail.last_error, mail.next_attempt_at = HELD, "SMTP_HOST not set: written to the log, kept", now
        return None
    return build_message(mail, settings.sender)


def try_send(settings: MailSettings, message: EmailMessage, sender=smtp_send) -> str | None:
    """Hand the message to the SMTP server (no database): None when accepted, else the error."""
    try:
        sender(settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        return f"{type(exc).__name__}: {exc}"[:1000]
    return None


def record_attempt(mail_id: int, error: str | None, now: datetime) -> bool:
    """Sent, or queued again after a pause that grows with each failure. True when sent."""
    mail = db.session.get(OutboxMail, mail_id)
    mail.attempts += 1
    if error is None:
        mail.state, mail.sent_at, mail.last_error = SENT, utcnow(), None
        return True
    log.warning("mail %s not sent (attempt %s): %s", mail_id, mail.attempts, error)
    mail.state, mail.last_error = QUEUED, error
    mail.next_attempt_at = now + pause_after(mail.attempts)
    return False


def outbox_rows(limit: int = 200) -> list[OutboxMail]:
    """What an administrator sees: unsent mail first, then the latest sent."""
    return list(db.session.execute(select(OutboxMail).order_by(
        (OutboxMail.state == SENT), OutboxMail.id.desc()).limit(limit)).scalars())


def retry_now(mail_id: int) -> None:
    db.session.execute(update(OutboxMail).where(OutboxMail.id == mail_id, or_(OutboxMail.state == QUEUED,
                                                                              OutboxMail.state == HELD))
                       .values(next_attempt_at=utcnow()))
    after_commit_task("send_mail")

