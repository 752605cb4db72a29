"""The OpenAPI document covers every /api/v1 endpoint with its answers, and the app keeps to it: schemathesis
generates requests from the document (bounded examples) and checks every answer (never a 500, a documented
status, the documented content type and body). On SQLite, and on PostgreSQL in CI's second run."""
from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from domain.core import accounts
from domain.core.db import db
from domain.core.models import User

from .orderfactory import make_prepared_visit


def test_every_api_route_is_documented_with_its_answers(app):
    document = app.test_client().get("/api/v1/openapi.json").json
    documented = set(document["paths"])
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", rule.rule)
            assert path in documented, f"{rule.rule} is not in the OpenAPI document"
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                operation = document["paths"][path][method.lower()]
                if path != "/api/v1/openapi.json":
                    assert {"200", "401", "429", "500"} & set(operation["responses"]) >= {"401", "429", "500"}
                    assert any(code.startswith("2") for code in operation["responses"]), (path, method)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/api/v1/session"]["get"]["responses"]["200"]["content"]


def test_the_api_keeps_to_its_document(app, make_user):
    """Every operation, with bounded examples (schemathesis' strategies driven by hypothesis here: its pytest
    plugin does not run under this pytest version)."""
    with app.app_context():
        job = make_prepared_visit(make_user, tech="t1", other_tech="t2")
        tokens = {}
        for username in ("boss", "t1"):
            user = db.session.execute(db.select(User).where(User.username == username)).scalar_one()
            tokens[username], _token = accounts.create_api_token(f"schemathesis-{username}", user)
        db.session.commit()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8  # openapi.json itself is not exercised
    for operation in operations:
        # identity: schemathesis' WSGI client does not decompress what Flask-Compress would send.
        header = {"Authorization": f"Bearer {tokens['t1' if operation.path.startswith(TECHNICIAN_PATHS) else 'boss']}",
                  "Accept-Encoding": "identity"}
        check_operation(operation, header, job["number"], checks)


TECHNICIAN_PATHS = ("/api/v1/sync", "/api/v1/me/jobs", "/api/v1/session")


def check_operation(operation, header: dict, number: str, checks) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case):
        if "number" in (case.path_parameters or {}) and not case.path_parameters["number"]:
            case.path_parameters["number"] = number
        case.call_and_validate(headers=header, checks=checks)

    run()
