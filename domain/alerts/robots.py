"""The three group robots' documented requests: DingTalk custom robot, WeCom group robot, Feishu custom bot.

Pure functions (no database): which webhook URLs are accepted, how a request is signed, how a message is laid out
within the platform's size limit, and what the platform's answer means. All three answer errors as HTTP 200 with a
non-zero `errcode` (DingTalk, WeCom) or `code` (Feishu) in the body, so the body is always read.

- DingTalk: POST https://oapi.dingtalk.com/robot/send?access_token=…&timestamp=<ms>&sign=<s>,
  s = urlencode(base64(HMAC-SHA256(key=secret, msg="<timestamp>\\n<secret>"))); markdown, `at.atMobiles`.
- WeCom: POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…; markdown (≤ 4,096 bytes), or text with
  `mentioned_mobile_list` when someone is mentioned (markdown cannot mention by mobile number).
- Feishu: POST https://open.feishu.cn/open-apis/bot/v2/hook/<token>; body `timestamp` (seconds) and
  sign = base64(HMAC-SHA256(key="<timestamp>\\n<secret>", msg=b"")); an interactive card with a button to the job.
  A custom bot can only @mention by Feishu user id, so the person's name and number are written in the card.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit, urlunsplit

from flask_babel import lazy_gettext as _l

from ..core import validation
from ..core.errors import ValidationError


class Platform(StrEnum):
    DINGTALK = "dingtalk"
    WECOM = "wecom"
    FEISHU = "feishu"


PLATFORM_LABELS = {Platform.DINGTALK: _l("DingTalk"), Platform.WECOM: _l("WeCom"), Platform.FEISHU: _l("Feishu")}

# The hosts each platform's webhooks live on, and the path their webhook has.
PLATFORM_HOSTS = {Platform.DINGTALK: ("oapi.dingtalk.com",), Platform.WECOM: ("qyapi.weixin.qq.com",),
                  Platform.FEISHU: ("open.feishu.cn", "open.larksuite.com")}
PLATFORM_PATHS = {Platform.DINGTALK: "/robot/send", Platform.WECOM: "/cgi-bin/webhook/send",
                  Platform.FEISHU: "/open-apis/bot/v2/hook/"}
# Documented: about 20 messages a minute per robot (DingTalk blocks the robot for 10 minutes beyond).
PER_MINUTE = 20
# The platforms' documented size limits, in UTF-8 bytes, for what we send.
TEXT_LIMIT = {Platform.DINGTALK: 20000, Platform.WECOM: 4096, Platform.FEISHU: 18000}
WECOM_TEXT_LIMIT = 2048
URL_MAX = 1000
SECRET_MAX = 200

# Errcodes read from the body (all answered with HTTP 200).
RATE_LIMITED = {Platform.DINGTALK: {130101}, Platform.WECOM: {45009}, Platform.FEISHU: {11232}}
# A signature refused, or a robot token that no longer exists: sending again cannot help until an admin fixes it.
BAD_SIGNATURE = {Platform.DINGTALK: {310000, 300001}, Platform.WECOM: {93000}, Platform.FEISHU: {19021}}
# How long a rate-limited robot is left alone (DingTalk blocks it for 10 minutes; the others per minute).
BLOCKED_FOR = {Platform.DINGTALK: 600, Platform.WECOM: 60, Platform.FEISHU: 60}


def allowed_hosts(platform: Platform, setting: tuple[str, ...]) -> tuple[str, ...]:
    """The platform's own hosts, or CHANNEL_HOSTS_ALLOWED instead (tests, private deployments)."""
    return setting or PLATFORM_HOSTS[platform]


def check_webhook(platform: str, url: str, secret: str | None,
                  hosts_setting: tuple[str, ...]) -> tuple[str, str | None]:
    """(url, secret) as stored, or a ValidationError naming the field: a robot setting can never make the server
    call another host (https only; plain http only for a host CHANNEL_HOSTS_ALLOWED lists), nor carry a text
    that cannot be stored."""
    if platform not in {p.value for p in Platform}:
        raise ValidationError({"platform": _l("Choose DingTalk, WeCom or Feishu.")})
    platform = Platform(platform)
    url = (url or "").strip()
    if not url or len(url) > URL_MAX or validation.text_problem(url) or any(c.isspace() for c in url):
        raise ValidationError({"webhook_url": _l("Paste the robot's webhook address (at most %(n)d characters).",
                                                 n=URL_MAX)})
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise ValidationError({"webhook_url": _l("This is not a web address.")}) from None
    hosts = allowed_hosts(platform, hosts_setting)
    host = (parts.hostname or "").lower().rstrip(".")
    scheme_ok = parts.scheme == "https" or (parts.scheme == "http" and bool(hosts_setting) and host in hosts)
    if not scheme_ok or not host or parts.username or parts.password or host not in hosts or parts.fragment:
        raise ValidationError({"webhook_url": _l(
            "Only a %(platform)s webhook is accepted here (https://%(host)s/…): the server never calls another "
            "address for a robot.", platform=PLATFORM_LABELS[platform], host=PLATFORM_HOSTS[platform][0])})
    query = parse_qs(parts.query)
    path = PLATFORM_PATHS[platform]
    token_ok = {
        Platform.DINGTALK: parts.path == path and bool(query.get("access_token", [""])[0]),
        Platform.WECOM: parts.path == path and bool(query.get("key", [""])[0]),
        Platform.FEISHU: parts.path.startswith(path) and len(parts.path) > len(path) and "/" not in
        parts.path[len(path):],
    }[platform]
    if not token_ok:
        raise ValidationError({"webhook_url": _l("This %(platform)s address has no robot token: copy the whole "
                                                 "webhook from the group's robot settings.",
                                                 platform=PLATFORM_LABELS[platform])})
    if platform == Platform.DINGTALK:  # a pasted URL that kept an old signature: ours is added at each send
        kept = [(k, v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()
                if k not in {"timestamp", "sign"}]
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode([(k, v[0]) for k, v in kept]), ""))
    secret = (secret or "").strip() or None
    if secret is not None and (len(secret) > SECRET_MAX or validation.text_problem(secret)
                               or any(c.isspace() for c in secret)):
        raise ValidationError({"secret": _l("The signing secret is at most %(n)d characters, without spaces.",
                                            n=SECRET_MAX)})
    if platform == Platform.WECOM and secret is not None:
        raise ValidationError({"secret": _l("A WeCom group robot has no signing secret: leave it empty.")})
    return url, secret


# --- signing ----------------------------------------------------------------------------------------------


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The `sign` query value (already URL-encoded, as documented)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """The body's `sign`: the key is "<timestamp>\\n<secret>", the message empty (Feishu's documented scheme)."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# --- messages ---------------------------------------------------------------------------------------------


@dataclass
class Message:
    title: str
    body: str
    url: str
    # Mobile numbers to @mention, with the name shown beside each.
    mentions: list[tuple[str, str]] = field(default_factory=list)


def fit(text: str, limit: int, url: str, more: str) -> str:
    """The text within `limit` UTF-8 bytes; a longer one is cut at a line or character and ends with a link to the
    whole (never refused)."""
    if len(text.encode()) <= limit:
        return text
    tail = f"\n… {more} {url}"
    room = max(limit - len(tail.encode()), 0)
    cut = text.encode()[:room].decode(errors="ignore")
    if "\n" in cut[len(cut) // 2:]:
        cut = cut[:cut.rindex("\n")]
    return cut + tail


def _mention_line(platform: Platform, mentions: list[tuple[str, str]]) -> str:
    if not mentions:
        return ""
    if platform == Platform.DINGTALK:  # DingTalk shows a mention only where "@<mobile>" is in the text
        return " ".join(f"@{mobile}" for mobile, _name in mentions)
    return " ".join(f"@{name} ({mobile})" for mobile, name in mentions)


def payload(platform: Platform, message: Message, *, open_label: str, more_label: str) -> dict[str, Any]:
    """The JSON body for the platform (without Feishu's signature), within the platform's limits."""
    mentions = _mention_line(platform, message.mentions)
    if platform == Platform.DINGTALK:
        tail = f"\n\n[{open_label}]({message.url})" + (f"\n\n{mentions}" if mentions else "")
        text = fit(f"#### {message.title}\n\n{message.body}", TEXT_LIMIT[platform] - len(tail.encode()),
                   message.url, more_label) + tail
        return {"msgtype": "markdown", "markdown": {"title": message.title[:100], "text": text},
                "at": {"atMobiles": [m for m, _n in message.mentions], "isAtAll": False}}
    if platform == Platform.WECOM:
        if message.mentions:  # only a text message mentions by mobile number
            tail = f"\n{open_label}: {message.url}"
            content = fit(f"{message.title}\n{message.body}", WECOM_TEXT_LIMIT - len(tail.encode()), message.url,
                          more_label) + tail
            return {"msgtype": "text", "text": {"content": content,
                                                "mentioned_mobile_list": [m for m, _n in message.mentions]}}
        tail = f"\n\n[{open_label}]({message.url})"
        content = fit(f"### {message.title}\n{message.body}", TEXT_LIMIT[platform] - len(tail.encode()),
                      message.url, more_label) + tail
        return {"msgtype": "markdown", "markdown": {"content": content}}
    body = message.body + (f"\n{mentions}" if mentions else "")
    return {"msg_type": "interactive", "card": {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": message.title[:200]}, "template": "red"},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": fit(body, TEXT_LIMIT[platform],
                                                                              message.url, more_label)}},
                     {"tag": "action", "actions": [{"tag": "button", "type": "primary", "url": message.url,
                                                    "text": {"tag": "plain_text", "content": open_label}}]}]}}


def signed_request(platform: Platform, url: str, secret: str | None, body: dict[str, Any],
                   now: datetime) -> tuple[str, bytes]:
    """(the URL to post to, the JSON body), signed with the secret as the platform documents."""
    if platform == Platform.DINGTALK and secret:
        timestamp = int(now.timestamp() * 1000)
        url = f"{url}&timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"
    elif platform == Platform.FEISHU and secret:
        timestamp = int(now.timestamp())
        body = {"timestamp": str(timestamp), "sign": feishu_sign(secret, timestamp), **body}
    return url, json.dumps(body, ensure_ascii=False).encode()


# --- the answer -------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    SENT = "sent"
    RATE_LIMITED = "rate_limited"    # wait, then retry (in a digest)
    BAD_SIGNATURE = "bad_signature"  # the channel fails until an admin fixes it
    ERROR = "error"                  # retried with backoff


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    code: int | None
    message: str

    def describe(self) -> str:
        return f"{self.code}: {self.message}" if self.code is not None else self.message


def read_answer(platform: Platform, status: int, raw: bytes) -> Answer:
    """What the platform said: its errcode/code in the body decides, whatever the HTTP status."""
    try:
        body = json.loads(raw.decode("utf-8", errors="replace")) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Answer(Outcome.ERROR, None, f"HTTP {status}: {raw[:300].decode('utf-8', errors='replace')}")
    if platform == Platform.FEISHU:
        code = body.get("code", body.get("StatusCode"))
        message = body.get("msg", body.get("StatusMessage", ""))
    else:
        code, message = body.get("errcode"), body.get("errmsg", "")
    if not isinstance(code, int) or isinstance(code, bool):
        return Answer(Outcome.ERROR, None, f"HTTP {status}: {json.dumps(body, ensure_ascii=False)[:300]}")
    message = str(message)[:500]
    if code == 0 and 200 <= status < 300:
        return Answer(Outcome.SENT, 0, message or "ok")
    if code in RATE_LIMITED[platform]:
        return Answer(Outcome.RATE_LIMITED, code, message)
    if code in BAD_SIGNATURE[platform]:
        return Answer(Outcome.BAD_SIGNATURE, code, message)
    return Answer(Outcome.ERROR, code, message or f"HTTP {status}")
