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
                    if owner.down:  # the platform's gateway failing: not its JSON
                        status, answer = 502, "<html><body>502 Bad Gateway</body></html>"
                    else:
                        status, answer = owner.handle(method, parts.path, parts.query, self.headers, body)
                data = answer.encode() if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False).encode()
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
        self.down = False
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


# --- SMS providers --------------------------------------------------------------------------------------------


class SmsStandIn(StandIn):
    """A provider with one account (key id and secret), one approved sender name, approved templates (code ->
    variable names) and a per-number daily limit; it records what it accepted."""

    def __init__(self, *, key_id="LTAI5tTestKeyId", secret="TestSecretValue0123456789", sign_name="直播设备租赁",
                 templates: dict[str, tuple[str, ...]] | None = None, daily_limit: int = 50):
        super().__init__()
        self.key_id, self.secret, self.sign_name, self.daily_limit = key_id, secret, sign_name, daily_limit
        self.templates = templates or {}
        self.sent: list[dict] = []  # {"phone", "template", "vars"}
        self.refused: list[dict] = []
        self.nonces: set[str] = set()

    def _count(self, phone: str, template: str) -> int:
        return sum(1 for s in self.sent if s["phone"] == phone and s["template"] == template)


class AliyunSmsStandIn(SmsStandIn):
    """Dysmsapi SendSms 2017-05-25 over RPC: the signature recomputed from the secret as Aliyun documents it
    (parameters sorted and percent-encoded, HMAC-SHA1 keyed by secret + "&"), the nonce used once, the time within
    15 minutes; the template and its variables checked; at the daily limit isv.BUSINESS_LIMIT_CONTROL."""

    def __init__(self, **kwargs):
        kwargs.setdefault("templates", {"SMS_900000001": ("number", "time"), "SMS_900000002": ("number", "time"),
                                        "SMS_900000003": ("number", "link"),
                                        "SMS_900000004": ("number", "name", "link"),
                                        "SMS_900000005": ("number", "name", "time"),
                                        "SMS_900000006": ("number", "code"), "SMS_900000007": ("number", "link")})
        super().__init__(**kwargs)

    def _error(self, status, code, message):
        answer = {"RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990", "Code": code, "Message": message}
        self.refused.append(answer)
        return status, answer

    def handle(self, method, path, query, headers, body):
        from datetime import UTC, datetime
        from urllib.parse import quote

        raw = body.decode() if method == "POST" else query
        pairs = parse_qs(raw, keep_blank_values=True)
        params = {k: v[0] for k, v in pairs.items()}
        signature = params.pop("Signature", "")
        if params.get("AccessKeyId") != self.key_id:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")

        def enc(value):
            return quote(value, safe="~")

        canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
        to_sign = f"{method}&{enc('/')}&{enc(canonical)}"
        expected = base64.b64encode(hmac.new(f"{self.secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
                                    ).decode()
        if signature != expected:
            return self._error(400, "SignatureDoesNotMatch", "Specified signature is not matched with our "
                                                             "calculation.")
        try:
            stamp = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return self._error(400, "InvalidTimeStamp.Format", "Specified time stamp is not valid.")
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 900:
            return self._error(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        if params.get("SignatureNonce", "") in self.nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(params.get("SignatureNonce", ""))
        if (params.get("Action"), params.get("Version"), params.get("SignatureMethod")) != \
                ("SendSms", "2017-05-25", "HMAC-SHA1"):
            return self._error(400, "InvalidParameter", "The specified parameter Action or Version is not valid.")
        if params.get("SignName") != self.sign_name:
            return self._error(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = params.get("TemplateCode", "")
        if template not in self.templates:
            return self._error(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            variables = json.loads(params.get("TemplateParam", ""))
        except ValueError:
            return self._error(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(variables, dict) or set(variables) != set(self.templates[template]) or \
                not all(isinstance(v, str) and len(v) <= 35 for v in variables.values()):
            return self._error(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        phone = params.get("PhoneNumbers", "")
        if not (phone.isdigit() and len(phone) == 11 and phone.startswith("1")):
            return self._error(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if self._count(phone, template) >= self.daily_limit:
            return self._error(200, "isv.BUSINESS_LIMIT_CONTROL", f"触发号码天级流控Permits:{self.daily_limit}")
        self.sent.append({"phone": phone, "template": template, "vars": variables, "out_id": params.get("OutId")})
        return 200, {"Message": "OK", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990",
                     "Code": "OK", "BizId": f"9006197469364984{len(self.sent):03d}^0"}


class TencentSmsStandIn(SmsStandIn):
    """SendSms 2021-01-11 with TC3-HMAC-SHA256: the Authorization header recomputed (canonical request over
    content-type and host, the body's SHA-256, the date's credential scope), the timestamp within 5 minutes, the
    SDK app id, sender name, template and positional variables checked; at the daily limit
    LimitExceeded.PhoneNumberDailyLimit in the send status."""

    def __init__(self, *, app_id="1400006666", **kwargs):
        kwargs.setdefault("key_id", "AKIDtestSecretId0000")
        kwargs.setdefault("templates", {"900001": ("number", "time"), "900002": ("number", "time"),
                                        "900003": ("number", "link"), "900004": ("number", "name", "link"),
                                        "900005": ("number", "name", "time"), "900006": ("number", "code"),
                                        "900007": ("number", "link")})
        super().__init__(**kwargs)
        self.app_id = app_id

    def _error(self, code, message):
        answer = {"Response": {"Error": {"Code": code, "Message": message},
                               "RequestId": "a0aabda6-cf91-4f3e-a2a0-5b5a2d4f0b4e"}}
        self.refused.append(answer)
        return 200, answer

    def handle(self, method, path, query, headers, body):
        from datetime import UTC, datetime

        host = headers.get("Host", "")
        timestamp = headers.get("X-TC-Timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > 300:
            return self._error("AuthFailure.SignatureExpire", "签名过期。Timestamp 和服务器时间相差不得超过五分钟。")
        date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
        content_type = headers.get("Content-Type", "")
        canonical = (f"{method}\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n"
                     f"{hashlib.sha256(body).hexdigest()}")
        to_sign = (f"TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")

        def step(key, message):
            return hmac.new(key, message.encode(), hashlib.sha256).digest()

        key = step(step(step(f"TC3{self.secret}".encode(), date), "sms"), "tc3_request")
        expected = (f"TC3-HMAC-SHA256 Credential={self.key_id}/{date}/sms/tc3_request, "
                    f"SignedHeaders=content-type;host, "
                    f"Signature={hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()}")
        if headers.get("Authorization", "").split("Credential=", 1)[-1].split("/", 1)[0] != self.key_id:
            return self._error("AuthFailure.SecretIdNotFound", "密钥不存在。")
        if headers.get("Authorization") != expected:
            return self._error("AuthFailure.SignatureFailure", "请求签名验证失败，请检查您的签名计算是否正确。")
        if (headers.get("X-TC-Action"), headers.get("X-TC-Version")) != ("SendSms", "2021-01-11"):
            return self._error("InvalidAction", "接口不存在。")
        message = json.loads(body)
        if message.get("SmsSdkAppId") != self.app_id:
            return self._error("FailedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId 校验失败。")
        if message.get("SignName") != self.sign_name:
            return self._error("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批或格式错误。")
        template = message.get("TemplateId", "")
        params = message.get("TemplateParamSet", [])
        if template not in self.templates or len(params) != len(self.templates[template]):
            return self._error("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或内容不匹配。")
        [number] = message.get("PhoneNumberSet", [""])
        phone = number.removeprefix("+86")
        if self._count(phone, template) >= self.daily_limit:
            status = {"SerialNo": "", "PhoneNumber": number, "Fee": 0, "SessionContext": "",
                      "Code": "LimitExceeded.PhoneNumberDailyLimit",
                      "Message": "单个手机号日下发短信条数超过设定的上限",
                      "IsoCode": "CN"}
            self.refused.append(status)
        else:
            self.sent.append({"phone": phone, "template": template,
                              "vars": dict(zip(self.templates[template], params, strict=True)),
                              "out_id": message.get("SessionContext")})
            status = {"SerialNo": f"2645:{len(self.sent):08d}", "PhoneNumber": number, "Fee": 1,
                      "SessionContext": message.get("SessionContext", ""), "Code": "Ok", "Message": "send success",
                      "IsoCode": "CN"}
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": "a0aabda6-cf91-4f3e-a2a0-5b5a2d4f0b4e"}}


SMS = {"aliyun": AliyunSmsStandIn, "tencent": TencentSmsStandIn}
