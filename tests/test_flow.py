"""The visit flow declared once (domain/fieldwork/flow.py) is what the server enforces: for op sequences in order,
out of order, repeated and after a reschedule, the declaration's verdict on the server's facts is the server's
answer, and the facts the declaration says an op leaves are the facts the server computes afterwards."""
from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from domain.core import context
from domain.core.db import db
from domain.core.enums import Role
from domain.core.models import User
from domain.documents import review
from domain.fieldwork import flow, signing
from domain.fieldwork.models import SyncOp
from domain.requests import access

from .helpers import ON_SITE_PATH, flow_payload
from .orderfactory import SHANGHAI, make_signed_order, signature_data_url
from .phones import at, phone

SIGNATURE = signature_data_url()

REMOTE_PATH = ["contact.made", "remote.guided", "remote.resolved", "order.submitted"]
# A swap's verdict depends on the register (a spare in stock), not on the flow alone: tests/test_device_swaps.py.
KINDS = [k for k in flow.STEPS if k not in ("photo.added", "device.swapped")]


def _run(app, number: str, kinds: list[str], rng: random.Random, vary: bool = False) -> list[tuple[str, str]]:
    """Send each op on its own; check the declaration's verdict and facts against the server's. Returns the
    verdicts, to show what the sequence exercised."""
    client, verdicts = phone(app), []
    for kind in kinds:
        with app.app_context():
            before = flow.facts_of(access.get_ticket(number))
            assert dict(flow._LazyFacts(access.get_ticket(number))) == before  # what the server's check reads
            data = flow_payload(kind, number, rng, vary)
        predicted = flow.refusal_for(kind, before, data)
        answer = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [
            {"op_id": str(uuid.uuid4()), "kind": kind, "ticket": number, "at": at(0), "data": data}]}).json
        result = answer["results"][0]
        if predicted is None:
            assert result["status"] == "applied", (kind, before, result)
        else:
            assert (result["status"], result["code"]) == ("rejected", predicted.code), (kind, before, result)
        with app.app_context():
            after = flow.facts_of(access.get_ticket(number))
        expected = before if predicted else flow.apply(kind, before, data)
        assert after == expected, (kind, data, before)
        verdicts.append((kind, result["status"] if predicted is None else predicted.code))
    return verdicts


def test_the_on_site_path_in_order_is_accepted_and_each_step_sets_its_fact(app, assigned):
    verdicts = _run(app, assigned, ON_SITE_PATH, random.Random(1))
    assert [v for _, v in verdicts] == ["applied"] * len(ON_SITE_PATH)
    with app.app_context():
        facts = flow.facts_of(access.get_ticket(assigned))
    assert facts["signed"] and facts["departed"] and facts["submitted"] and not facts["remote_resolved"]


def test_the_remote_path_ends_in_a_submission_and_nothing_on_site_is_offered_after_it(app, assigned):
    verdicts = _run(app, assigned, REMOTE_PATH + ["visit.scheduled", "order.submitted", "remote.guided"],
                    random.Random(4))
    assert [v for _, v in verdicts] == ["applied"] * 4 + ["resolved_remotely", "already_done", "resolved_remotely"]
    with app.app_context():
        ticket = access.get_ticket(assigned)
        assert ticket.status.value == "submitted" and ticket.solution_summary == "更换线缆"


def test_signing_before_the_acceptance_test_and_leaving_before_signing_are_refused(app, assigned):
    kinds = ["contact.made", "visit.scheduled", "visit.arrived", "work.recorded", "order.signed", "visit.departed",
             "customer.confirmed"]
    verdicts = dict(_run(app, assigned, kinds, random.Random(2)))
    assert verdicts["order.signed"] == "no_tests"
    assert verdicts["visit.departed"] == "not_signed"
    assert verdicts["customer.confirmed"] == "no_tests"


def test_the_customer_signs_only_after_the_cause_and_the_work_done_are_written(app, assigned):
    """The order the customer signs prints the cause and the work done: signing without them is refused."""
    kinds = ["contact.made", "visit.scheduled", "visit.arrived", *["test.recorded"] * 4, "customer.confirmed",
             "order.signed", "visit.departed", "work.recorded", "order.signed", "visit.departed"]
    verdicts = [v for _, v in _run(app, assigned, kinds, random.Random(9))]
    assert verdicts == ["applied"] * 8 + ["no_work", "not_signed"] + ["applied"] * 3
    with app.app_context():
        ticket = access.get_ticket(assigned)
        assert ticket.cause and ticket.work_done and ticket.signature is not None


def test_the_domain_refuses_a_signature_without_the_cause_and_work_done(app, make_user):
    """The same rule where the domain is called directly (not through the sync applier)."""
    with app.app_context():
        made = make_signed_order(make_user, photos=0, sign=False)
        ticket = access.get_ticket(made["number"])
        ticket.work_done = None
        tech = context.Context(actor=db.session.get(User, made["ids"]["tech"]), tz=SHANGHAI)
        with pytest.raises(flow.FlowRefused) as refused:
            signing.sign_order(ticket, tech, signer_name="黄磊", rating=5, comment="", signature_png=SIGNATURE,
                               strokes=[[[1, 2, 0], [3, 4, 9]]], device_id="phone-1", signed_at_client=None)
        assert refused.value.code == "no_work" and ticket.signature is None
        ticket.work_done = "更换 SDI 线缆"
        signing.sign_order(ticket, tech, signer_name="黄磊", rating=5, comment="", signature_png=SIGNATURE,
                           strokes=[[[1, 2, 0], [3, 4, 9]]], device_id="phone-1", signed_at_client=None)
        assert ticket.signature is not None


def test_tests_passed_is_every_items_last_result_on_both_sides(app, assigned):
    """One rule, declared once: another item's pass does not make up for a failed item; the failed item
    recorded again as passed does. The declaration's facts after each op are the server's."""
    client = phone(app)
    for kind, data in [("contact.made", {"method": "phone"}),
                       ("visit.scheduled", {"scheduled_at": at(120), "address": "上海市静安区万航渡路1188号"}),
                       ("visit.arrived", {})]:
        assert _send(client, assigned, kind, data, datetime.now(UTC))["status"] == "applied"
    seen = []
    for item, passed in [("主输出正常", False), ("各通道输入有信号", True), (" 主输出正常 ", True),
                         ("各通道输入有信号", False), ("各通道输入有信号", True)]:
        with app.app_context():
            before = flow.facts_of(access.get_ticket(assigned))
        data = {"item": item, "passed": passed, "note": ""}
        assert _send(client, assigned, "test.recorded", data, datetime.now(UTC))["status"] == "applied"
        with app.app_context():
            after = flow.facts_of(access.get_ticket(assigned))
        assert after == flow.apply("test.recorded", before, data)
        seen.append(after["tests_passed"])
    assert seen == [False, False, True, False, True]
    assert after["tallies"] == {"tests_passed": {"主输出正常": True, "各通道输入有信号": True}}


def test_preparation_is_confirmed_once_and_again_after_a_reschedule(app, assigned):
    kinds = ["contact.made", "visit.scheduled", "prep.confirmed", "prep.confirmed", "visit.scheduled",
             "prep.confirmed", "visit.arrived", "visit.scheduled", "prep.confirmed"]
    verdicts = [v for _, v in _run(app, assigned, kinds, random.Random(3))]
    assert verdicts == ["applied", "applied", "applied", "already_done", "applied", "applied", "applied",
                        "already_on_site", "already_on_site"]


@pytest.mark.parametrize("seed", range(4))
def test_random_sequences_get_the_declared_verdict(app, assigned, seed):
    """Out of order, repeated, interleaved: 40 ops drawn at random, biased towards the next steps of a visit."""
    rng = random.Random(seed)
    kinds = []
    for index in range(40):
        kinds.append(rng.choice(KINDS) if rng.random() < 0.5 else ON_SITE_PATH[min(index // 3, len(ON_SITE_PATH) - 1)])
    verdicts = _run(app, assigned, kinds, rng, vary=True)
    assert {v for _, v in verdicts} - {"applied"}, "a sequence that exercised no refusal"


def test_the_jobs_feed_carries_the_declaration_and_each_jobs_facts(app, assigned):
    client = phone(app)
    _run(app, assigned, ["contact.made"] * 3, random.Random(5))
    feed = client.get("/api/v1/me/jobs", headers={"Accept-Language": "en"}).json
    assert feed["flow"]["version"] == flow.VERSION
    signed = feed["flow"]["steps"]["order.signed"]
    assert signed["requires"][:1] == ["arrived"] and signed["refusals"]["customer_confirmed"]["code"] == \
        "not_confirmed"
    assert feed["flow"]["steps"]["contact.made"]["sets_if"] == {"contact_made": {"reached": [True, None]}}
    job = next(j for j in feed["jobs"] if j["number"] == assigned)
    assert set(job["facts"]) == set(flow.FACTS) | {"tallies", "required"}
    assert signed["requires"] == ["arrived", "work_recorded", "tests_recorded", "tests_answered", "customer_confirmed"]
    assert signed["refusals"]["work_recorded"]["code"] == "no_work"
    assert signed["refusals"]["tests_answered"]["code"] == "tests_unanswered"
    assert feed["flow"]["steps"]["test.recorded"]["tallies"] == {"tests_passed": {
        "key": "item", "value": "passed", "length": 200, "or_value": "not_applicable", "complete": "tests_answered"}}
    # The mixer's checklist, each item under its Chinese and English names.
    assert job["facts"]["required"]["tests_passed"][0] == ["各通道输入有信号", "Signal on every input channel"]
    assert job["facts"]["tests_answered"] is False
    assert job["facts"]["visit_scheduled"] is False


# --- a phone's clock a few minutes off ----------------------------------------------------------------------


def _send(client, number, kind, data, when: datetime, device_at: datetime | None = None, lang="en") -> dict:
    body = {"op_id": str(uuid.uuid4()), "kind": kind, "ticket": number, "at": when.astimezone(SHANGHAI).isoformat(),
            "data": data}
    if device_at is not None:
        body["device_at"] = device_at.isoformat()
    return client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [body]},
                       headers={"Accept-Language": lang}).json["results"][0]


def _record(app, op_id):
    with app.app_context():
        return db.session.execute(select(SyncOp).where(SyncOp.op_id == uuid.UUID(op_id))).scalar_one()


def test_a_slow_phone_clock_is_clamped_onto_the_requests_entry_and_both_times_are_kept(app, assigned):
    """A first contact a minute after assignment, from a phone whose corrected time still lands before the
    request's entry (a residual error of a few minutes): applied at the entry, the phone's times kept."""
    with app.app_context():
        created = access.get_ticket(assigned).created_at
    client = phone(app)
    sent_at, device_at = created - timedelta(minutes=5), created - timedelta(minutes=9)
    result = _send(client, assigned, "contact.made", {"method": "phone"}, sent_at, device_at)
    assert result["status"] == "applied", result
    record = _record(app, result["op_id"])
    assert record.client_at == sent_at and record.device_at == device_at and record.applied_at == created
    with app.app_context():
        assert access.get_ticket(assigned).first_contact_at == created


def test_a_fast_phone_clock_is_clamped_to_now(app, assigned):
    client = phone(app)
    ahead = datetime.now(UTC) + timedelta(minutes=5)
    result = _send(client, assigned, "contact.made", {"method": "phone"}, ahead)
    assert result["status"] == "applied", result
    record = _record(app, result["op_id"])
    assert record.applied_at is not None and record.applied_at < ahead - timedelta(minutes=4)
    assert record.client_at == ahead


@pytest.mark.parametrize("skew_minutes", [-5, 5])
@pytest.mark.parametrize("synced_after", [0, 3])
def test_a_skewed_phone_clock_stores_the_real_time_of_the_act(app, assigned, skew_minutes, synced_after):
    """The truth about skew, server side: the phone sends `at` = its clock + its estimated offset (the corrected
    time) and `device_at` = its own clock. The stored time is the corrected one, once (never the phone's clock,
    never corrected again), whether the op is sent at once or minutes later from offline."""
    client = phone(app)
    real = datetime.now(UTC)
    for kind, data in [("contact.made", {"method": "phone"}),
                       ("visit.scheduled", {"scheduled_at": at(60), "address": "上海市静安区万航渡路1188号"})]:
        assert _send(client, assigned, kind, data, real - timedelta(minutes=synced_after + 2))["status"] == "applied"
    tapped = real - timedelta(minutes=synced_after)  # the real time of the tap (sent now, or minutes later)
    device = tapped + timedelta(minutes=skew_minutes)  # what the phone's clock said then
    corrected = device - timedelta(minutes=skew_minutes)  # + the offset the phone estimated (server - phone)
    result = _send(client, assigned, "visit.arrived", {}, corrected, device_at=device)
    assert result["status"] == "applied", result
    record = _record(app, result["op_id"])
    with app.app_context():
        arrived = access.get_ticket(assigned).visits[-1].arrived_at
    assert abs(arrived - tapped) < timedelta(seconds=1), (arrived, tapped)
    assert record.client_at == corrected and record.device_at == device and record.applied_at is None


def test_a_fast_phone_without_its_correction_is_clamped_to_the_time_it_syncs(app, assigned):
    """A phone that sent its own clock (no offset estimated yet), 5 minutes fast, syncing at once: its time is
    in the future, so the act is stored at the server's now (the real time, within the request's handling) and
    the phone's time kept. (Sent later than the skew, such a time cannot be told from a real one: the phone's
    estimate from every exchange is what prevents it.)"""
    client = phone(app)
    assert _send(client, assigned, "contact.made", {"method": "phone"}, datetime.now(UTC))["status"] == "applied"
    assert _send(client, assigned, "visit.scheduled", {"scheduled_at": at(60), "address": "上海市静安区万航渡路1188号"},
                 datetime.now(UTC))["status"] == "applied"
    before = datetime.now(UTC)
    fast = before + timedelta(minutes=5)
    result = _send(client, assigned, "visit.arrived", {}, fast, device_at=fast)
    after = datetime.now(UTC)
    assert result["status"] == "applied", result
    with app.app_context():
        arrived = access.get_ticket(assigned).visits[-1].arrived_at
    assert before <= arrived <= after and _record(app, result["op_id"]).applied_at == arrived


def test_a_time_far_before_its_bound_names_the_right_bound(app, assigned):
    client = phone(app)
    now = datetime.now(UTC)
    assert _send(client, assigned, "contact.made", {"method": "phone"}, now)["status"] == "applied"
    scheduled = _send(client, assigned, "visit.scheduled", {"scheduled_at": (now + timedelta(hours=3)).isoformat(),
                                                            "address": "上海市静安区万航渡路1188号"}, now)
    assert scheduled["status"] == "applied", scheduled
    with app.app_context():
        items = [i.id for i in access.get_ticket(assigned).visits[-1].prep_items]
    early = _send(client, assigned, "prep.confirmed", {"items": items}, now - timedelta(minutes=25), lang="zh")
    assert early["status"] == "rejected" and "约定上门" in early["message"] and "录入" not in early["message"]
    late = _send(client, assigned, "contact.made", {"method": "phone"}, datetime.now(UTC) + timedelta(minutes=30))
    assert (late["status"], late["code"]) == ("rejected", "invalid") and "future" in late["message"]


def test_a_signed_job_stays_on_the_phone_until_submitted_and_a_returned_one_comes_back(app, assigned, make_user):
    client = phone(app)
    _run(app, assigned, ON_SITE_PATH[:-1], random.Random(6))
    feed = client.get("/api/v1/me/jobs", headers={"Accept-Language": "en"}).json
    job = next(j for j in feed["jobs"] if j["number"] == assigned)
    assert job["facts"]["signed"] and job["facts"]["departed"] and not job["facts"]["submitted"]
    assert job["submission"]["due_at"] and job["submission"]["state"] == "pending"
    assert job["technician"] and job["fault_categories"] and feed["due_soon_minutes"] > 0
    assert job["templates"]["acceptance_tests"] and job["templates"]["precautions"]
    _run(app, assigned, ["order.submitted"], random.Random(7))
    assert [j for j in client.get("/api/v1/me/jobs").json["jobs"] if j["number"] == assigned] == []
    with app.app_context():
        ticket = access.get_ticket(assigned)
        review.review(ticket, context.Context(actor=db.session.get(User, make_user(Role.SUPERVISOR, "boss2")[0]),
                                              tz=SHANGHAI), approve=False, comment="请补充更换的配件")
        db.session.commit()
    job = next(j for j in client.get("/api/v1/me/jobs").json["jobs"] if j["number"] == assigned)
    assert job["status"] == "returned" and job["submission"]["returned_comment"] == "请补充更换的配件"
    assert job["facts"]["returned"] and flow.refusal_for("order.submitted", job["facts"]) is None
    assert _run(app, assigned, ["order.submitted"], random.Random(8)) == [("order.submitted", "applied")]
