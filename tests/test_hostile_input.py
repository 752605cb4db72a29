"""Hostile input through every route: never a 500 (on SQLite and, in CI's second run, on PostgreSQL).

The routes come from the app's URL map, the form fields from every form class and the query and JSON names from
the blueprints' source, so a new route, field or parameter is covered without editing this file.
"""
from __future__ import annotations

import importlib
import json
import re
import urllib.parse
import uuid

import pytest
from sqlalchemy import func, select
from wtforms import BooleanField, DateField, DateTimeLocalField, PasswordField, StringField, TextAreaField
from wtforms.fields.core import UnboundField

from blueprints.core.forms import SafeForm
from domain.core.db import db
from domain.core.enums import Role
from domain.fieldwork.models import SyncOp
from domain.requests.models import ProgressNote, Ticket

from .helpers import PASSWORD, ROOT, module_app, user_factory
from .orderfactory import make_prepared_visit, make_signed_order

# The table of hostile values: every one goes through every form field, query parameter and path segment.
HOSTILE = {
    "nul": "before\x00after",
    "lone_surrogate": "x\ud800y",
    "superscript_two": "\u00b2",
    "twenty_digits": "9" * 20,
    "ten_to_the_20": str(10**20),
    "infinity": "Infinity",
    "nan": "NaN",
    "year_9999": "9999-12-31T23:59:59-14:00",
    "year_0001": "0001-01-01T00:00:00+14:00",
    # Deeper than Python's recursion limit (1,000: json and any recursive parser stop there), as a text in every
    # query string, path segment and form field; 5,000 took the sweep 200 s for the same verdict.
    "deep_nesting": "[" * 1500,
}
# The same as JSON values, where the type matters: non-finite numbers and huge integers as numbers.
JSON_HOSTILE = {**HOSTILE, "infinity_number": float("inf"), "nan_number": float("nan"), "big_int": 10**20,
                "bigger_int": 10**30}
RAW_JSON_BODIES = {
    "deep_brackets": "[" * 10000 + "]" * 10000,
    "deep_in_object": '{"customer_name": ' + "[" * 5000 + "]" * 5000 + "}",
    "nan_literal": '{"customer_id": NaN, "technician": NaN}',
    "infinity_literal": '{"customer_id": Infinity, "version": -Infinity}',
    "huge_float": '{"customer_id": 1e400}',
    "escaped_nul": '{"customer_name": "a\\u0000b", "technician": "\\u0000"}',
    "escaped_surrogate": '{"customer_name": "a\\ud800b", "problem": "\\udfff"}',
    "not_utf8": b'{"customer_name": "\xff\xfe"}',
}


def _encode(value: str) -> str:
    """Percent-encoded as a browser would send it; a lone surrogate as the bytes a broken client sends."""
    return urllib.parse.quote(value.encode("utf-8", "surrogatepass"), safe="")


def _source_names(pattern: str) -> set[str]:
    found = set()
    for path in list((ROOT / "blueprints").rglob("*.py")) + list((ROOT / "domain").rglob("*.py")):
        found.update(re.findall(pattern, path.read_text()))
    return found


def _form_fields() -> dict[str, type]:
    """Every field of every form: name -> field class."""
    for module in ROOT.glob("blueprints/*/*.py"):  # every form class defined anywhere
        importlib.import_module(f"blueprints.{module.parent.name}.{module.stem}")
    fields: dict[str, type] = {}
    pending = list(SafeForm.__subclasses__())
    while pending:
        form_class = pending.pop()
        pending.extend(form_class.__subclasses__())
        for klass in form_class.__mro__:
            for name, value in vars(klass).items():
                if isinstance(value, UnboundField):
                    fields.setdefault(name, value.field_class)
    return fields


QUERY_NAMES = _source_names(r'(?:args|values)\.get(?:list)?\(\s*"(\w+)"') | _source_names(r'_int_arg\("(\w+)"\)') \
    | _source_names(r'args\["(\w+)"\]')
FORM_FIELDS = _form_fields()
FORM_NAMES = set(FORM_FIELDS) | _source_names(r'form\.get(?:list)?\(\s*"(\w+)"') | _source_names(
    r'request\.form\[\s*"(\w+)"')
JSON_NAMES = _source_names(r'(?:data|body)\.get\(\s*"(\w+)"') | _source_names(r'_text\(data, "(\w+)"')
TEXT_FIELDS = (StringField, TextAreaField, PasswordField)
SKIPPED_ENDPOINTS = {"static", "auth.logout", "core.set_language"}  # files; the session's own end; a cookie
EVERY_ROUTE, ONE_PER_SHAPE = "every route", "one route per shape"


def test_the_walk_finds_the_names_it_needs():
    """The walk covers what the issue's probes found (if the source patterns stop matching, this fails)."""
    assert {"technician", "page", "q", "category", "model", "fault", "week"} <= QUERY_NAMES
    assert {"text", "customer_name", "password", "display_name", "item"} <= FORM_NAMES
    assert {"customer_id", "technician", "problem", "reported_at"} <= JSON_NAMES


def _world(app, make_user) -> dict:
    """A prepared visit for t1 and a signed order, with every role signed in."""
    with app.app_context():
        job = make_prepared_visit(make_user, tech="t1", other_tech="t2")
        make_user(Role.EXPERT, "sage")
        make_user(Role.ADMIN, "root", is_admin=True)
        signed = make_signed_order(make_user, photos=1)
    clients = {}
    for username in ("desk", "boss", "t1", "sage", "root"):
        client = app.test_client()
        assert client.post("/auth/login", data={"username": username, "password": PASSWORD}).status_code == 302
        clients[username] = client
    return {"app": app, "number": job["number"], "signed": signed["number"], "clients": clients}


@pytest.fixture
def world(app, make_user):
    """The world on this test's own database: what a test that writes (a POST) starts from."""
    return _world(app, make_user)


@pytest.fixture(scope="module")
def read_world(database, tmp_path_factory):
    """The same world built once for the module: the GET sweeps only read it (as the access matrix's GET cases)."""
    with module_app(database, tmp_path_factory, "hostile-world") as app:
        yield _world(app, user_factory(app))


def _shape(rule) -> tuple:
    """What a route's URL is to the code that parses it: a page or the API, and its arguments' converters."""
    return rule.rule.startswith("/api/"), tuple(sorted(re.findall(r"<(?:([^:<>]+):)?[^:<>]+>", rule.rule)))


def _rules(app, method: str, routes: str = EVERY_ROUTE):
    """The app's routes taking `method`, or the first route of each shape."""
    shapes = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if method in rule.methods and rule.endpoint not in SKIPPED_ENDPOINTS:
            if routes == ONE_PER_SHAPE:
                if _shape(rule) in shapes:
                    continue
                shapes.add(_shape(rule))
            yield rule


def _path(rule, value: str, world) -> str:
    """The rule's URL with every argument set to `value` (already encoded)."""
    path = rule.rule
    for argument in rule.arguments:
        path = re.sub(r"<(?:[^:<>]+:)?" + argument + ">", value, path)
    return path


def _real_path(rule, world) -> str:
    real = {"number": world["number"], "user_id": "1", "article_id": "1", "fault_id": "1", "day": "2026-10-01",
            "token": "x"}
    path = rule.rule
    for argument in rule.arguments:
        path = re.sub(r"<(?:[^:<>]+:)?" + argument + ">", real.get(argument, "1"), path)
    return path


def _check(response, what: str) -> None:
    assert response.status_code != 500, f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    if urllib.parse.urlsplit(what.split(" ", 1)[1]).path.startswith("/api/"):
        assert response.is_json, f"{what}: the API answered {response.content_type}"


def _labels(labels) -> list:
    """The hostile values as (label, routes) parameters, each through every route for every role. The 1,500
    brackets as a long text (about 135 KB of query string on every route for every role, most of this file's
    time) go through one route of each shape (a page or the API, its arguments' converters) for every role in every
    run; through every route they are the `sweep`, which CI runs once, on SQLite. Deep nesting where it is parsed
    (JSON bodies) runs on both databases below."""
    out = []
    for label in labels:
        if label == "deep_nesting":
            out.append(pytest.param(label, ONE_PER_SHAPE, id=f"{label}-one_route_per_shape"))
            out.append(pytest.param(label, EVERY_ROUTE, id=label, marks=pytest.mark.sweep))
        else:
            out.append(pytest.param(label, EVERY_ROUTE, id=label))
    return out


@pytest.mark.parametrize("label,routes", _labels(HOSTILE))
def test_hostile_path_segments_and_query_strings_never_500(read_world, label, routes):
    app, world = read_world["app"], read_world
    value = _encode(HOSTILE[label])
    query = "&".join(f"{name}={value}" for name in sorted(QUERY_NAMES))
    for client in world["clients"].values():
        for rule in _rules(app, "GET", routes):
            if rule.arguments:
                url = _path(rule, value, world)
                _check(client.get(url), f"GET {url}")
            url = f"{_real_path(rule, world)}?{query}"
            _check(client.get(url), f"GET {url}")


def _baseline(world) -> dict[str, str]:
    """Plausible values for the fields that are not free text, so that the hostile text reaches the domain."""
    return {"urgency": "normal", "channel": "phone", "method": "phone", "reached": "y", "outcome": "resolved",
            "technician": "t1", "expert": "sage", "decision": "approve", "status": "published", "role": "technician",
            "active": "1", "lang": "en", "scheduled_at": "2026-12-01T10:00", "reported_at": "", "day": "2026-10-01",
            "kind": "holiday", "shown_to_customer": "y", "publish": "1", "submit": "1", "passed": "y"}


# A form cannot carry a lone surrogate.
@pytest.mark.parametrize("label,routes", _labels(k for k in HOSTILE if k != "lone_surrogate"))
def test_hostile_form_fields_never_500(app, world, label, routes):
    value = _encode(HOSTILE[label])
    baseline = _baseline(world)
    everything = "&".join(f"{name}={value}" for name in sorted(FORM_NAMES))
    text_only = "&".join(f"{name}={value if FORM_FIELDS.get(name) in TEXT_FIELDS or name not in baseline else _encode(baseline[name])}"  # noqa: E501
                         for name in sorted(FORM_NAMES))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for client in world["clients"].values():
        for rule in _rules(app, "POST", routes):
            if rule.rule.startswith("/api/"):
                continue  # JSON bodies below
            url = _real_path(rule, world)
            for body in (everything, text_only):
                _check(client.post(url, data=body, headers=headers), f"POST {url}")
            if rule.arguments:
                hostile_url = _path(rule, value, world)
                _check(client.post(hostile_url, data=text_only, headers=headers), f"POST {hostile_url}")


@pytest.mark.parametrize("label", list(JSON_HOSTILE))
def test_hostile_json_bodies_never_500(app, world, label):
    value = JSON_HOSTILE[label]
    if label == "deep_nesting":
        value = json.loads("[" * 30 + "]" * 30)  # parseable, deeper than any client sends: refused with a code
    body = json.dumps({name: value for name in sorted(JSON_NAMES)})
    for client in world["clients"].values():
        for rule in _rules(app, "POST"):
            if not rule.rule.startswith("/api/") or "sync" in rule.rule:
                continue  # the sync endpoints have their own tests (test_sync_hardening.py)
            url = _real_path(rule, world)
            for name in [None, *sorted(JSON_NAMES)]:
                one = body if name is None else json.dumps({name: value})
                _check(client.post(url, data=one, content_type="application/json"), f"POST {url}")


@pytest.mark.parametrize("label", list(RAW_JSON_BODIES))
def test_unreadable_json_bodies_are_400_json(app, world, label):
    body = RAW_JSON_BODIES[label]
    for username in ("desk", "boss"):
        client = world["clients"][username]
        for url in ("/api/v1/requests", f"/api/v1/requests/{world['number']}/assign"):
            response = client.post(url, data=body, content_type="application/json")
            _check(response, f"POST {url}")
            if username == "boss" or url == "/api/v1/requests":
                assert response.status_code in (400, 422), (label, url, response.status_code)
                assert response.json["error"]["code"], response.json


def test_nan_infinity_and_nul_are_refused_with_a_code(app, world):
    client = world["clients"]["desk"]
    cases = {'{"customer_id": NaN}': "non_finite_number", '{"customer_id": Infinity}': "non_finite_number",
             '{"customer_name": "a\\u0000b"}': "nul_character", '{"problem": "x\\ud800"}': "bad_unicode",
             "[" * 5000 + "]" * 5000: "too_deep", "[" * 40 + "]" * 40: "too_deep"}
    for body, code in cases.items():
        response = client.post("/api/v1/requests", data=body, content_type="application/json")
        assert (response.status_code, response.json["error"]["code"]) == (400, code), body[:40]
    with app.app_context():
        assert db.session.execute(select(func.count(Ticket.id))).scalar_one() == 2  # nothing created


def test_a_nul_in_a_form_is_a_form_error_in_the_users_language(app, world):
    client = world["clients"]["t1"]
    response = client.post(f"/dispatch/requests/{world['number']}/notes", data={"text": "a\x00b"},
                           headers={"Accept-Language": "en"})
    assert response.status_code in (200, 302, 400)
    with app.app_context():
        notes = db.session.execute(select(ProgressNote.text)).scalars().all()
        assert not any("\x00" in text for text in notes)
    response = client.post("/auth/account", data={"current": "a\x00b", "new": "x\x00yyyyyyyyy",
                                                  "confirm": "x\x00yyyyyyyyy"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "The text contains a NUL character, which cannot be stored." in response.get_data(as_text=True)


def test_path_segments_with_nul_are_404(world):
    for url in ("/dispatch/requests/%00", "/api/v1/requests/%00", "/orders/%00/pdf", "/kb/cases/%00"):
        assert world["clients"]["boss"].get(url).status_code == 404, url


def test_query_values_with_nul_or_foreign_digits_are_400_or_ignored(world):
    client = world["clients"]["boss"]
    assert client.get("/dispatch/board?technician=%C2%B2").status_code == 200
    assert client.get("/dispatch/board?page=" + "9" * 20).status_code == 200
    assert client.get("/kb/?page=" + "9" * 20 + "&category=%C2%B2").status_code == 200
    assert client.get("/dispatch/board?q=%00").status_code == 400


def test_a_stored_time_at_the_calendars_edge_never_breaks_a_page(app, world):
    """A note dated 9999 stored before the checks existed: the request's page still opens."""
    from datetime import UTC, datetime

    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.number == world["number"])).scalar_one()
        db.session.add(ProgressNote(id=uuid.uuid4(), ticket=ticket, author=ticket.assignee, text="late",
                                    written_at=datetime(9999, 12, 31, 20, 0, tzinfo=UTC)))
        db.session.commit()
    for username in ("boss", "t1"):
        response = world["clients"][username].get(f"/dispatch/requests/{world['number']}")
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert "late" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 0


def test_checkbox_and_date_fields_are_in_the_walk():
    assert any(cls is BooleanField for cls in FORM_FIELDS.values())
    assert any(cls in (DateField, DateTimeLocalField) for cls in FORM_FIELDS.values())


def test_a_method_an_address_does_not_take_is_a_405_that_says_which_it_takes(app):
    client = app.test_client()
    for path in ("/api/v1/sync", "/api/v1/openapi.json", "/auth/login"):
        response = client.open(path, method="PATCH")
        assert response.status_code == 405, path
        allowed = {m.strip() for m in response.headers.get("Allow", "").split(",")}
        assert allowed and "PATCH" not in allowed and (allowed & {"GET", "POST"}), (path, allowed)
    assert client.open("/api/v1/sync", method="PATCH").get_json()["error"]["code"] == "method_not_allowed"
