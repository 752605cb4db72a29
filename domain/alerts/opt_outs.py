"""Customers' replies to our SMS, and STOP / 退订: the providers report a reply by calling a URL of ours.

- Aliyun (SmsUp, "HTTP 批量推送" mode): `POST` a JSON array, each item {"phone_number", "content", "send_time"
  ("2017-09-01 00:00:00", Beijing time), "dest_code", "sequence_id"} (older accounts add "sign_name"); answered
  `{"code": 0, "msg": "接收成功"}` with HTTP 200, anything else is pushed again 1, 5 and 10 minutes later.
- Tencent Cloud (短信回复 callback): `POST` one JSON object {"extend", "mobile", "nationcode", "sign", "text",
  "time" (Unix seconds)}; answered `{"result": 0, "errmsg": "OK"}`.

Neither provider signs these requests: the URL carries a secret (SMS_CALLBACK_TOKEN, compared in constant time by
the endpoint) and should be https. Each reply is stored once (the provider's retry is recognised by its identity);
a reply whose text is an unsubscribe word opts its number out of every customer message (sms.CUSTOMER_KINDS): the
messages still queued for it are kept as not sent, and later ones are recorded the same way. The opt-out holds
until an administrator lifts it (the customer asked again, by phone): a new request from the number, or any later
reply, does not lift it.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..core import validation
from ..core.audit import record_event
from ..core.db import db
from ..core.errors import NotFound, ValidationError
from ..core.models import User
from ..core.types import utcnow
from .channels import QUEUED, mobile_of
from .models import ChannelMessage, SmsOptOut, SmsReply
from .sms import CUSTOMER_KINDS, HELD, OPTED_OUT, OPTED_OUT_ANSWER

MAX_REPLIES = 100  # items in one push (Aliyun batches them)
TEXT_MAX = 500
BEIJING = timezone(timedelta(hours=8))
# Replied alone (after NFKC, case and punctuation folded): the words Chinese carriers and providers use.
STOP_WORDS = frozenset({"STOP", "TD", "T", "N", "UNSUBSCRIBE", "退订", "退", "取消", "取消订阅", "拒收", "退订短信"})
# Anywhere in the reply: unambiguous in Chinese ("请退订", "退订谢谢").
STOP_INSIDE = ("退订", "拒收", "不要再发")
_FOLD = re.compile(r"[\s\W_]+", re.UNICODE)


def is_stop(text: str) -> bool:
    folded = unicodedata.normalize("NFKC", text or "").upper()
    if any(word in folded for word in STOP_INSIDE):
        return True
    return _FOLD.sub("", folded) in STOP_WORDS or _FOLD.sub(" ", folded).strip().split(" ")[0] in {"STOP", "TD"}


@dataclass(frozen=True)
class Reply:
    key: str
    mobile: str
    text: str
    sign_name: str | None
    replied_at: datetime | None


class BadReport(ValueError):
    """The body is not what the provider documents (answered 400: the provider's retry cannot mend it)."""


def _safe(value: Any, limit: int) -> str:
    """A provider's text as storable text: NUL, lone surrogates and other controls dropped, cut to length."""
    text = value if isinstance(value, str) else "" if value is None or isinstance(value, dict | list) else str(value)
    text = text.encode("utf-8", errors="ignore").decode("utf-8")
    return "".join(c for c in text if c.isprintable() or c in "\n\t")[:limit]


def _identity(provider: str, *parts: Any) -> str:
    return f"{provider}:" + hashlib.sha256("\x1f".join(_safe(p, 600) for p in parts).encode()).hexdigest()[:40]


def parse_aliyun(body: Any) -> list[Reply]:
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body or len(body) > MAX_REPLIES:
        raise BadReport("a JSON array of SmsUp messages")
    replies = []
    for item in body:
        if not isinstance(item, dict) or not isinstance(item.get("phone_number"), str) or \
                not isinstance(item.get("content"), str):
            raise BadReport("each SmsUp message has phone_number and content")
        sent = _safe(item.get("send_time"), 40)
        try:
            replied_at = datetime.strptime(sent, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).astimezone(UTC)
        except ValueError:
            replied_at = None
        sequence = item.get("sequence_id")
        key = _identity("aliyun", sequence, item["phone_number"], sent, item["content"]) if sequence is not None \
            else _identity("aliyun", item["phone_number"], sent, item["content"])
        replies.append(Reply(key, _safe(item["phone_number"], 40), _safe(item["content"], TEXT_MAX),
                             _safe(item.get("sign_name"), 100) or None, replied_at))
    return replies


def parse_tencent(body: Any) -> list[Reply]:
    if not isinstance(body, dict) or not isinstance(body.get("mobile"), str) or not isinstance(body.get("text"), str):
        raise BadReport("one reply object with mobile and text")
    nation = _safe(body.get("nationcode"), 8).lstrip("+") or "86"
    if nation != "86":  # our messages go to mainland numbers only
        mobile = f"+{nation}{_safe(body['mobile'], 30)}"
    else:
        mobile = _safe(body["mobile"], 40)
    stamp = body.get("time")
    replied_at = None
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and 946684800 <= stamp <= 4102444800:
        replied_at = datetime.fromtimestamp(stamp, UTC)
    return [Reply(_identity("tencent", mobile, stamp, body["text"]), mobile, _safe(body["text"], TEXT_MAX),
                  _safe(body.get("sign"), 100) or None, replied_at)]


PARSERS = {"aliyun": parse_aliyun, "tencent": parse_tencent}


def record_replies(provider: str, replies: list[Reply], now: datetime | None = None) -> dict[str, int]:
    """Store each reply once; opt out the numbers that asked. In the caller's transaction."""
    now = now or utcnow()
    stored = stopped = 0
    for reply in replies:
        if db.session.execute(select(SmsReply.id).where(SmsReply.key == reply.key)).first() is not None:
            continue  # the provider pushed it again
        mobile = mobile_of(reply.mobile) or reply.mobile
        stop = is_stop(reply.text)
        row = SmsReply(key=reply.key, provider=provider, mobile=mobile, text=reply.text, sign_name=reply.sign_name,
                       replied_at=reply.replied_at, received_at=now, opt_out=stop)
        db.session.add(row)
        db.session.flush()
        stored += 1
        if stop:
            stopped += opt_out(mobile, row, now)
    return {"stored": stored, "opted_out": stopped}


def opt_out(mobile: str, reply: SmsReply | None, now: datetime) -> int:
    """The number gets no more customer messages; what waits for it is kept as not sent. 1 when newly opted out."""
    row = db.session.get(SmsOptOut, mobile)
    newly = row is None or row.lifted_at is not None
    if row is None:
        row = SmsOptOut(mobile=mobile, opted_out_at=now, reply_id=reply.id if reply else None)
        db.session.add(row)
    elif row.lifted_at is not None:
        row.opted_out_at, row.reply_id, row.lifted_at, row.lifted_by_id, row.lifted_reason = \
            now, reply.id if reply else None, None, None, None
    db.session.execute(update(ChannelMessage).where(
        ChannelMessage.transport == "sms", ChannelMessage.recipient == mobile,
        ChannelMessage.kind.in_([k.value for k in CUSTOMER_KINDS]), ChannelMessage.state.in_([QUEUED, HELD]))
        .values(state=OPTED_OUT, last_answer=OPTED_OUT_ANSWER))
    if newly:
        record_event("sms.opted_out", actor=None, via="sms", mobile=_masked(mobile),
                     reply=reply.text[:100] if reply else None)
    return int(newly)


def lift(mobile: str, reason: str, actor: User) -> SmsOptOut:
    """An administrator lifts an opt-out, saying why (the customer asked for messages again)."""
    # (A number PostgreSQL could not even compare, NUL or a lone surrogate, is no number that opted out.)
    usable = isinstance(mobile, str) and len(mobile) <= 40 and not validation.text_problem(mobile)
    row = db.session.get(SmsOptOut, mobile) if usable else None
    if row is None or row.lifted_at is not None:
        raise NotFound("no_opt_out", _l("This number has not opted out."))
    reason = (reason or "").strip()
    if not reason or validation.text_problem(reason) or len(reason) > 500:
        raise ValidationError({"reason": _l("Say why the customer gets messages again (at most 500 characters).")})
    row.lifted_at, row.lifted_by, row.lifted_reason = utcnow(), actor, reason
    record_event("sms.opt_out_lifted", actor=actor, mobile=_masked(mobile), reason=reason[:200])
    return row


def current_opt_outs(limit: int = 200) -> list[SmsOptOut]:
    return list(db.session.execute(select(SmsOptOut).where(SmsOptOut.lifted_at.is_(None))
                                   .order_by(SmsOptOut.opted_out_at.desc()).limit(limit)).scalars())


def recent_replies(limit: int = 50) -> list[SmsReply]:
    return list(db.session.execute(select(SmsReply).order_by(SmsReply.id.desc()).limit(limit)).scalars())


def _masked(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 11 else mobile
