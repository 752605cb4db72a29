"""The SMS providers' callbacks with the customers' replies (STOP / 退订): `POST /hooks/sms/aliyun/<token>` (SmsUp,
HTTP batch push) and `POST /hooks/sms/tencent/<token>` (reply callback). Neither provider signs the request, so
the URL's secret (SMS_CALLBACK_TOKEN) is the authentication: a wrong or missing one is a 404, the same as no such
page. Each answers the provider's documented success body; a body that is not the provider's shape is a 400."""
from __future__ import annotations

import hmac
import json

from flask import abort, current_app, jsonify, request

from domain.alerts import opt_outs
from extensions import csrf, limiter

from ..access import public
from ..core.helpers import current_settings
from . import bp

BODY_MAX = 256 * 1024
SUCCESS = {"aliyun": {"code": 0, "msg": "接收成功"}, "tencent": {"result": 0, "errmsg": "OK"}}


def _limit() -> str:
    return current_app.config.get("SMS_CALLBACK_RATE_LIMIT") or "120 per minute"


@bp.post("/hooks/sms/<provider>/<token>")
@csrf.exempt
@public
@limiter.limit(_limit)
def sms_reply(provider: str, token: str):
    expected = current_settings().sms.callback_token or ""
    if not expected or provider not in opt_outs.PARSERS or \
            not hmac.compare_digest(token.encode("utf-8", "replace"), expected.encode()):
        abort(404)
    raw = request.get_data(cache=False)
    if len(raw) > BODY_MAX:
        return _refused(provider, "body too large", 413)
    try:
        body = json.loads(raw.decode("utf-8"))
        replies = opt_outs.PARSERS[provider](body)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return _refused(provider, str(error) if isinstance(error, opt_outs.BadReport) else "not JSON", 400)
    counts = opt_outs.record_replies(provider, replies)
    current_app.logger.info("sms replies from %s: %s", provider, counts)
    return jsonify(SUCCESS[provider])


def _refused(provider: str, why: str, status: int):
    body = {"code": 1, "msg": why} if provider == "aliyun" else {"result": 1, "errmsg": why}
    return jsonify(body), status
