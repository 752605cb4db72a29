"""The two SMS providers' documented requests, signed as each publishes it (no vendor SDK: two small, tested
functions), and what their answers mean.

- Aliyun SMS, Dysmsapi `SendSms` 2017-05-25, RPC style: every parameter sorted, each name and value
  percent-encoded (RFC 3986, `~` kept), joined with `&`; StringToSign = METHOD & enc("/") & enc(that);
  Signature = base64(HMAC-SHA1(key = AccessKeySecret + "&", StringToSign)). Checked against Aliyun's published
  example (testId / testSecret, signature zJDF+Lrzhj/ThnlvIToysFRq6t4=).
- Tencent Cloud SMS, `SendSms` 2021-01-11, TC3-HMAC-SHA256: a canonical request (method, "/", "", the
  content-type and host headers, their names, the SHA-256 of the JSON body), a string to sign with the date's
  credential scope, a key derived HMAC("TC3" + SecretKey, date) -> service -> "tc3_request". Checked against
  Tencent's published example (AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE, signature 72e494ea…).

Templates only, as both require: the variables are short values (a request number, a time, a name), never a link.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

from ..core.settings import SmsSettings

ALIYUN_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
TENCENT_ENDPOINT = "https://sms.tencentcloudapi.com/"
TENCENT_REGION = "ap-guangzhou"
JSON_TYPE = "application/json; charset=utf-8"


class SmsOutcome(StrEnum):
    SENT = "sent"
    LIMITED = "limited"    # the provider's per-number limit: not retried that day
    REFUSED = "refused"    # a setting or the number is wrong: retrying cannot help
    RETRY = "retry"        # down, throttled as a whole, or no answer: retried with backoff


@dataclass(frozen=True)
class SmsAnswer:
    outcome: SmsOutcome
    code: str
    message: str

    def describe(self) -> str:
        return f"{self.code}: {self.message}"[:500]


@dataclass(frozen=True)
class SmsRequest:
    url: str
    body: bytes
    headers: dict[str, str]


def percent(value: str) -> str:
    """Aliyun's POP percent-encoding: RFC 3986 unreserved characters kept, the rest %XX (a space is %20)."""
    return quote(value, safe="~")


def aliyun_signature(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    canonical = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent('/')}&{percent(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def aliyun_request(*, key_id: str, secret: str, sign_name: str, phone: str, template: str,
                   variables: Mapping[str, str], out_id: str, now: datetime, endpoint: str | None = None,
                   nonce: str | None = None) -> SmsRequest:
    params = {"AccessKeyId": key_id, "Action": "SendSms", "Format": "JSON", "OutId": out_id,
              "PhoneNumbers": phone, "RegionId": "cn-hangzhou", "SignName": sign_name,
              "SignatureMethod": "HMAC-SHA1", "SignatureNonce": nonce or str(uuid.uuid4()),
              "SignatureVersion": "1.0", "TemplateCode": template,
              "TemplateParam": json.dumps(dict(variables), ensure_ascii=False, separators=(",", ":")),
              "Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2017-05-25"}
    params["Signature"] = aliyun_signature(params, secret, "POST")
    body = "&".join(f"{percent(k)}={percent(v)}" for k, v in params.items()).encode()
    return SmsRequest(endpoint or ALIYUN_ENDPOINT, body,
                      {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


def tencent_signature(*, secret_key: str, host: str, payload: bytes, timestamp: int, service: str = "sms") -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = (f"POST\n/\n\ncontent-type:{JSON_TYPE}\nhost:{host}\n\ncontent-type;host\n"
                 f"{hashlib.sha256(payload).hexdigest()}")
    to_sign = (f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n"
               f"{hashlib.sha256(canonical.encode()).hexdigest()}")

    def step(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    signing_key = step(step(step(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()


def tencent_authorization(*, secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int,
                          service: str = "sms") -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    signature = tencent_signature(secret_key=secret_key, host=host, payload=payload, timestamp=timestamp,
                                  service=service)
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={signature}")


def tencent_request(*, key_id: str, secret: str, sign_name: str, app_id: str, phone: str, template: str,
                    variables: list[str], out_id: str, now: datetime, endpoint: str | None = None) -> SmsRequest:
    url = endpoint or TENCENT_ENDPOINT
    host = urlsplit(url).netloc
    payload = json.dumps({"PhoneNumberSet": [f"+86{phone}"], "SmsSdkAppId": app_id, "SignName": sign_name,
                          "TemplateId": template, "TemplateParamSet": variables, "SessionContext": out_id},
                         ensure_ascii=False).encode()
    timestamp = int(now.timestamp())
    return SmsRequest(url, payload, {
        "Content-Type": JSON_TYPE, "Host": host, "X-TC-Action": "SendSms", "X-TC-Version": "2021-01-11",
        "X-TC-Timestamp": str(timestamp), "X-TC-Region": TENCENT_REGION,
        "Authorization": tencent_authorization(secret_id=key_id, secret_key=secret, host=host, payload=payload,
                                               timestamp=timestamp)})


# --- answers ----------------------------------------------------------------------------------------------

ALIYUN_LIMITED = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"}
ALIYUN_REFUSED_PREFIXES = ("SignatureDoesNotMatch", "InvalidAccessKeyId", "IncompleteSignature",
                           "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL", "isv.TEMPLATE_MISSING_PARAMETERS",
                           "isv.MOBILE_NUMBER_ILLEGAL", "isv.INVALID_PARAMETERS", "isv.DENY_IP_RANGE",
                           "isv.BLACK_KEY_CONTROL_LIMIT", "isv.PARAM_LENGTH_LIMIT", "isv.INVALID_JSON_PARAM",
                           "SignatureNonceUsed", "MissingParameter", "InvalidTimeStamp")
TENCENT_LIMITED = {"LimitExceeded.PhoneNumberDailyLimit", "LimitExceeded.PhoneNumberOneHourLimit",
                   "LimitExceeded.PhoneNumberThirtySecondLimit", "LimitExceeded.PhoneNumberSameContentDailyLimit",
                   "LimitExceeded.DailyLimit"}
TENCENT_REFUSED_PREFIXES = ("AuthFailure", "FailedOperation.TemplateIncorrectOrUnapproved",
                            "FailedOperation.SignatureIncorrectOrUnapproved", "InvalidParameterValue",
                            "FailedOperation.PhoneNumberInBlacklist", "UnauthorizedOperation",
                            "MissingParameter", "InvalidParameter")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None


def read_aliyun(status: int, raw: bytes) -> SmsAnswer:
    body = _json(raw)
    if not isinstance(body, dict) or not isinstance(body.get("Code"), str):
        return SmsAnswer(SmsOutcome.RETRY, f"HTTP {status}", raw[:200].decode("utf-8", errors="replace"))
    code, message = body["Code"], str(body.get("Message", ""))[:300]
    if code == "OK":
        return SmsAnswer(SmsOutcome.SENT, code, f"BizId {body.get('BizId', '')}")
    if code in ALIYUN_LIMITED:
        return SmsAnswer(SmsOutcome.LIMITED, code, message)
    if code.startswith(ALIYUN_REFUSED_PREFIXES):
        return SmsAnswer(SmsOutcome.REFUSED, code, message)
    return SmsAnswer(SmsOutcome.RETRY, code, message)


def read_tencent(status: int, raw: bytes) -> SmsAnswer:
    body = _json(raw)
    response = body.get("Response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        return SmsAnswer(SmsOutcome.RETRY, f"HTTP {status}", raw[:200].decode("utf-8", errors="replace"))
    error = response.get("Error")
    if isinstance(error, dict):
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))[:300]
        if code in TENCENT_LIMITED:
            return SmsAnswer(SmsOutcome.LIMITED, code, message)
        if code.startswith(TENCENT_REFUSED_PREFIXES):
            return SmsAnswer(SmsOutcome.REFUSED, code, message)
        return SmsAnswer(SmsOutcome.RETRY, code, message)
    statuses = response.get("SendStatusSet")
    if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
        return SmsAnswer(SmsOutcome.RETRY, f"HTTP {status}", "no SendStatusSet in the answer")
    code, message = str(statuses[0].get("Code", "")), str(statuses[0].get("Message", ""))[:300]
    if code == "Ok":
        return SmsAnswer(SmsOutcome.SENT, code, f"SerialNo {statuses[0].get('SerialNo', '')}")
    if code in TENCENT_LIMITED:
        return SmsAnswer(SmsOutcome.LIMITED, code, message)
    if code.startswith(TENCENT_REFUSED_PREFIXES):
        return SmsAnswer(SmsOutcome.REFUSED, code, message)
    return SmsAnswer(SmsOutcome.RETRY, code, message)


Sender = Callable[[SmsRequest], tuple[int, bytes]]


@dataclass(frozen=True)
class Provider:
    """The provider chosen by the settings (SMS_PROVIDER and the keys)."""

    name: str  # aliyun | tencent
    key_id: str
    secret: str
    sign_name: str
    endpoint: str | None = None
    app_id: str = ""

    @classmethod
    def from_settings(cls, settings: SmsSettings) -> Provider | None:
        if settings.provider not in ("aliyun", "tencent"):
            return None
        return cls(settings.provider, settings.access_key_id, settings.access_key_secret, settings.sign_name,
                   settings.endpoint, settings.app_id)

    def request(self, phone: str, template: str, variables: dict[str, str], order: tuple[str, ...], out_id: str,
                now: datetime) -> SmsRequest:
        if self.name == "aliyun":
            return aliyun_request(key_id=self.key_id, secret=self.secret, sign_name=self.sign_name, phone=phone,
                                  template=template, variables=variables, out_id=out_id, now=now,
                                  endpoint=self.endpoint)
        return tencent_request(key_id=self.key_id, secret=self.secret, sign_name=self.sign_name, app_id=self.app_id,
                               phone=phone, template=template, variables=[variables[k] for k in order],
                               out_id=out_id, now=now, endpoint=self.endpoint)

    def read(self, status: int, raw: bytes) -> SmsAnswer:
        return read_aliyun(status, raw) if self.name == "aliyun" else read_tencent(status, raw)
