"""docs/sync-contract.md is the contract's reference: its op-kind section is what the declarations write now, and
every refusal code it names exists in the code."""
from __future__ import annotations

import re

from flask_babel import force_locale

from domain.fieldwork import contract_doc, flow, ops

from .helpers import ROOT

DOC = ROOT / "docs" / "sync-contract.md"


def test_op_kind_section_is_generated_from_the_declarations(app):
    document = DOC.read_text(encoding="utf-8")
    with app.test_request_context(), force_locale("en"):
        assert contract_doc.with_generated_section(document) == document, \
            "docs/sync-contract.md is stale: run .venv/bin/python scripts/sync_contract.py"
        section = contract_doc.op_kinds_markdown()
    assert re.findall(r"^### `([a-z._]+)`$", section, re.M) == list(ops.REGISTRY)
    for kind, step in flow.STEPS.items():
        for refusal in step.refusals.values():
            assert f"`{refusal.code}`" in section.split(f"### `{kind}`")[1].split("### ")[0], (kind, refusal.code)


def test_every_code_the_contract_names_is_raised_somewhere():
    document = DOC.read_text(encoding="utf-8")
    prose = document[:document.index(contract_doc.BEGIN)]
    source = "\n".join(path.read_text(encoding="utf-8") for folder in ("domain", "blueprints")
                       for path in (ROOT / folder).rglob("*.py"))
    named = set(re.findall(r"`([a-z]+_[a-z_]+)`", prose)) - {"device_id", "op_id", "server_time", "sync_ops"}
    assert named, "the contract names no codes"
    assert {code for code in named if f'"{code}"' not in source} == set()
