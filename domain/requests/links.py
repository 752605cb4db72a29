"""The request's short link code: the customer's tracking page as `PUBLIC_URL/c/<code>`.

An SMS template is approved in advance with its wording fixed, links included; only short variables change
(Aliyun allows 35 characters a variable). So the customer's link is the template's fixed `…/c/` and this code.
It is random (8 characters of 31, ~8.5e11: not guessable at the rate limits of the public pages), given the first
time a message needs it, stored on the request, and cleared when the request's tracking links are revoked (the
next message carries a new one). The long signed token (/c/<token>) stays for the pages and e-mails."""
from __future__ import annotations

import re
import secrets

from sqlalchemy import select

from ..core.db import db
from .models import Ticket

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: read aloud or typed from a message
LENGTH = 8
SHAPE = re.compile(f"[{ALPHABET}]{{{LENGTH}}}")


def link_code(ticket: Ticket) -> str:
    """The request's code, given now if it has none (in the caller's transaction)."""
    if not ticket.link_code:
        ticket.link_code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return ticket.link_code


def ticket_for_code(code: str) -> Ticket | None:
    """The request a code names, or None (a malformed code never reaches the database)."""
    code = code.lower()
    if not SHAPE.fullmatch(code):
        return None
    return db.session.execute(select(Ticket).where(Ticket.link_code == code)).scalar_one_or_none()


def forget_code(ticket: Ticket) -> None:
    ticket.link_code = None
