"""Stand-ins on 127.0.0.1 for the outside services the alerts reach: the three group robots (and, below, the two
SMS providers). Each checks a request as the real service documents it (the signature recomputed from the secret,
the robot's token, the message's shape and size), answers the platform's own success and error bodies with HTTP
200, enforces the ~20-a-minute limit with the platform's errcode, and records what it accepted for the test to
read. Never a mock that accepts anything."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlsplit

PER_MINUTE = 20


class StandIn:
    """A small HTTP server in a thread; subclasses answer `handle(method, path, query, headers, body)`."""

    def __init__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                self._answer("POST")

            def do_GET(self):  # noqa: N802
                self._answer("GET")

            def _answer(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with owner.lock:
                    owner.requests += 1
                    status, answer = owner.handle(method, parts.path, parts.query, self.headers, body)
                data = json.dumps(answer, ensure_ascii=False).encode()
                time.sleep(owner.delay)  # a slow platform: what it got is recorded before it answers
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json;charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the caller was killed while waiting
                    pass

            def log_message(self, *args):
                pass

        self.lock = threading.Lock()
        self.requests = 0
        self.delay = 0.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def handle(self, method, path, query, headers, body):  # pragma: no cover - each stand-in answers
        raise NotImplementedError


class RobotStandIn(StandIn):
    """One group robot of one platform: its token, its secret (None: a robot without signing), its minute."""

    platform = ""

    def __init__(self, token: str = "tok123", secret: str | None = "SECtest0123456789", *,
                 per_minute: int = PER_MINUTE, block_seconds: float = 0):
        super().__init__()
        self.token, self.secret, self.per_minute, self.block_seconds = token, secret, per_minute, block_seconds
        self.received: list[dict] = []   # accepted message bodies, in order
        self.refused: list[dict] = []    # the error answers given
        self.posts: list[float] = []     # times of accepted posts (the minute's count)
        self.blocked_until = 0.0

    def _rate_limited(self) -> bool:
        now = time.monotonic()
        if now < self.blocked_until:
            return True
        recent = [t for t in self.posts if t > now - 60]
        if len(recent) >= self.per_minute:
            self.blocked_until = now + self.block_seconds
            return True
        return False

    def _refuse(self, answer: dict):
        self.refused.append(answer)
        return 200, answer

    def _accept(self, message: dict, answer: dict):
        self.posts.append(time.monotonic())
        self.received.append(message)
        return 200, answer


class DingTalkStandIn(RobotStandIn):
    """POST /robot/send?access_token=…&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256>."""

    platform = "dingtalk"

    @property
    def webhook(self) -> str:
        return f"{self.base}/robot/send?access_token={self.token}"

    def handle(self, method, path, query, headers, body):
        q = parse_qs(query)
        if method != "POST" or path != "/robot/send" or q.get("access_token", [""])[0] != self.token:
            return self._refuse({"errcode": 300001, "errmsg": "token is not exist"})
        if self.secret is not None:
            timestamp = q.get("timestamp", [""])[0]
            raw_sign = query.split("sign=", 1)[1].split("&", 1)[0] if "sign=" in query else ""
            expected = base64.b64encode(hmac.new(self.secret.encode(), f"{timestamp}\n{self.secret}".encode(),
                                                 hashlib.sha256).digest()).decode()
            fresh = timestamp.isdigit() and abs(int(timestamp) / 1000 - time.time()) < 3600
            if not fresh or unquote_plus(raw_sign) != expected:
                return self._refuse({"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk."
                                                                  "com/doc#/serverapi2/qf2nxq]"})
        try:
            message = json.loads(body)
        except ValueError:
            return self._refuse({"errcode": 43004, "errmsg": "无效的HTTP HEADER Content-Type"})
        kind = message.get("msgtype")
        if kind not in ("text", "markdown", "actionCard", "link", "feedCard") or not isinstance(message.get(kind),
                                                                                                 dict):
            return self._refuse({"errcode": 40035, "errmsg": "缺少参数 msgtype"})
        if len(body) > 20000 + 2000:
            return self._refuse({"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"})
        if self._rate_limited():
            return self._refuse({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        return self._accept(message, {"errcode": 0, "errmsg": "ok"})


class WeComStandIn(RobotStandIn):
    """POST /cgi-bin/webhook/send?key=…; markdown content ≤ 4,096 bytes, text content ≤ 2,048 bytes."""

    platform = "wecom"

    def __init__(self, token: str = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", **kwargs):
        super().__init__(token, None, **kwargs)

    @property
    def webhook(self) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={self.token}"

    def handle(self, method, path, query, headers, body):
        if method != "POST" or path != "/cgi-bin/webhook/send" or parse_qs(query).get("key", [""])[0] != self.token:
            return self._refuse({"errcode": 93000, "errmsg": "invalid webhook url, hint: [1733xxx], from ip: "
                                                             "127.0.0.1"})
        try:
            message = json.loads(body)
        except ValueError:
            return self._refuse({"errcode": 40033, "errmsg": "invalid charset"})
        kind = message.get("msgtype")
        if kind == "markdown":
            content = message.get("markdown", {}).get("content", "")
            if len(content.encode()) > 4096:
                return self._refuse({"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"})
        elif kind == "text":
            content = message.get("text", {}).get("content", "")
            if len(content.encode()) > 2048:
                return self._refuse({"errcode": 40058, "errmsg": "text.content exceed max length 2048"})
        else:
            return self._refuse({"errcode": 40008, "errmsg": "invalid message type"})
        if self._rate_limited():
            return self._refuse({"errcode": 45009, "errmsg": "api freq out of limit"})
        return self._accept(message, {"errcode": 0, "errmsg": "ok"})


class FeishuStandIn(RobotStandIn):
    """POST /open-apis/bot/v2/hook/<token>; body timestamp (s) + sign = base64(HMAC-SHA256(key="ts\\nsecret",
    msg=""))."""

    platform = "feishu"

    @property
    def webhook(self) -> str:
        return f"{self.base}/open-apis/bot/v2/hook/{self.token}"

    def handle(self, method, path, query, headers, body):
        if method != "POST" or path != f"/open-apis/bot/v2/hook/{self.token}":
            return self._refuse({"code": 19001, "data": {}, "msg": "param invalid: incoming webhook access token "
                                                                   "invalid"})
        try:
            message = json.loads(body)
        except ValueError:
            return self._refuse({"code": 9499, "data": {}, "msg": "Bad Request"})
        if self.secret is not None:
            timestamp = str(message.get("timestamp", ""))
            expected = base64.b64encode(hmac.new(f"{timestamp}\n{self.secret}".encode(), b"",
                                                 hashlib.sha256).digest()).decode()
            fresh = timestamp.isdigit() and abs(int(timestamp) - time.time()) < 3600
            if not fresh or message.get("sign") != expected:
                return self._refuse({"code": 19021, "data": {}, "msg": "sign match fail or timestamp is not within "
                                                                       "one hour from current time"})
        if message.get("msg_type") not in ("text", "post", "image", "share_chat", "interactive"):
            return self._refuse({"code": 19002, "data": {}, "msg": "params error, msg_type need"})
        if len(body) > 20 * 1024:
            return self._refuse({"code": 9499, "data": {}, "msg": "request body too large"})
        if self._rate_limited():
            return self._refuse({"code": 11232, "data": {}, "msg": "frequency limited psm[lark.oapi.app_platform_"
                                                                   "runtime]appID[1]"})
        return self._accept(message, {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {},
                                      "msg": "success"})


ROBOTS = {"dingtalk": DingTalkStandIn, "wecom": WeComStandIn, "feishu": FeishuStandIn}


def text_of(platform: str, message: dict) -> str:
    """The visible text of a message the stand-in accepted."""
    if platform == "dingtalk":
        return message["markdown"]["text"] if message["msgtype"] == "markdown" else message["text"]["content"]
    if platform == "wecom":
        return message[message["msgtype"]]["content"]
    card = message["card"]
    return "\n".join([card["header"]["title"]["content"]]
                     + [e["text"]["content"] for e in card["elements"] if e["tag"] == "div"])


def link_of(platform: str, message: dict) -> str | None:
    """The job's link: the markdown link's target, or the Feishu card's button."""
    import re

    if platform == "feishu":
        for element in message["card"]["elements"]:
            for action in element.get("actions", []):
                return action["url"]
        return None
    found = re.search(r"\]\((https?://[^)\s]+)\)|(https?://\S+)$", text_of(platform, message))
    return (found.group(1) or found.group(2)) if found else None


def mentions_of(platform: str, message: dict) -> list[str]:
    if platform == "dingtalk":
        return message.get("at", {}).get("atMobiles", [])
    if platform == "wecom":
        return message.get("text", {}).get("mentioned_mobile_list", []) if message["msgtype"] == "text" else []
    return []
