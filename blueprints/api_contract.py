"""The OpenAPI description of the /api/v1 endpoints other than the phone's sync (the intake and assignment API,
the request's JSON, the weekly report, the session and jobs bodies), and what every endpoint may answer (401,
429, 500), with the bearer scheme other systems use. blueprints/field/openapi.py describes the sync contract and
its op payloads; `complete_document` adds this to it, so the served document covers every /api/v1 route."""
from __future__ import annotations

from domain.documents.verify import REASONS
from domain.fieldwork.feed import JobsFeed

TEXT = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TEXT = {"type": ["string", "null"]}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"], "properties": {"code": TEXT, "message": TEXT}}}}
CLOCK_NAMES = ["intake", "first_contact", "remote_fix", "order_filed", "preparation", "submission", "case_analysis"]


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# Every /api/v1 endpoint may answer these.
COMMON = {
    "401": _error("no valid session or API token (never a redirect)"),
    "429": _error("too many requests"),
    "500": _error("server error: nothing saved before was lost"),
}
CLOCK = {"type": "object", "required": ["name", "due_at", "done_at", "state"], "properties": {
    "name": {"enum": CLOCK_NAMES}, "due_at": {"type": ["string", "null"], "format": "date-time"},
    "done_at": {"type": ["string", "null"], "format": "date-time"},
    "state": {"enum": ["pending", "met", "missed", "not_applicable"]}}}
REQUEST = {"type": "object", "required": ["number", "status", "urgency", "assignee", "clocks"], "properties": {
    "number": TEXT, "status": TEXT, "urgency": {"enum": ["urgent", "normal"]}, "channel": TEXT,
    "customer_name": TEXT, "contact_name": NULLABLE_TEXT, "contact_phone": NULLABLE_TEXT, "address": NULLABLE_TEXT,
    "device_model": NULLABLE_TEXT, "device_category": NULLABLE_TEXT, "serial_number": NULLABLE_TEXT,
    "problem": TEXT, "reported_at": TIME, "created_at": TIME, "assignee": NULLABLE_TEXT, "expert": NULLABLE_TEXT,
    "version": {"type": "integer"}, "clocks": {"type": "array", "items": CLOCK},
    "tracking_url": {"type": "string", "description": "the customer's tracking page (/c/...), for their messages"},
    "device": {"type": "object", "properties": {"model": NULLABLE_TEXT, "serial": NULLABLE_TEXT,
                                                "category": NULLABLE_TEXT, "asset_number": NULLABLE_TEXT}},
    "customer_copy_url": {"type": ["string", "null"], "description": "the customer's download link (/o/...) once "
                                                                     "the order is signed"}}}
INTAKE = {"type": "object", "required": ["customer_name", "contact_phone", "problem", "urgency"], "properties": {
    "customer_name": {"type": "string", "maxLength": 200}, "customer_id": {"type": "integer"},
    "contact_person": {"type": "string", "maxLength": 100}, "contact_phone": {"type": "string", "maxLength": 40},
    "customer_email": {"type": "string", "maxLength": 200}, "address": {"type": "string", "maxLength": 200},
    "device_model": {"type": "string", "maxLength": 200}, "device_model_id": {"type": "integer"},
    "serial_number": {"type": "string", "maxLength": 200}, "problem": {"type": "string", "maxLength": 5000},
    "urgency": {"enum": ["urgent", "normal"]}, "channel": {"enum": ["phone", "web", "qr", "other"]},
    "asset_number": {"type": "string", "maxLength": 100,
                     "description": "a registered device (asset or serial number): fills in model and serial"},
    "reported_at": {**TIME, "description": "ISO 8601; without an offset the company's time zone; at most 30 "
                                           "days ago"}},
    "description": "Texts may not contain NUL or lone surrogates; numbers must be finite; nesting at most 32."}
FIGURE = {"type": "object", "required": ["numerator", "denominator", "value"], "properties": {
    "numerator": {"type": "integer"}, "denominator": {"type": "integer"}, "value": {"type": ["number", "null"]},
    "pending": {"type": "integer"}}}
WEEK = {"type": "object", "required": ["week", "response_rate", "resolution_rate", "satisfaction", "by_technician"],
        "properties": {"week": TEXT, "start": TIME, "end": TIME, "response_rate": FIGURE, "resolution_rate": FIGURE,
                       "satisfaction": {**FIGURE, "properties": {
                           **FIGURE["properties"], "mean": {"type": ["number", "null"]},
                           "distribution": {"type": "object", "additionalProperties": {"type": "integer"}},
                           "sources": {"type": "object", "description": "on_site (at signing, on the technician's "
                                       "phone) and follow_up (afterwards, on the tracking page), each a figure with "
                                       "mean", "properties": {"on_site": FIGURE, "follow_up": FIGURE}},
                           "unrated": {"type": "integer", "description": "services ended in the week with no "
                                                                         "rating from either source"}}},
                       "by_technician": {"type": "object", "additionalProperties": {"type": "object"}}},
        "additionalProperties": True}
MEDIAN = {"type": "object", "required": ["value", "technicians"], "properties": {
    "value": {"type": ["number", "null"]}, "technicians": {"type": "integer"}}}
ASSESSMENT = {"type": "object", "required": ["month", "start", "end", "timezone", "by_technician", "median"],
              "properties": {"month": TEXT, "start": TIME, "end": TIME, "timezone": TEXT,
                             "complete": {"type": "boolean"}, "generated_at": TIME,
                             "by_technician": {"type": "object", "description": "per account: display_name, handled "
                                               "{count, remote, on_site}, resolution_rate, one figure per deadline "
                                               "the technician owns, satisfaction (with sources), returned, "
                                               "case_analyses {count, orders_approved, ...}",
                                               "additionalProperties": {"type": "object"}},
                             "median": {"type": "object", "additionalProperties": MEDIAN}}}
SESSION = {"type": "object", "required": ["username", "role", "csrf_token"], "properties": {
    "username": TEXT, "display_name": TEXT, "role": {"enum": ["dispatcher", "technician", "expert", "supervisor",
                                                              "admin"]},
    "is_admin": {"type": "boolean"}, "locale": TEXT, "csrf_token": TEXT}}
INBOX = {"type": "object", "required": ["items", "unread"], "properties": {
    "items": {"type": "array", "items": {
        "type": "object", "required": ["id", "kind", "ticket", "title", "body", "created_at", "read_at"],
        "properties": {"id": {"type": "integer"}, "kind": TEXT, "ticket": NULLABLE_TEXT, "title": TEXT, "body": TEXT,
                       "created_at": TIME, "read_at": {"type": ["string", "null"], "format": "date-time"}}}},
    "unread": {"type": "integer"}}}
SUBSCRIPTION = {"type": "object", "required": ["endpoint", "keys"], "properties": {
    "endpoint": {"type": "string", "format": "uri"},
    "keys": {"type": "object", "required": ["p256dh", "auth"], "properties": {"p256dh": TEXT, "auth": TEXT}}}}
DEVICE_STATES = ["in_stock", "rented", "in_repair", "retired"]
DEVICE_INPUT = {"type": "object", "required": ["asset_number", "model"], "properties": {
    "asset_number": {"type": "string", "maxLength": 40, "pattern": "^[A-Za-z0-9][A-Za-z0-9._/-]*$"},
    "serial_number": {"type": "string", "maxLength": 100},
    "model": {"type": "string", "maxLength": 200,
              "description": "brand and model as in the device catalog; a model new to it is added"},
    "category": {"type": "string", "description": "the device category of a model new to the catalog (default: "
                                                  "other): camera, audio_mixer, video_switcher, encoder, light, "
                                                  "capture_card, other, or their names"},
    "state": {"type": "string", "description": "in_stock, rented, in_repair, retired (or their Chinese words)"},
    "customer": {"type": "string", "maxLength": 200, "description": "needed when rented"},
    "rented_since": {"type": "string", "format": "date"}, "notes": {"type": "string", "maxLength": 2000}}}
DEVICE = {"type": "object", "required": ["asset_number", "serial_number", "model", "state", "report_url"],
          "properties": {"asset_number": TEXT, "serial_number": NULLABLE_TEXT, "model": TEXT, "category": TEXT,
                         "state": {"enum": DEVICE_STATES}, "customer": NULLABLE_TEXT,
                         "rented_since": {"type": ["string", "null"], "format": "date-time"},
                         "report_url": {"type": "string", "description": "the URL its QR label carries"}}}
DEVICE_WITH_HISTORY = {**DEVICE, "required": [*DEVICE["required"], "history"], "properties": {
    **DEVICE["properties"],
    "history": {"type": "array", "description": "one entry per request about the device, or in which it was left "
                "as another unit's spare, newest first",
                "items": {"type": "object", "required": ["number", "status", "reported_at", "swaps"], "properties": {
                    "number": TEXT, "status": TEXT, "urgency": TEXT, "channel": TEXT, "reported_at": TIME,
                    "problem": TEXT, "visits": {"type": "array"}, "service_order": {"type": "boolean"},
                    "swaps": {"type": "array", "description": "the request's swap this device was part of (one at "
                              "most): out, taken away as the faulty unit; in, left as the spare",
                              "items": {"type": "object", "required": ["direction", "other_asset_number",
                                                                       "swapped_at"], "properties": {
                                  "direction": {"enum": ["out", "in"]}, "other_asset_number": TEXT,
                                  "swapped_at": TIME}}}}}},
    "faults": {"type": "object", "description": "requests about the device (not those it came in on as a spare) "
               "reported in the last 30, 90 and 365 days",
               "properties": {"30d": {"type": "integer"}, "90d": {"type": "integer"}, "365d": {"type": "integer"}}},
    "requests_total": {"type": "integer", "description": "the history's entries, all of them (at most 1000 listed)"}}}
ASSET = {"name": "asset_number", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40},
         "example": "ZC-ENC-0001"}
VERDICT = {"type": "object", "required": ["genuine", "reason", "message", "number"], "properties": {
    "genuine": {"type": "boolean"}, "reason": {"enum": list(REASONS)},
    "message": {"type": "string", "description": "one plain sentence: what the file is, or which part is wrong"},
    "number": {"type": ["string", "null"], "description": "the service order's number (FS-...) when known"}}}
NUMBER = {"name": "number", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40},
          "example": "FS-2026-000123"}

OTHER_PATHS = {
    "/api/v1/devices": {
        "post": {
            "summary": "add a device to the register: dispatcher or supervisor, session or API token",
            "security": [{"bearer": []}, {"session": [], "csrf": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": DEVICE_INPUT}}},
            "responses": {
                "201": _json("added", DEVICE),
                "400": _error("not a JSON object, NaN/Infinity, NUL or lone surrogate in a text, nested too deep"),
                "403": _error("not a dispatcher or supervisor"),
                "422": _json("a field is wrong", {**ERROR, "description": "error.fields maps each field to its "
                                                                          "message"}),
                **COMMON}},
        "get": {
            "summary": "search the register by asset or serial number, model or customer (any signed-in role)",
            "parameters": [{"name": "q", "in": "query", "required": False, "schema": {"type": "string",
                                                                                      "maxLength": 100}},
                           {"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
            "responses": {"200": _json("the matches", {"type": "object", "required": ["items", "total"],
                                                       "properties": {"items": {"type": "array", "items": DEVICE},
                                                                      "total": {"type": "integer"}}}),
                          "400": _error("a NUL or foreign digits in the query"), **COMMON}}},
    "/api/v1/devices/{asset_number}": {"get": {
        "summary": "a device with its history and fault counts (any signed-in role)",
        "parameters": [ASSET],
        "responses": {"200": _json("the device", DEVICE_WITH_HISTORY), "400": _error("a NUL in the path"),
                      "404": _error("no such device"), **COMMON}}},
    "/api/v1/requests": {"post": {
        "summary": "file a request (website form, phone system): dispatcher or supervisor, session or API token",
        "security": [{"bearer": []}, {"session": [], "csrf": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": INTAKE}}},
        "responses": {
            "201": _json("filed", {"type": "object", "required": ["number", "status"],
                                   "properties": {"number": TEXT, "status": TEXT}}),
            "400": _error("not a JSON object, NaN/Infinity, NUL or lone surrogate in a text, nested too deep"),
            "403": _error("not a dispatcher or supervisor"),
            "422": _json("a field is wrong", {**ERROR, "description": "error.fields maps each field to its message"}),
            **COMMON}}},
    "/api/v1/requests/{number}": {"get": {
        "summary": "a request with its clocks (roles that may see it)",
        "parameters": [NUMBER],
        "responses": {"200": _json("the request", REQUEST), "403": _error("not allowed to see it"),
                      "404": _error("no such request"), **COMMON}}},
    "/api/v1/requests/{number}/assign": {"post": {
        "summary": "assign a technician (supervisor)",
        "security": [{"bearer": []}, {"session": [], "csrf": []}],
        "parameters": [NUMBER],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["technician"], "properties": {
                "technician": {"type": "string", "description": "username (or user id)"},
                "version": {"type": "integer", "description": "the version read: 409 if it changed meanwhile"}}}}}},
        "responses": {"200": _json("the request after assignment", REQUEST),
                      "400": _error("not a JSON object, or not readable"), "403": _error("not a supervisor"),
                      "404": _error("no such request"), "409": _error("changed meanwhile, or already assigned"),
                      "422": _error("unknown technician or bad version"), **COMMON}}},
    "/api/v1/requests/{number}/signing-code": {"post": {
        "summary": "send the customer the SMS code that confirms their signature (SIGNING_SMS_CODE; the assignee, on "
                   "site; one a minute, 10 an hour per request)",
        "parameters": [NUMBER],
        "responses": {"202": _json("queued for the SMS channel", {"type": "object", "required": ["sent", "expires_at"],
                                                                 "properties": {"sent": {"type": "boolean"},
                                                                                "expires_at": TIME}}),
                      "400": _error("codes not used here, not on site, no mobile number, or one sent less than a "
                                    "minute ago"),
                      "403": _error("not the request's technician"), "404": _error("no such request"),
                      "409": _error("already signed"), **COMMON}}},
    "/api/v1/reports/weekly": {"get": {
        "summary": "the weekly figures (supervisor)",
        "parameters": [{"name": "week", "in": "query", "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$"}, "example": "2026-W47"}],
        "responses": {"200": _json("this week and the one before", {**WEEK, "properties": {
            **WEEK["properties"], "timezone": TEXT, "complete": {"type": "boolean"}, "generated_at": TIME,
            "previous": WEEK}}),
            "400": _error("bad or future week"), "403": _error("not a supervisor"), **COMMON}}},
    "/api/v1/reports/assessment": {"get": {
        "summary": "each technician's monthly assessment beside the team median (supervisor, admin)",
        "parameters": [{"name": "month", "in": "query", "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}, "example": "2026-11"}],
        "responses": {"200": _json("the month's figures per technician and the medians", ASSESSMENT),
                      "400": _error("bad or future month"), "403": _error("not a supervisor or an admin"),
                      **COMMON}}},
    "/api/v1/verify": {"post": {
        "summary": "is this PDF a genuine service order? No account needed; one plain sentence in the caller's "
                   "language (Accept-Language)",
        "security": [],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}},
        "responses": {"200": _json("the verdict", VERDICT), "400": _error("no multipart field 'file'"),
                      "413": _json("larger than the site accepts (MAX_UPLOAD_MB): the verdict 'too_large'",
                                   VERDICT), **COMMON}}},
    "/api/v1/notifications": {"get": {
        "summary": "the signed-in user's inbox: newest alerts first, and how many are unread",
        "responses": {"200": _json("the inbox", INBOX), **COMMON}}},
    "/api/v1/notifications/{notification_id}/read": {"post": {
        "summary": "mark one of the user's alerts as read",
        "security": [{"bearer": []}, {"session": [], "csrf": []}],
        "parameters": [{"name": "notification_id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1}}],
        "responses": {"200": _json("marked", {
            "type": "object", "required": ["id", "read_at", "unread"],
            "properties": {"id": {"type": "integer"}, "read_at": TIME, "unread": {"type": "integer"}}}),
            "404": _error("no such alert for this user"), **COMMON}}},
    "/api/v1/push/key": {"get": {
        "summary": "the VAPID public key the browser subscribes with (applicationServerKey)",
        "responses": {"200": _json("the key", {"type": "object", "required": ["public_key"],
                                               "properties": {"public_key": TEXT}}), **COMMON}}},
    "/api/v1/push/subscriptions": {
        "post": {
            "summary": "register the browser's push subscription (only on a host of PUSH_ENDPOINTS_ALLOWED)",
            "security": [{"bearer": []}, {"session": [], "csrf": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": SUBSCRIPTION}}},
            "responses": {"201": _json("registered", {
                "type": "object", "required": ["id", "endpoint"],
                "properties": {"id": {"type": "integer"}, "endpoint": TEXT}}),
                "400": _error("push_endpoint_not_allowed (a host outside PUSH_ENDPOINTS_ALLOWED) or "
                              "bad_subscription"), **COMMON}},
        "delete": {
            "summary": "remove the browser's push subscription",
            "security": [{"bearer": []}, {"session": [], "csrf": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["endpoint"], "properties": {"endpoint": TEXT}}}}},
            "responses": {"204": {"description": "removed"}, "400": _error("no endpoint given"),
                          "404": _error("no such subscription"), **COMMON}}},
}


def complete_document(document: dict) -> dict:
    """The sync document with every other /api/v1 endpoint, the 200 bodies of /session and /me/jobs, the answers
    every endpoint may give, and the bearer scheme."""
    document["paths"].update(OTHER_PATHS)
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["bearer"] = {"type": "http", "scheme": "bearer",
                         "description": "an API token (flask api-tokens) for other systems: no CSRF needed"}
    # The jobs feed from its models (domain/fieldwork/feed.py), their shared parts among the components.
    jobs = JobsFeed.model_json_schema(ref_template="#/components/schemas/{model}")
    document["components"].setdefault("schemas", {}).update(jobs.pop("$defs", {}))
    for path, body in (("/api/v1/session", SESSION), ("/api/v1/me/jobs", jobs)):
        get = document["paths"].get(path, {}).get("get")
        if get is not None:
            get["responses"]["200"] = _json(get["responses"].get("200", {}).get("description", "ok"), body)
    for path, item in document["paths"].items():
        if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
            for operation in item.values():
                for code, answer in COMMON.items():
                    operation.setdefault("responses", {}).setdefault(code, answer)
    document["paths"].setdefault("/api/v1/openapi.json", {"get": {
        "summary": "this document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}})
    return document
