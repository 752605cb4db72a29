"""The sync applier against hostile and malformed ops: each is rejected alone with a code and stored (escaped),
the others are applied; a batch the server cannot read at all is a 400 JSON; never a 500, never a wedged outbox.
Runs on SQLite and on PostgreSQL (which refuses NUL in text: the case that used to fail the whole batch)."""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import event, func, select

from domain.alerts.models import OutboxMail
from domain.core.db import db
from domain.fieldwork.models import SyncOp
from domain.requests.models import ProgressNote

from .orderfactory import make_prepared_visit
from .phones import at, op, phone


@pytest.fixture
def job(app, make_user):
    """A visit scheduled for t1, prepared; t2 is another technician."""
    with app.app_context():
        return make_prepared_visit(make_user, tech="t1", other_tech="t2")


def note(number, text="已到达", **changes):
    raw = op("note.added", number, {"note_id": str(uuid.uuid4()), "text": text, "shown_to_customer": False},
             minutes=-1)
    raw.update(changes)
    return raw


def nested(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def hostile_ops(number):
    """(op, the code it must be rejected with)."""
    return [
        (note(number, "before\x00after"), "nul_character"),
        (note(number, "x\ud800y"), "bad_unicode"),
        (note(number, kind="note.added\x00"), "nul_character"),
        (note(number, ticket=number + "\x00"), "nul_character"),
        (note(number, at="2026-11-20T10:00:00\x00+08:00"), "nul_character"),
        (note(number, kind=[]), "unknown_kind"),
        (note(number, kind={}), "unknown_kind"),
        (note(number, kind=None), "unknown_kind"),
        (note(number, at="9999-12-31T23:59:59-14:00"), "bad_time"),
        (note(number, at="0001-01-01T00:00:00+14:00"), "bad_time"),
        (note(number, at="9999-12-31T20:00:00+00:00"), "bad_time"),
        (note(number, at="2999-01-01T00:00:00+00:00"), "bad_time"),
        (note(number, at="1970-01-01T00:00:00+00:00"), "bad_time"),
        (note(number, at=12), "bad_time"),
        (note(number, data={"note_id": str(uuid.uuid4()), "text": nested(500)}), "too_deep"),
        (note(number, data={"note_id": str(uuid.uuid4()), "text": "x", "n": float("nan")}), "non_finite_number"),
        (note(number, data={"note_id": str(uuid.uuid4()), "text": "x", "n": float("inf")}), "non_finite_number"),
        (note(number, ticket=["FS"]), "malformed_op"),
        (op("visit.scheduled", number, {"scheduled_at": "9999-12-31T23:59:59-14:00", "address": "Studio 1"}),
         "bad_time"),
        (op("contact.made", number, {"method": "phone", "note": "\x00"}), "nul_character"),
        (note(number, kind="note.added²"), "unknown_kind"),
        (note(number, kind=12345678901234567890), "unknown_kind"),
        # Kinds whose reads are loaded with the batch's tickets (OpKind.reads), on requests that do not exist.
        (op("order.signed", number + "²", {"signer_name": "赵远", "rating": 12345678901234567890}), "unknown_ticket"),
        (op("test.recorded", "9" * 20, {"item": "²", "passed": True}), "unknown_ticket"),
        # The acceptance test's own fields: a flag is a JSON boolean, a reason is text the database can store.
        (op("test.recorded", number, {"item": "²", "passed": False, "not_applicable": "²"}), "bad_payload"),
        (op("test.recorded", number, {"item": "x", "passed": False, "not_applicable": True, "note": "a\x00b"}),
         "nul_character"),
        (op("customer.confirmed", number, {"failures_acknowledged": 12345678901234567890}), "bad_payload"),
        (op("customer.confirmed", number, {"failures_acknowledged": "Infinity"}), "bad_payload"),
    ]


def post(client, ops, device="phone-1"):
    # allow_nan: the phone is not this strict; the server must be.
    body = json.dumps({"device_id": device, "ops": ops}, allow_nan=True)
    return client.post("/api/v1/sync", data=body, content_type="application/json")


def test_each_hostile_op_is_rejected_alone_and_the_others_are_applied(app, job):
    number = job["number"]
    cases = hostile_ops(number)
    ops = []
    for raw, _code in cases:
        ops += [raw, note(number, "good")]
    client = phone(app)
    response = post(client, ops)
    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.json["results"]
    assert len(results) == len(ops)
    for i, (raw, code) in enumerate(cases):
        assert (results[2 * i]["status"], results[2 * i].get("code")) == ("rejected", code), (raw, results[2 * i])
        assert results[2 * i + 1]["status"] == "applied", results[2 * i + 1]
    with app.app_context():
        assert db.session.execute(select(func.count(ProgressNote.id))).scalar_one() == len(cases)
        stored = db.session.execute(select(SyncOp)).scalars().all()
        assert len(stored) == len(ops)  # every op received is stored, with its raw body
        assert not any("\x00" in (r.body + r.kind + (r.ticket_number or "")) for r in stored)
        rejected = [r for r in stored if r.code == "nul_character"]
        assert any("\\u0000" in r.body for r in rejected)
    # The phone resends the same batch (it never saw the answer): nothing changes, every op is a duplicate.
    again = post(client, ops)
    assert again.status_code == 200
    assert [r["status"] for r in again.json["results"]] == ["duplicate"] * len(ops)
    assert [r.get("code") for r in again.json["results"]] == [r.get("code") for r in results]
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == len(ops)


def test_results_op_id_echoes_what_was_sent(app, job):
    client = phone(app)
    response = post(client, [note(job["number"], op_id="not-a-uuid"), note(job["number"], op_id=None)])
    assert [r["op_id"] for r in response.json["results"]] == ["not-a-uuid", None]
    assert [r["code"] for r in response.json["results"]] == ["bad_op_id", "bad_op_id"]


def test_hostile_op_ids_are_refused_alone_and_answered_the_same_when_sent_again(app, job):
    """A lone surrogate, a NUL, foreign digits, 20 digits, Infinity in an op_id: refused as bad_op_id, stored once
    (never a 500: a lone surrogate cannot be encoded to hash its storage key as is), a good op beside them applied."""
    number = job["number"]
    client = phone(app)
    good = str(uuid.uuid4())
    hostile = [good[:-1] + "\ud800", good[:-1] + "\x00", "²" * 36, "12345678901234567890", "Infinity"]
    ops = [note(number, op_id=value) for value in hostile] + [note(number, op_id=good)]
    first = post(client, ops)
    assert first.status_code == 200
    assert [r.get("code") for r in first.json["results"]] == ["bad_op_id"] * len(hostile) + [None]
    again = post(client, ops)
    assert [r["status"] for r in again.json["results"]] == ["rejected"] * len(hostile) + ["duplicate"]
    with app.app_context():
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == len(ops)


@pytest.mark.parametrize("body", [
    "[" * 10000 + "]" * 10000,
    '{"device_id": "p", "ops": ' + "[" * 10000 + "]" * 10000 + "}",
    '{"device_id": "p\\u0000", "ops": []}',
    '{"device_id": "\\ud800", "ops": []}',
    '{"device_id": ["p"], "ops": []}',
    b'\xff\xfe{"device_id"',
])
def test_a_batch_the_server_cannot_read_is_400_json(app, job, body):
    response = phone(app).post("/api/v1/sync", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] in ("too_deep", "bad_json", "bad_device", "bad_batch")


@pytest.mark.parametrize("field", ["ticket", "caption", "at", "device_id", "op_id", "note_id"])
def test_photo_upload_with_a_nul_in_any_field_is_never_500(app, job, field):
    from .phones import jpeg_with_gps_and_rotation

    form = {"op_id": str(uuid.uuid4()), "ticket": job["number"], "at": at(-1), "device_id": "phone-1",
            "caption": "现场", "note_id": ""}
    form[field] = form[field] + "\x00x"
    client = phone(app)
    from io import BytesIO

    form["file"] = (BytesIO(jpeg_with_gps_and_rotation(800, 600)), "p.jpg")
    response = client.post("/api/v1/sync/photo", data=form, content_type="multipart/form-data")
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 200:
        result = response.json["results"][0]
        assert field in ("note_id", "op_id") or result["status"] == "rejected", result


def test_a_note_on_another_technicians_request_is_not_assignee(app, job):
    response = post(phone(app, "t2"), [note(job["number"])])
    assert response.json["results"][0]["code"] == "not_assignee"


# --- property: any way of sending an outbox ends in the state of applying each valid op once, in order -------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MALFORMED = st.sampled_from([
    {"text": "a\x00b"}, {"text": "\udc00"}, {"kind": 7}, {"kind": ["note.added"]}, {"at": "9999-12-31T23:59:59-14:00"},
    {"at": "not a time"}, {"note_id": "nope"}, {"text": nested(60)}, {"ticket": ""}, {"ticket": "FS-0000-000000"},
    {"n": float("nan")},
])


@st.composite
def outboxes(draw):
    """A phone's outbox (valid notes and malformed ops) and how it reaches the server: in batches of random sizes,
    some batches sent again (the answer was lost), earlier ops shuffled into later batches."""
    size = draw(st.integers(1, 12))
    ops, valid = [], []
    for i in range(size):
        note_id = str(uuid.uuid4())
        raw = {"op_id": str(uuid.uuid4()), "kind": "note.added", "ticket": None, "at": None,
               "data": {"note_id": note_id, "text": f"note {i}", "shown_to_customer": False}}
        if draw(st.booleans()) and draw(st.booleans()):
            change = draw(MALFORMED)
            for key, value in change.items():
                (raw if key in ("kind", "at", "ticket") else raw["data"])[key] = value
        else:
            valid.append((note_id, f"note {i}"))
        ops.append(raw)
    cuts = sorted(draw(st.lists(st.integers(0, size), max_size=4)))
    batches = [ops[a:b] for a, b in zip([0, *cuts], [*cuts, size], strict=True) if ops[a:b]]
    sent = []
    for batch in batches:
        extra = draw(st.lists(st.sampled_from(ops), max_size=3)) if sent else []
        mixed = draw(st.permutations(extra)) + batch if extra else batch
        sent.append(mixed)
        if draw(st.booleans()):
            sent.append(batch)  # the answer was lost: the same batch again
    return ops, valid, sent


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(outbox=outboxes())
def test_any_way_of_sending_an_outbox_applies_each_valid_op_once(app, job, outbox):
    ops, valid, sent = outbox
    number = job["number"]
    for raw in ops:
        raw["ticket"] = number if raw["ticket"] is None else raw["ticket"]
        raw["at"] = raw["at"] or at(-1)
    client = phone(app)
    final: dict = {}
    for batch in sent:
        response = post(client, batch)
        assert response.status_code == 200, response.get_data(as_text=True)
        for raw, result in zip(batch, response.json["results"], strict=True):
            previous = final.get(raw["op_id"])
            if previous is not None:
                assert result["status"] == "duplicate" and result.get("code") == previous.get("code")
            else:
                final[raw["op_id"]] = result
    note_ids = {raw["data"]["note_id"] for raw in ops}
    with app.app_context():
        stored = db.session.execute(select(ProgressNote.id, ProgressNote.text)).all()
        mine = sorted((str(i), text) for i, text in stored if str(i) in note_ids)
        assert mine == sorted(valid)
        received = db.session.execute(select(func.count(SyncOp.id)).where(
            SyncOp.op_id.in_([uuid.UUID(raw["op_id"]) for raw in ops]))).scalar_one()
        assert received == len(ops)  # every op stored once, however often it was sent
    assert [final[raw["op_id"]]["status"] for raw in ops] == [
        "applied" if (raw["data"]["note_id"], raw["data"].get("text")) in valid else "rejected" for raw in ops]


def test_ops_refused_by_their_handler_undo_only_themselves_and_the_rest_applies_once(app, job):
    """The applier runs ops in runs, one savepoint per run; an op its handler refuses undoes its run and is then
    applied alone. The outcome must be that of one savepoint per op: each good op's note, op record and audit
    event exactly once, each refused op stored rejected with nothing of it written."""

    from domain.core.models import AuditEvent

    number = job["number"]
    first = note(number, "一")
    reused = note(number, "重复")
    reused["data"]["note_id"] = first["data"]["note_id"]
    ops = [first, note(number, "二"), reused,  # refused third: the two before it are applied again
           op("work.recorded", number, {"cause": "线缆", "work_done": "更换"}, minutes=-1),  # not arrived yet
           note(number, "三"), note(number, "   "), note(number, "四"), note(number, "五")]
    expected = ["applied", "applied", "note_exists", "not_on_site", "applied", "invalid", "applied", "applied"]
    client = phone(app)
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        answer = post(client, ops).json["results"]
        statements.clear()
        all_good = post(client, [note(number, f"好 {i}") for i in range(6)]).json["results"]
        six = list(statements)
        statements.clear()
        assert [r["status"] for r in post(client, [note(number, f"再 {i}") for i in range(12)]).json["results"]] == [
            "applied"] * 12
        twelve = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    got = [r["status"] if r["status"] == "applied" else r["code"] for r in answer]
    assert got == expected, answer
    assert [r["status"] for r in all_good] == ["applied"] * 6
    # The all-good batch: one savepoint for its six ops (not one each); their records, notes and audit events
    # written by multi-row INSERTs, as many for twelve ops as for six (not three per op).
    assert six.count("SAVEPOINT") == 1, six
    # Its reads, once each: the signed-in user, the tickets with their visits and signature (one query), the op
    # records already received and the note ids already taken (one query for both).
    assert six.count("SELECT") == 3 and twelve.count("SELECT") == 3, (six, twelve)
    assert 3 <= six.count("INSERT") <= 4 and twelve.count("INSERT") == six.count("INSERT"), (six, twelve)
    with app.app_context():
        texts = db.session.execute(select(ProgressNote.text).join(SyncOp, SyncOp.ticket_id == ProgressNote.ticket_id)
                                   .where(SyncOp.op_id == uuid.UUID(first["op_id"]))).scalars().all()
        assert sorted(t for t in texts if not t.startswith(("好", "再"))) == sorted(["一", "二", "三", "四", "五"])
        events = db.session.execute(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "note.added", AuditEvent.via == "sync")).scalar_one()
        assert events == 5 + 6 + 12
        records = dict(db.session.execute(select(SyncOp.op_id, SyncOp.status)).all())
        for raw, want in zip(ops, expected, strict=True):
            assert records[uuid.UUID(raw["op_id"])] == ("applied" if want == "applied" else "rejected")
    # Sent again: every op answered as before, nothing doubled.
    again = post(client, ops).json["results"]
    assert [r["status"] for r in again] == ["duplicate"] * len(ops)
    assert [r.get("code") for r in again] == [r.get("code") for r in answer]
    with app.app_context():
        assert db.session.execute(select(func.count(ProgressNote.id))).scalar_one() == 5 + 6 + 12


def _hide_from_batch(monkeypatch, op_ids=(), note_ids=()):
    """Make the batch's one read miss some op records and note ids, as when a concurrent request stores them just
    after that read: the run's held INSERT then meets a key already taken."""
    from domain.fieldwork import sync

    load = sync._Batch.load.__func__

    def load_missing(cls, raws):
        batch = load(cls, raws)
        for op_id in op_ids:
            batch.known.pop(uuid.UUID(op_id), None)
        batch.notes_taken.difference_update(uuid.UUID(n) for n in note_ids)
        return batch

    monkeypatch.setattr(sync._Batch, "load", classmethod(load_missing))


def test_an_op_stored_meanwhile_by_another_request_is_a_duplicate_and_the_run_applies_once(app, job, monkeypatch):
    """The run's op records are written by one INSERT ... ON CONFLICT DO NOTHING; one that finds its op_id taken
    (a retry racing the original) makes the run redo its ops one at a time: that op answers duplicate, the others
    apply once."""
    from domain.core.models import AuditEvent

    number = job["number"]
    client = phone(app)
    raced = note(number, "先到")
    assert post(client, [raced]).json["results"][0]["status"] == "applied"
    _hide_from_batch(monkeypatch, op_ids=[raced["op_id"]])
    ops = [note(number, "甲"), raced, note(number, "乙")]
    answer = post(client, ops).json["results"]
    assert [r["status"] for r in answer] == ["applied", "duplicate", "applied"], answer
    with app.app_context():
        texts = db.session.execute(select(ProgressNote.text)).scalars().all()
        assert sorted(texts) == sorted(["先到", "甲", "乙"])
        assert db.session.execute(select(func.count(SyncOp.id))).scalar_one() == 3
        assert db.session.execute(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "note.added")).scalar_one() == 3


def test_a_note_id_taken_meanwhile_refuses_that_op_alone(app, job, monkeypatch):
    """A held note whose id was taken meanwhile fails the run's INSERT; redone one at a time, that op is refused
    (conflict), stored, and the ops around it apply once."""
    number = job["number"]
    client = phone(app)
    first = note(number, "原来的")
    assert post(client, [first]).json["results"][0]["status"] == "applied"
    _hide_from_batch(monkeypatch, note_ids=[first["data"]["note_id"]])
    clash = note(number, "抢先")
    clash["data"]["note_id"] = first["data"]["note_id"]
    ops = [note(number, "甲"), clash, note(number, "乙")]
    answer = post(client, ops).json["results"]
    assert [r["status"] if r["status"] == "applied" else r["code"] for r in answer] == [
        "applied", "conflict", "applied"], answer
    with app.app_context():
        texts = db.session.execute(select(ProgressNote.text)).scalars().all()
        assert sorted(texts) == sorted(["原来的", "甲", "乙"])
        status = db.session.execute(select(SyncOp.status).where(SyncOp.op_id == uuid.UUID(clash["op_id"]))).scalar_one()
        assert status == "rejected"
    assert [r["status"] for r in post(client, ops).json["results"]] == ["duplicate"] * 3


@pytest.mark.parametrize(("call_in_run", "email"), [(False, ""), (True, ""), (False, "zhao@example.com")],
                         ids=["visit", "call-then-visit", "visit-with-customer-email"])
def test_a_whole_visit_in_one_batch_writes_each_row_once_and_the_order_freezes_all_of_it(app, job, call_in_run,
                                                                                         email):
    """What the visit's ops read (its tests, precautions, clocks, the policy) is read with the batch's tickets,
    before any op writes, so the run's writes go out together at its end: one UPDATE of the visit and of the
    request for the whole visit, not one per read. The order frozen at the signature shows everything the batch
    did before it; a call made earlier in the same run (a row the order's lists read) is written before they are
    read, which costs that run one more round of writes. The customer's e-mail given at signing queues their copy
    without a round of its own."""

    from domain.requests import access

    from .phones import visit_ops

    number = job["number"]
    ops = visit_ops(number)
    if call_in_run:
        ops.insert(0, op("contact.made", number, {"method": "phone", "reached": True, "note": "到场前再次确认"},
                         minutes=-31))
    if email:
        next(o for o in ops if o["kind"] == "order.signed")["data"]["customer_email"] = email
    client = phone(app)
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()[:3]).upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        answer = post(client, ops).json["results"]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [r["status"] for r in answer] == ["applied"] * len(ops), answer
    rounds = 2 if call_in_run else 1
    assert statements.count("UPDATE VISITS SET") == rounds, statements
    assert statements.count("UPDATE TICKETS SET") == rounds, statements
    # The signing code's choice comes with the batch's policy, the customer with its request: no read of their own.
    own_reads = ("SELECT POLICY_SETTINGS.KEY AS", "SELECT CUSTOMERS.ID AS")
    assert not any(s.replace('"', "") in own_reads for s in statements), statements
    with app.app_context():
        content = json.loads(access.get_ticket(number).service_order.content_json)
    assert [t["item"] for t in content["tests"]] == ["各通道输入有信号", "耳返与主输出正常", "无底噪与爆音",
                                                     "USB 声卡被电脑识别"]
    assert content["precautions"] == ["开关机前先将推子归零"]
    assert [n["text"] for n in content["notes"]] == ["已更换输出线缆"]
    assert content["cause"] == "输出模块线缆松动"
    assert (content["contacts"][-1]["note"] == "到场前再次确认") is call_in_run
    with app.app_context():
        copies = db.session.execute(select(OutboxMail.recipients).where(OutboxMail.kind == "customer_copy"))
        assert copies.scalars().all() == ([[email]] if email else [])


@pytest.mark.parametrize(("email", "kept"), [
    ("12345678901234567890", None), ("x" * 250 + "@example.com", None), ("zhao@@example.com", None),
    ("赵远 <zhao@example.com>", None), ("zhao²@example.com", "zhao²@example.com"),
    ("  zhao@example.com \n", "zhao@example.com"),
], ids=["digits", "too-long", "two-at", "display-name", "superscript", "spaces"])
def test_a_customer_email_the_server_keeps_out_never_costs_the_signature(app, job, email, kept):
    """The phone checks the address with the server's rule; sent anyway (another client, an old phone), a
    malformed one is kept out and recorded, and the signature stands."""
    from domain.core.models import AuditEvent
    from domain.requests import access

    from .phones import visit_ops

    number = job["number"]
    ops = visit_ops(number)
    next(o for o in ops if o["kind"] == "order.signed")["data"]["customer_email"] = email
    answer = post(phone(app), ops)
    assert answer.status_code == 200 and [r["status"] for r in answer.json["results"]] == ["applied"] * len(ops)
    with app.app_context():
        ticket = access.get_ticket(number)
        assert ticket.signature is not None and ticket.customer_email == kept
        refused = db.session.execute(select(AuditEvent).where(AuditEvent.action == "customer_email.refused"))
        assert len(refused.scalars().all()) == (0 if kept else 1)
        copies = db.session.execute(select(OutboxMail.recipients).where(OutboxMail.kind == "customer_copy"))
        assert copies.scalars().all() == ([[kept]] if kept else [])


def test_what_each_op_kind_reads_names_a_relationship_of_its_request_or_the_policy():
    """OpKind.reads is loaded with the batch's tickets: a name that is not a relationship would fail every batch
    carrying that kind."""
    from sqlalchemy import inspect

    from domain.fieldwork.models import Visit
    from domain.fieldwork.ops import REGISTRY
    from domain.requests.models import Ticket

    relationships = {"": set(inspect(Ticket).relationships.keys()), "visits": set(inspect(Visit).relationships.keys())}
    declared = {name for kind in REGISTRY.values() for name in kind.reads}
    assert {"tests", "precautions", "clocks", "policy"} <= declared
    for name in declared - {"policy"}:
        first, _, then = name.partition(".")
        assert first in relationships[""], name
        assert not then or (first == "visits" and then in relationships["visits"]), name


def test_a_failure_caught_and_not_raised_never_answers_a_batch_as_stored(app, job, monkeypatch):
    """Were a failed statement's error ever swallowed (here: a read of a table that does not exist, after the
    batch's writes, caught and ignored), PostgreSQL has aborted the transaction and its COMMIT would roll it back
    without a word: the batch must not be answered "applied". The request fails instead (the phone keeps its
    outbox and sends it again). SQLite goes on after a failed statement: there the batch is stored and answered."""
    from sqlalchemy.exc import DBAPIError

    from blueprints.field import api

    number = job["number"]
    client = phone(app)
    apply_batch = api.apply_batch

    def careless(*args, **kwargs):
        answer = apply_batch(*args, **kwargs)
        try:
            db.session.connection().exec_driver_sql("SELECT * FROM no_such_table")
        except DBAPIError:
            pass  # the mistake this guards against
        return answer

    monkeypatch.setattr(api, "apply_batch", careless)
    ops = [note(number, "一"), note(number, "二")]
    answer = post(client, ops)
    with app.app_context():
        stored = db.session.execute(select(func.count(ProgressNote.id))).scalar_one()
        postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        assert answer.status_code == 500 and stored == 0, (answer.status_code, stored)
    else:
        assert [r["status"] for r in answer.json["results"]] == ["applied", "applied"] and stored == 2
    monkeypatch.setattr(api, "apply_batch", apply_batch)
    again = post(client, ops)  # sent again as the phone does: stored once, whatever happened the first time
    assert [r["status"] for r in again.json["results"]] == (["applied"] * 2 if postgres else ["duplicate"] * 2)
    with app.app_context():
        assert db.session.execute(select(func.count(ProgressNote.id))).scalar_one() == 2


def test_the_lists_a_batch_reads_are_read_once_and_each_request_gets_its_own(app, job):
    """The lists the batch's op kinds read (tests, precautions, clocks) come by one query each for all the batch's
    requests, and each request gets its own rows: two visits tested in one batch, then signed in the next, freeze
    their own tests and precautions, and each gets its own submission deadline."""
    from domain.core.models import User
    from domain.requests import access

    from .orderfactory import make_prepared_visit
    from .phones import visit_ops

    with app.app_context():
        known = {user.username: user.id for user in db.session.execute(select(User)).scalars()}
        second = make_prepared_visit(lambda role, name: (known[name], name), tech="t1")["number"]
    first = job["number"]
    ops = visit_ops(first)
    split = next(i for i, raw in enumerate(ops) if raw["kind"] == "customer.confirmed")
    tested, signed = ops[:split], ops[split:]
    for index, raw in enumerate(visit_ops(second)):
        if raw["kind"] == "test.recorded":
            raw["data"]["note"] = "第二单"
        if raw["kind"] == "precautions.told":
            raw["data"]["items"] = ["第二单：关机前先静音"]
        (tested if index < split else signed).append(raw)
    client = phone(app)
    answer = post(client, tested).json["results"]
    assert [r["status"] for r in answer] == ["applied"] * len(tested), [r for r in answer if r["status"] != "applied"]
    with app.app_context():
        engine = db.engine
    lists_read: list[str] = []

    def count(conn, cursor, statement, *args):
        words = statement.replace('"', "").upper().split()
        if words[0] == "SELECT" and "FROM" in words:
            table = words[words.index("FROM") + 1]
            if table in ("ACCEPTANCE_TESTS", "PRECAUTIONS", "TICKET_CLOCKS"):
                lists_read.append(table)

    event.listen(engine, "before_cursor_execute", count)
    try:
        answer = post(client, signed).json["results"]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [r["status"] for r in answer] == ["applied"] * len(signed), [r for r in answer if r["status"] != "applied"]
    assert sorted(lists_read) == ["ACCEPTANCE_TESTS", "PRECAUTIONS", "TICKET_CLOCKS"], lists_read
    with app.app_context():
        for number, second_one, told in ((first, False, "开关机前先将推子归零"),
                                         (second, True, "第二单：关机前先静音")):
            ticket = access.get_ticket(number)
            content = json.loads(ticket.service_order.content_json)
            assert [t["item"] for t in content["tests"]] == [
                "各通道输入有信号", "耳返与主输出正常", "无底噪与爆音", "USB 声卡被电脑识别"], number
            assert all((t["note"] == "第二单") is second_one for t in content["tests"]), content["tests"]
            assert content["precautions"] == [told], number
            submission = [c for c in ticket.clocks if c.name.value == "submission"]
            assert len(submission) == 1 and submission[0].ticket_id == ticket.id, number
