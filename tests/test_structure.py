"""What the layout must keep as it changes: rows are written in an order their foreign keys accept; each op kind
is declared once, in Python, and reaches the phone from that declaration."""
from __future__ import annotations

import re

from sqlalchemy.orm import configure_mappers

from domain.core.db import Base
from domain.fieldwork import feed, ops

from .helpers import ROOT

# A flush writes the rows of tables with no relationship between them in the order of their classes' module and
# name ("domain.alerts.models.StoredReport" before "domain.core.models.Blob"): a foreign key no relationship
# declares is safe only when the row it points at sorts first, or is never new in the same flush. These are the
# ones known never to be new together (the request, the visit, the user exist before the row that names them).
NEVER_NEW_TOGETHER = {
    ("AuditEvent", "ticket_id"), ("AcceptanceTest", "visit_id"), ("SyncOp", "ticket_id"), ("Photo", "note_id"),
    ("PushSubscription", "user_id"), ("CaseAnalysis", "fault_category_id"), ("LoginSession", "user_id"),
}


def test_every_foreign_key_is_written_after_the_row_it_names():
    configure_mappers()
    by_table = {mapper.local_table: mapper for mapper in Base.registry.mappers}
    at_risk = set()
    for table, mapper in by_table.items():
        declared = {column.key for rel in mapper.relationships if rel.direction.name == "MANYTOONE"
                    for column in rel.local_columns}
        for key in table.foreign_keys:
            target = by_table.get(key.column.table)
            if target not in (None, mapper) and key.parent.key not in declared and target._sort_key > mapper._sort_key:
                at_risk.add((mapper.class_.__name__, key.parent.key))
    assert at_risk == NEVER_NEW_TOGETHER, "declare a relationship for the new foreign keys (see StoredReport)"


def _item_model(model, path: str):
    """The model of the items of the list at `path` (notes -> Note)."""
    for key in path.split("."):
        annotation = model.model_fields[key].annotation
        model = next(arg for arg in (*getattr(annotation, "__args__", ()), annotation)
                     if isinstance(arg, type) and issubclass(arg, feed.BaseModel))
    return model


def test_each_kinds_local_effects_write_only_where_the_feeds_job_has_a_field():
    for name, kind in ops.REGISTRY.items():
        for effect in kind.effects:
            path = effect.get("upsert") or effect.get("append") or effect.get("each") or effect["set"]
            assert feed.field_at(feed.Job, path), (name, path)
            if "item" in effect:
                assert set(effect["item"]) <= set(_item_model(feed.Job, path).model_fields), (name, effect)
            if "each" in effect:
                assert effect["set"] in _item_model(feed.Job, path).model_fields, (name, effect)
            for condition in (effect.get("if") or {}).get("job", {}):
                assert feed.field_at(feed.Job, condition), (name, condition)
        if kind.screen:
            assert kind.done_fact is None or kind.done_fact in kind.step.sets + tuple(kind.step.sets_if), name


def test_no_op_kind_is_written_into_the_phone_apps_generic_parts():
    """The phone's store, sync, flow and effects know no op kind by name (labels, effects, screens, which kinds go
    as files: all come from the declaration); the app's words name none either; the app itself names a kind only
    where a screen does that act, never as a key of its own table."""
    names = [re.escape(name) for name in ops.REGISTRY]
    kind = re.compile("|".join(names))
    for generic in ("store.js", "sync.js", "flow.js", "effects.js", "rules.js"):
        found = kind.findall((ROOT / "static" / "field" / generic).read_text(encoding="utf-8"))
        assert not found, (generic, found)
    assert not kind.findall((ROOT / "blueprints" / "field" / "strings.py").read_text(encoding="utf-8"))
    for module in sorted((ROOT / "static" / "field").glob("*.js")):
        code = module.read_text(encoding="utf-8")
        keyed = re.findall(r'["\'](?:{})["\']\s*:'.format("|".join(names)), code) + re.findall(r"kind:\s*[\"']", code)
        assert not keyed, (module.name, keyed)
        assert "switch (op.kind)" not in code, module.name


def test_the_phone_app_is_in_modules_of_readable_size():
    """Each module of the phone app under 300 lines, and no function above cyclomatic complexity 15 (lizard)."""
    import lizard

    for module in sorted((ROOT / "static" / "field").glob("*.js")):
        lines = module.read_text(encoding="utf-8").count("\n")
        assert lines < 300, (module.name, lines)
        analysis = lizard.analyze_file(str(module))
        tangled = [(f.name, f.cyclomatic_complexity) for f in analysis.function_list if f.cyclomatic_complexity > 15]
        assert not tangled, (module.name, tangled)


def test_every_module_of_the_phone_app_parses(tmp_path):
    """Node parses each module as the browser will (a syntax error would leave the app blank on every phone)."""
    import shutil
    import subprocess

    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is missing: apt-get install nodejs (make test installs it)"
    for module in sorted((ROOT / "static" / "field").glob("*.js")):
        copy = tmp_path / f"{module.stem}.mjs"
        copy.write_bytes(module.read_bytes())
        checked = subprocess.run([node, "--check", str(copy)], capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, (module.name, checked.stderr)
