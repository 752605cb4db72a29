"""The OpenAPI 3.1 document of the phone's API (served at /api/v1/openapi.json)."""
from __future__ import annotations

from domain.fieldwork.sync import OP_KINDS

TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with an offset"}
TEXT = {"type": "string"}

PAYLOADS = {
    "contact.made": {"method": {"enum": ["phone", "message", "screen_share", "other"]},
                     "reached": {"type": "boolean"}, "note": TEXT},
    "remote.resolved": {"cause": TEXT, "work_done": TEXT},
    "visit.scheduled": {"scheduled_at": TIME, "address": TEXT, "agreed_with": TEXT},
    "prep.confirmed": {"items": {"type": "array", "items": {"type": "integer"},
                                 "description": "ids of the checklist items confirmed"}},
    "visit.arrived": {},
    "problem.confirmed": {"text": TEXT},
    "note.added": {"note_id": {"type": "string", "format": "uuid"}, "text": TEXT,
                   "shown_to_customer": {"type": "boolean"}},
    "photo.added": {"note_id": {"type": "string", "format": "uuid"}, "caption": TEXT},
    "test.recorded": {"item": TEXT, "passed": {"type": "boolean"}, "note": TEXT},
    "customer.confirmed": {"note": TEXT},
    "precautions.told": {"items": {"type": "array", "items": TEXT}},
    "order.signed": {"signer_name": TEXT, "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                     "comment": TEXT, "signature_png": {"type": "string", "pattern": "^data:image/png;base64,"},
                     "strokes": {"type": "array", "items": {"type": "array"},
                                 "description": "signature_pad's stroke points, kept as evidence"},
                     "customer_email": {"type": "string", "format": "email",
                                        "description": "optional: the customer gets the link to the signed order"}},
    "visit.departed": {},
}
REQUIRED = {"remote.resolved": ["cause", "work_done"], "visit.scheduled": ["scheduled_at", "address"],
            "prep.confirmed": ["items"], "problem.confirmed": ["text"], "note.added": ["note_id", "text"],
            "test.recorded": ["item", "passed"], "precautions.told": ["items"],
            "order.signed": ["signer_name", "rating", "signature_png", "strokes"]}
ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "code": TEXT, "message": TEXT}, "required": ["code", "message"]}}}


def _op_schema(kind: str) -> dict:
    return {
        "type": "object",
        "required": ["op_id", "kind", "ticket", "at", "data"],
        "properties": {
            "op_id": {"type": "string", "format": "uuid", "description": "idempotency key (uuid4)"},
            "kind": {"const": kind},
            "ticket": {"type": "string", "example": "FS-2026-000123"},
            "at": TIME,
            "data": {"type": "object", "properties": PAYLOADS[kind], "required": REQUIRED.get(kind, [])},
        },
    }


def openapi_document() -> dict:
    results = {"type": "object", "properties": {
        "results": {"type": "array", "items": {"type": "object", "required": ["op_id", "status"], "properties": {
            "op_id": TEXT, "status": {"enum": ["applied", "duplicate", "rejected"]}, "code": TEXT,
            "message": TEXT}}},
        "server_time": TIME}}
    json_errors = {str(code): {"description": text, "content": {"application/json": {"schema": ERROR}}}
                   for code, text in (("400", "malformed batch"), ("401", "no valid session: keep the outbox, "
                                      "sign in again"), ("403", "not a technician"),
                                      ("413", "batch too large or too many ops"))}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Field service: the technician's app", "version": "1"},
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session"},
                                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"}},
            "schemas": {"Op": {"oneOf": [{"$ref": f"#/components/schemas/op.{k}"} for k in OP_KINDS if
                                         k != "photo.added"]},
                        **{f"op.{k}": _op_schema(k) for k in OP_KINDS}},
        },
        "security": [{"session": [], "csrf": []}],
        "paths": {
            "/api/v1/session": {"get": {"summary": "who is signed in, and the CSRF token for POSTs",
                                        "responses": {"200": {"description": "username, role, csrf_token"},
                                                      "401": json_errors["401"]}}},
            "/api/v1/me/jobs": {"get": {"summary": "everything needed to work offline on my assigned requests",
                                        "responses": {"200": {"description": "jobs, server_time, due_soon_minutes"},
                                                      "401": json_errors["401"]}}},
            "/api/v1/sync": {"post": {
                "summary": "apply the outbox: each op once, in order, atomically and on its own",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["device_id", "ops"],
                    "properties": {"device_id": TEXT, "ops": {"type": "array",
                                                              "items": {"$ref": "#/components/schemas/Op"}}}}}}},
                "responses": {"200": {"description": "one result per op, in the order sent",
                                      "content": {"application/json": {"schema": results}}}, **json_errors}}},
            "/api/v1/sync/photo": {"post": {
                "summary": "one photo (photo.added), with its own op_id",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["op_id", "ticket", "at", "device_id", "file"],
                    "properties": {"op_id": {"type": "string", "format": "uuid"}, "ticket": TEXT, "at": TIME,
                                   "device_id": TEXT, "note_id": {"type": "string", "format": "uuid"},
                                   "caption": TEXT, "file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"200": {"description": "one result", "content": {"application/json": {
                    "schema": results}}}, **json_errors}}},
        },
    }
