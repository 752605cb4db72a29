"""The OpenAPI 3.1 document of the phone's API (served at /api/v1/openapi.json)."""
from __future__ import annotations

from domain.fieldwork.ops import REGISTRY, payload_schemas

TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with an offset"}
TEXT = {"type": "string"}
DEVICE_ID = {"type": "string", "minLength": 1, "maxLength": 64, "description": "1 to 64 characters, no NUL"}
ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "code": TEXT, "message": TEXT}, "required": ["code", "message"]}}}


def _op_schema(kind: str, payload: dict) -> dict:
    return {
        "type": "object",
        "required": ["op_id", "kind", "ticket", "at", "data"],
        "properties": {
            "op_id": {"type": "string", "format": "uuid", "description": "idempotency key (uuid4)"},
            "kind": {"const": kind},
            "ticket": {"type": "string", "example": "FS-2026-000123"},
            "at": {**TIME, "description": "the act's time, corrected by the phone's estimated clock offset"},
            "device_at": {**TIME, "description": "the phone's raw clock at the act (kept beside `at`)"},
            "data": payload,
        },
    }


def openapi_document() -> dict:
    payloads, definitions = payload_schemas("#/components/schemas/{model}")
    results = {"type": "object", "properties": {
        "results": {"type": "array", "items": {"type": "object", "required": ["op_id", "status"], "properties": {
            "op_id": {"type": ["string", "null"], "description": "as sent; null when the op sent none (or not a text)"},
            "status": {"enum": ["applied", "duplicate", "rejected"]}, "code": TEXT,
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
            "schemas": {"Op": {"oneOf": [{"$ref": f"#/components/schemas/op.{k}"} for k, op in REGISTRY.items()
                                         if not op.multipart]},
                        **{f"op.{k}": _op_schema(k, payloads[k]) for k in REGISTRY}, **definitions},
        },
        "security": [{"session": [], "csrf": []}],
        "paths": {
            "/api/v1/session": {"get": {"summary": "who is signed in, and the CSRF token for POSTs",
                                        "responses": {"200": {"description": "username, role, csrf_token"},
                                                      "401": json_errors["401"]}}},
            "/api/v1/me/jobs": {"get": {"summary": "everything needed to work offline on my assigned requests",
                                        "responses": {"200": {"description": "jobs, server_time, due_soon_minutes"},
                                                      "401": json_errors["401"], "403": json_errors["403"]}}},
            "/api/v1/sync": {"post": {
                "summary": "apply the outbox: each op once, in order, atomically and on its own",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["device_id", "ops"],
                    "properties": {"device_id": DEVICE_ID, "ops": {"type": "array",
                                                              "items": {"$ref": "#/components/schemas/Op"}}}}}}},
                "responses": {"200": {"description": "one result per op, in the order sent",
                                      "content": {"application/json": {"schema": results}}}, **json_errors}}},
            "/api/v1/sync/photo": {"post": {
                "summary": "one photo (photo.added), with its own op_id",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["op_id", "ticket", "at", "device_id", "file"],
                    "properties": {"op_id": {"type": "string", "format": "uuid"}, "ticket": TEXT, "at": TIME,
                                   "device_id": DEVICE_ID, "note_id": {"type": "string", "format": "uuid"},
                                   "caption": TEXT, "file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"200": {"description": "one result", "content": {"application/json": {
                    "schema": results}}}, **json_errors}}},
        },
    }
