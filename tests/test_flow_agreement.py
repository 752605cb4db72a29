"""The phone and the server agree on the visit flow: many op sequences (in order, out of order, repeated, after a
reschedule, at random) go through the server's real sync applier and through the phone's own evaluator
(static/field/flow.js as the app serves it, run by Node on the declaration the jobs feed ships), and
every op gets the same verdict (applied, or refused with the same code), and both end on the same facts."""
from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from domain.fieldwork import flow, ops
from domain.fieldwork.feed import JobsFeed
from domain.requests import assignment, intake

from .helpers import ON_SITE_PATH, flow_payload
from .phones import at, phone

# Every kind the server handles as a plain op (photos go to their own endpoint, with a file), but a swap: only the
# register knows a spare's stock, the phone cannot (tests/test_device_swaps.py).
KINDS = [k for k in flow.STEPS if k in ops.OP_KINDS and k not in ("photo.added", "device.swapped")]
REMOTE_PATH = [k for k in ("contact.made", "remote.guided", "remote.resolved", "order.submitted") if k in KINDS]

# flow.js itself, as the app serves it, run by Node (Debian's `nodejs`): the module is plain ECMAScript with no
# browser API, so no browser is needed to run it.
PHONE_RUN = """import * as flow from "./flow.mjs";
import { readFileSync } from "node:fs";
const { declaration, cases } = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = cases.map(({ facts, ops }) => {
  const verdicts = flow.run(declaration, facts, ops);
  let current = { ...facts };
  ops.forEach((op, i) => {
    if (verdicts[i].status === "applied") current = flow.apply(declaration, current, op.kind, op.data);
  });
  return { verdicts, facts: current };
});
process.stdout.write(JSON.stringify(out));
"""


def phone_verdicts(app, declaration: dict, cases: list[dict], tmp_path: Path) -> list[dict]:
    """The phone's evaluator on the declaration the jobs feed ships."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is missing: apt-get install nodejs (make test installs it)")
    with app.test_client().get("/static/field/flow.js") as served:
        assert served.status_code == 200 and b"export function run" in served.data
        (tmp_path / "flow.mjs").write_bytes(served.data)
    (tmp_path / "run.mjs").write_text(PHONE_RUN, encoding="utf-8")
    (tmp_path / "input.json").write_text(json.dumps({"declaration": declaration, "cases": cases}), encoding="utf-8")
    result = subprocess.run([node, str(tmp_path / "run.mjs"), str(tmp_path / "input.json")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def server_run(app, client, number: str, kinds: list[str], rng: random.Random, vary: bool) -> dict:
    """Each op sent on its own to POST /api/v1/sync; the facts the phone would start from (the jobs feed's)."""
    job = next(j for j in client.get("/api/v1/me/jobs").json["jobs"] if j["number"] == number)
    start, faults = job["facts"], job["fault_categories"]
    ops, verdicts = [], []
    for kind in kinds:
        kind, data = kind if isinstance(kind, tuple) else (kind, None)  # a payload the sequence gives, or made
        if data is None:
            with app.app_context():
                data = flow_payload(kind, number, rng, vary) if kind not in ("remote.guided", "order.submitted") else (
                    {"method": "phone", "steps": "重启编码器"} if kind == "remote.guided" else
                    {"fault_category_id": faults[0]["id"] if faults else None, "root_cause": "线缆松动",
                     "solution_summary": "重新插紧线缆", "parts_used": ""})
        result = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [
            {"op_id": str(uuid.uuid4()), "kind": kind, "ticket": number, "at": at(0), "data": data}]}).json
        result = result["results"][0]
        ops.append({"kind": kind, "data": data})
        verdicts.append({"status": result["status"], **({"code": result["code"]} if result["status"] ==
                                                           "rejected" else {})})
    end = next((j for j in client.get("/api/v1/me/jobs").json["jobs"] if j["number"] == number), None)
    return {"start": start, "ops": ops, "verdicts": verdicts, "end": end["facts"] if end else None}


def sequences(seed: int) -> list[tuple[list[str], bool]]:
    rng = random.Random(seed)
    out = [
        (ON_SITE_PATH, False),                                                    # in order
        (REMOTE_PATH, False),                                                     # solved remotely
        (list(reversed(ON_SITE_PATH)) + ON_SITE_PATH, False),                     # out of order, then in order
        ([k for k in ON_SITE_PATH for _ in range(2)], False),                     # every op twice
        (["contact.made", "visit.scheduled", "prep.confirmed", "prep.confirmed", "visit.scheduled",
          "visit.arrived", "prep.confirmed", "visit.arrived", "visit.scheduled", "prep.confirmed"],
         False),                                                                  # rescheduled
        (["contact.made", "visit.scheduled", "prep.confirmed", "visit.arrived", "order.signed", "work.recorded",
          "order.signed", "visit.departed", "test.recorded", "customer.confirmed", "order.signed", "visit.departed",
          "note.added"], False),                                                  # signing before the work, the test
    ]
    failing, passing = (("test.recorded", {"item": item, "passed": passed, "note": ""})
                        for item, passed in (("主输出正常", False), ("各通道输入有信号", True)))
    out.append((["contact.made", "visit.scheduled", "visit.arrived", failing, passing, "customer.confirmed",
                 "work.recorded", "order.signed"], False))                        # a failed item, another passed
    # The checklist: an item not applicable without its reason, then with it; a failed item; the customer asked
    # to confirm before every item has a result, then without acknowledging the failure, then acknowledging it;
    # an item recorded under its English name.
    def result(item, passed, **more):
        return ("test.recorded", {"item": item, "passed": passed, "note": "", **more})

    out.append((["contact.made", "visit.scheduled", "visit.arrived", "work.recorded",
                 result("无底噪与爆音", False, not_applicable=True),
                 result("无底噪与爆音", False, not_applicable=True, note="客户不使用"),
                 result("各通道输入有信号", False),
                 ("customer.confirmed", {"note": ""}), result("Monitor and main outputs work", True),
                 result("USB 声卡被电脑识别", True), ("customer.confirmed", {"note": ""}),
                 ("customer.confirmed", {"note": "", "failures_acknowledged": True}), "order.signed"], False))
    for _ in range(3):  # at random, biased towards the next steps of a visit, with failed tests and missed calls
        kinds = [rng.choice(KINDS) if rng.random() < 0.5 else ON_SITE_PATH[min(i // 3, len(ON_SITE_PATH) - 1)]
                 for i in range(30)]
        out.append((kinds, True))
    return out


@pytest.mark.parametrize("seed", range(2))
def test_phone_and_server_give_every_op_the_same_verdict(app, assigned, seed, tmp_path):  # noqa: F811
    runs, declaration = [], None
    for index, (kinds, vary) in enumerate(sequences(seed)):
        number = assigned if index == 0 else new_request(app)
        client = phone(app)
        declaration = declaration or client.get("/api/v1/me/jobs").json["flow"]
        runs.append(server_run(app, client, number, kinds, random.Random(seed * 100 + index), vary))
    phone_side = phone_verdicts(app, declaration, [{"facts": r["start"], "ops": r["ops"]} for r in runs], tmp_path)
    refused = set()
    for run, mine in zip(runs, phone_side, strict=True):
        for op, server, local in zip(run["ops"], run["verdicts"], mine["verdicts"], strict=True):
            assert local == server, (op["kind"], server, local)
            refused.add(server.get("code"))
        if run["end"] is not None:
            # Every fact, tests_passed and its per-item tally included.
            assert mine["facts"] == run["end"], (run["ops"], mine["facts"], run["end"])
    # The tally met both outcomes: a failed item outweighing a later pass of another, and every item passed.
    tallies = [r["end"]["tallies"]["tests_passed"] for r in runs if r["end"]]
    assert any(len(t) == 2 and not all(t.values()) for t in tallies) and any(t and all(t.values()) for t in tallies)
    # The sequences exercised the refusals that matter on site.
    assert {"no_tests", "no_work", "not_signed", "already_done", "already_on_site", "tests_unanswered",
            "reason_required", "failures_unacknowledged"} <= refused


def new_request(app) -> str:
    """Another request assigned to the same technician t1."""
    from datetime import UTC, datetime, timedelta

    from domain.core import context
    from domain.core.db import db
    from domain.core.models import User

    from .orderfactory import SHANGHAI

    with app.app_context():
        tech = db.session.execute(db.select(User).where(User.username == "t1")).scalar_one()
        boss = db.session.execute(db.select(User).where(User.username == "boss")).scalar_one()
        desk = db.session.execute(db.select(User).where(User.username == "desk")).scalar_one()
        now = datetime.now(UTC) - timedelta(minutes=30)
        ticket = intake.create_request({
            "customer_name": "远山音乐现场", "contact_phone": "13600136004", "address": "上海市静安区万航渡路1188号",
            "device_model": "Behringer X32 Compact", "problem": "主输出无声", "urgency": "urgent"},
            context.Context(actor=desk, tz=SHANGHAI, now=now))
        db.session.flush()
        assignment.assign(ticket, tech, context.Context(actor=boss, tz=SHANGHAI, now=now))
        db.session.commit()
        return ticket.number


# --- the local effects: what an op does at once to the phone's copy agrees with the feed after the sync ----------

EFFECTS_RUN = """import { applyEffects } from "./effects.mjs";
import { readFileSync } from "node:fs";
const steps = JSON.parse(readFileSync(process.argv[2], "utf8"));
process.stdout.write(JSON.stringify(steps.map(({ job, op, effects, facts, context }) =>
  applyEffects(job, op, effects, facts, context))));
"""


def _effect_paths(effects: list[dict]) -> list[tuple[str, str | None, str | None]]:
    """Where each effect writes: (path, the field an `each` sets, the key of the item an `upsert` writes)."""
    return [(effect.get("upsert") or effect.get("append") or effect.get("each") or effect["set"],
             effect["set"] if "each" in effect else None, effect.get("key")) for effect in effects]


def _read(job: dict | None, path: str):
    for key in path.split("."):
        job = job.get(key) if isinstance(job, dict) else None
    return job


def _comparable(value):
    """Times as instants (the op's offset and the feed's may differ), lists and objects compared throughout."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and "T" in value:
        try:
            return round(datetime.fromisoformat(value).timestamp(), 3)  # the phone keeps milliseconds
        except ValueError:
            return value
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    return value


def _payload_for(app, kind: str, number: str, rng, faults) -> dict:
    if kind == "remote.guided":
        return {"method": "screen_share", "steps": "重启编码器", "outcome": "needs_visit"}
    if kind == "order.submitted":
        return {"fault_category_id": faults[0]["id"] if faults else None, "root_cause": "线缆松动",
                "solution_summary": "重新插紧线缆", "parts_used": "XLR 线 1 条"}
    with app.app_context():
        data = flow_payload(kind, number, rng, False)
    if kind == "visit.scheduled":
        data["agreed_with"] = "王经理"
    return data


@pytest.mark.parametrize("path", ["on_site", "remote"])
def test_each_kinds_local_effects_leave_the_job_as_the_feed_shows_it(app, assigned, path, tmp_path):  # noqa: F811
    """Every op kind of a whole day, one at a time: the phone's copy before the op, with the kind's declared effects
    applied by effects.js (as the app serves it) under Node, shows what the jobs feed shows once the server has the
    op, at every path the effects write and in the status."""
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is missing: apt-get install nodejs (make test installs it)"
    client, rng = phone(app), random.Random(7)
    rules = json.loads(re.search(r'<script type="application/json" id="rules">(.*?)</script>',
                                 client.get("/field/").get_data(as_text=True), re.S).group(1))
    kinds = [k for k in (ON_SITE_PATH if path == "on_site" else REMOTE_PATH) if k != "photo.added"]
    steps, feeds = [], []
    before = next(j for j in client.get("/api/v1/me/jobs").json["jobs"] if j["number"] == assigned)
    items = iter(t["zh"] for t in before["templates"]["acceptance_tests"])
    for kind in kinds:
        data = _payload_for(app, kind, assigned, rng, before["fault_categories"])
        if kind == "test.recorded":
            data = {"item": next(items), "passed": True, "note": "正常"}
        # Milliseconds, as the phone writes its times (store.localIso).
        op = {"op_id": str(uuid.uuid4()), "kind": kind, "ticket": assigned,
              "at": datetime.fromisoformat(at(0)).isoformat(timespec="milliseconds"), "data": data}
        result = client.post("/api/v1/sync", json={"device_id": "phone-1", "ops": [op]}).json["results"][0]
        assert result["status"] == "applied", (kind, result)
        answer = client.get("/api/v1/me/jobs").json
        JobsFeed.model_validate(answer)  # the feed is what its declared models (and so the OpenAPI document) say
        after = next((j for j in answer["jobs"] if j["number"] == assigned), None)
        if after is None:  # submitted: the job leaves the phone's list (its effects show until the sync)
            assert kind == "order.submitted", kind
            break
        steps.append({"job": before, "op": op, "effects": rules["ops"][kind]["effects"], "facts": after["facts"],
                      "context": {"policy": rules["policy"]}})
        feeds.append(after)
        before = after
    with app.test_client().get("/static/field/effects.js") as served:
        (tmp_path / "effects.mjs").write_bytes(served.data)
    (tmp_path / "run.mjs").write_text(EFFECTS_RUN, encoding="utf-8")
    (tmp_path / "steps.json").write_text(json.dumps(steps), encoding="utf-8")
    ran = subprocess.run([node, str(tmp_path / "run.mjs"), str(tmp_path / "steps.json")], capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    checked = set()
    for step, local, feed in zip(steps, json.loads(ran.stdout), feeds, strict=True):
        kind = step["op"]["kind"]
        assert local["status"] == feed["status"], (kind, local["status"], feed["status"])
        for where, field, key in _effect_paths(step["effects"]):
            mine, theirs = _read(local, where), _read(feed, where)
            if key is not None:  # an `upsert`: the item it wrote (the list's other items are not its to change)
                written = next(x for x in mine if x[key] == _read(local, where)[-1][key])
                mine, theirs = written, next((x for x in theirs or [] if x[key] == written[key]), None)
            if field is not None:  # an `each`: the field it sets on the items the phone holds (a new visit's
                # checklist is the server's to make: it arrives with the sync)
                theirs = {x["id"]: x[field] for x in theirs or []}
                mine = {x["id"]: x[field] for x in mine or [] if x["id"] in theirs}
                theirs = {key: value for key, value in theirs.items() if key in mine}
            assert _comparable(mine) == _comparable(theirs), (kind, where, mine, theirs)
            checked.add(kind)
    # Every kind of the path declares what it changes (the submission leaves the feed: nothing to compare with).
    assert checked == set(kinds) - {"order.submitted"}, set(kinds) - checked
