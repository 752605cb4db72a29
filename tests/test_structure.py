"""What the layout must keep as it changes: rows are written in an order their foreign keys accept; each op kind
is declared once, in Python, and reaches the phone from that declaration."""
from __future__ import annotations

import re
from pathlib import Path

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
    ("PushRetry", "subscription_id"),  # a push is retried to a subscription that existed when it failed
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


def _python_sources():
    skipped = {"tests", "bench", "migrations", "scripts", ".venv", "node_modules", "build"}
    return [path for path in ROOT.rglob("*.py")
            if not skipped & set(path.relative_to(ROOT).parts) and not path.name.startswith(".")]


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at its top or inside a function (relative imports made absolute)."""
    import ast

    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_only_the_unit_of_work_commits_or_rolls_back():
    """A web request, a command and a worker task own their transactions through domain/core/uow.py
    (`transaction()`, `reading()`, the request's owner in blueprints/core/transaction.py): no commit or rollback
    placed by hand anywhere else."""
    import ast

    owners = {ROOT / "domain/core/uow.py", ROOT / "blueprints/core/transaction.py"}
    placed = []
    for path in _python_sources():
        if path in owners:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in {"commit", "rollback"}:
                placed.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.attr}()")
    assert placed == []


def test_the_worker_only_runs_the_queue_and_the_entry_points_import_one_way():
    """Each package declares its tasks in its tasks.py; worker.py takes them from there and imports no other domain
    module than those and the core. app.py starts the commands and the worker; neither imports app.py, and the
    worker does not import the commands; the domain imports none of the three."""
    import worker
    from domain.alerts import tasks as alerts_tasks
    from domain.documents import tasks as documents_tasks
    from domain.knowledge import tasks as knowledge_tasks

    declared = [task.name for module in (documents_tasks, alerts_tasks, knowledge_tasks) for task in module.QUEUED]
    assert sorted(worker.TASKS) == sorted(declared) and len(set(declared)) == len(declared)
    assert [step.name for step in worker.MINUTE] == [
        step.name for module in (documents_tasks, alerts_tasks, knowledge_tasks) for step in module.MINUTE]

    worker_imports = {name for name in _imports(ROOT / "worker.py") if name.startswith("domain.")}
    assert {name for name in worker_imports
            if not re.match(r"domain\.(core(\.|$)|\w+\.tasks$|\w+$)", name)} == set(), worker_imports
    assert not {"app", "commands"} & _imports(ROOT / "worker.py")
    assert "app" not in _imports(ROOT / "commands.py")
    entry_points = {"app", "commands", "worker"}
    upward = [str(path.relative_to(ROOT)) for path in _python_sources()
              if path.relative_to(ROOT).parts[0] == "domain" and entry_points & _imports(path)]
    assert upward == []


def test_each_clock_is_started_and_stopped_only_where_its_declaration_says():
    """`ClockRule.started_in` / `stopped_in` name the modules whose actions start and stop (or drop) each clock:
    a clock started anywhere else (or no longer where it says) fails here, so the declaration stays the one place
    that tells how a clock runs."""
    import ast

    from domain.sla.rules import CLOCK_RULES

    found: dict[tuple[str, str], set[str]] = {}
    for path in (ROOT / "domain").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT / "domain").with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in {"start_clock", "stop_clock", "drop_clock"}):
                continue
            for arg in node.args:
                if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "ClockName":
                    what = "started" if node.func.id == "start_clock" else "stopped"
                    found.setdefault((arg.attr.lower(), what), set()).add(module)
    declared = {}
    for name, rule in CLOCK_RULES.items():
        if rule.started_in:
            declared[(name.name.lower(), "started")] = set(rule.started_in)
        if rule.stopped_in:
            declared[(name.name.lower(), "stopped")] = set(rule.stopped_in)
    assert found == declared
    assert all(rule.started_in and rule.stopped_in for rule in CLOCK_RULES.values())


def _runtime_domain_imports(path: Path) -> set[str]:
    """The domain packages a module imports at run time (at its top or inside a function; not under TYPE_CHECKING,
    which only names a class for an annotation)."""
    import ast

    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", getattr(block.test, "attr", None)) == "TYPE_CHECKING"
                   for child in block.body for node in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 2:
                found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
            elif node.level == 0 and (node.module or "").startswith("domain."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("domain.")}
    return found


# Imports that still go up the layers (domain.LAYERS), each to be turned around (an event, a provider, or the code
# moved to where it belongs): the list may only shrink. The core imports nothing above it.
KNOWN_UPWARD = {
    "alerts/customer.py": {"documents"},
    "alerts/tasks.py": {"reporting"},
    "alerts/weekly.py": {"reporting"},
    "devices/labels.py": {"documents"},
    "documents/orders.py": {"fieldwork"},
    "documents/review.py": {"fieldwork"},
    "requests/assignment.py": {"alerts", "fieldwork"},
    "requests/attention.py": {"fieldwork"},
    "requests/board.py": {"devices", "fieldwork"},
    "requests/intake.py": {"alerts", "devices"},
    "requests/remote_work.py": {"alerts", "documents", "fieldwork"},
    "requests/visits.py": {"fieldwork"},
    "requests/workflow.py": {"fieldwork"},
    "sla/clocks.py": {"requests"},
}


def test_the_domain_packages_import_one_way():
    """A package imports the ones below it in domain.LAYERS. A new upward import fails here; so does one turned
    around and still listed (the list shrinks with it)."""
    from domain import LAYERS

    rank = {name: position for position, name in enumerate(LAYERS)}
    upward = {}
    for path in sorted((ROOT / "domain").rglob("*.py")):
        package = path.relative_to(ROOT / "domain").parts[0]
        if package not in rank:
            continue
        above = {name for name in _runtime_domain_imports(path) if rank.get(name, -1) > rank[package]}
        if above:
            upward[str(path.relative_to(ROOT / "domain"))] = above
    assert not any(name.startswith("core/") for name in upward), upward
    assert upward == {name: above for name, above in KNOWN_UPWARD.items() if above}


def test_the_domain_reads_its_settings_only_from_the_typed_object():
    """One way to read settings: domain/core/settings.py builds the typed Settings from the app's config, once; every
    other module of the domain is handed it (or the part it needs) and reads no config mapping, no environment
    variable and not Flask's current_app."""
    raw = re.compile(r"\bconfig\[|\bconfig\.get\(|\bcurrent_app\b|\bos\.environ\b|\bgetenv\(")
    builder = ROOT / "domain" / "core" / "settings.py"
    assert raw.search(builder.read_text())  # (the one reader; the pattern still finds what it looks for)
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in sorted((ROOT / "domain").rglob("*.py")) if path != builder
             for number, line in enumerate(path.read_text().splitlines(), 1) if raw.search(line)]
    assert found == []
