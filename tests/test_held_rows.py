"""The sync applier's fast paths agree with the slow ones they stand for: rows held and written by one INSERT per
table are the rows SQLAlchemy itself would write (defaults, types, order), and the one-serialisation JSON check
says what the walk says."""
from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from domain.core import uow
from domain.core.db import db, held_rows, write_row
from domain.core.models import AuditEvent
from domain.core.validation import canonical_json, json_problem, plain_canonical_json

_AUDIT = AuditEvent.__table__.insert()


def test_held_rows_are_written_as_sqlalchemy_writes_them_in_the_order_held(app):
    at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    with app.app_context():
        last = db.session.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc())).scalars().first() or 0
        db.session.execute(_AUDIT, {"action": "by.sqlalchemy"})  # SQLAlchemy's own path, for reference
        with uow.savepoint(), held_rows() as held:
            write_row(_AUDIT, {"action": "held.one", "data": {"n": "二", "x": [1, 2.5, None]}, "at": at})
            write_row(_AUDIT, {"action": "held.two"})  # other columns: its own INSERT, after the first's
            write_row(_AUDIT, {"action": "held.three", "via": "sync", "remote_addr": "10.0.0.8"})
            assert len(held.rows[_AUDIT]) == 3  # held, not yet written
            # A read meanwhile sees every row held before it (they are written first).
            seen = db.session.execute(select(AuditEvent.action).where(AuditEvent.id > last)).scalars().all()
            assert seen == ["by.sqlalchemy", "held.one", "held.two", "held.three"]
            write_row(_AUDIT, {"action": "held.four", "at": at})
        db.session.commit()
        rows = db.session.execute(select(AuditEvent).where(AuditEvent.id > last).order_by(AuditEvent.id)).scalars()
        rows = list(rows)
    assert [r.action for r in rows] == ["by.sqlalchemy", "held.one", "held.two", "held.three", "held.four"]
    reference, one, two, three, four = rows
    assert one.data == {"n": "二", "x": [1, 2.5, None]} and one.at == at
    # Columns left out get their Python defaults, as SQLAlchemy gives them: a time now, "web", an empty dict.
    for row in (reference, two, three):
        assert abs((row.at - datetime.now(UTC)).total_seconds()) < 60
    assert (reference.via, two.via, three.via) == ("web", "web", "sync") and two.data == {} == reference.data
    assert three.remote_addr == "10.0.0.8" and four.at == at


def test_held_rows_are_dropped_with_a_block_that_fails(app):
    with app.app_context():
        before = db.session.execute(select(AuditEvent.id)).scalars().all()
        with pytest.raises(RuntimeError), uow.savepoint(), held_rows():
            write_row(_AUDIT, {"action": "never.written"})
            raise RuntimeError("a refused op")
        db.session.commit()
        assert db.session.execute(select(AuditEvent.id)).scalars().all() == before


PLAIN = [
    {"op_id": "0b6f9a52-8d1e-4b7a-9c3f-2e5d7a1b4c60", "kind": "note.added", "ticket": "FS-2026-000001",
     "at": "2026-12-07T09:30:00+08:00", "data": {"text": "更换 SDI 线缆后信号恢复 ✅", "shown_to_customer": False}},
    [1, 2.5, -3e300, True, None, "²", "١٢", {"b": 1, "a": [{}]}],
    {"z": "\u2028 \\n \" ' < > &", "a": 12345678901234567890},
]


@pytest.mark.parametrize("value", PLAIN, ids=["op", "list", "escapes"])
def test_a_plain_value_is_serialised_once_as_its_canonical_text(value):
    assert json_problem(value) is None
    assert plain_canonical_json(value) == canonical_json(value)


HOSTILE = [
    ({"text": "a\x00b"}, "nul_character"),
    ({"te\x00xt": "key"}, "nul_character"),
    ({"text": "\ud800"}, "bad_unicode"),
    ({"n": math.nan}, "non_finite_number"),
    ({"n": [math.inf]}, "non_finite_number"),
    ({"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}, "too_deep"),
]


@pytest.mark.parametrize(("value", "code"), HOSTILE, ids=["nul", "nul-key", "surrogate", "nan", "inf", "deep"])
def test_a_hostile_value_is_never_passed_plainly_and_the_walk_names_it(value, code):
    assert plain_canonical_json(value) is None
    assert json_problem(value)[0] == code


def test_what_only_looks_hostile_is_left_to_the_walk_which_accepts_it():
    # The six characters \u0000 typed as text, and many brackets inside a text: no fast answer, but storable.
    for value in ({"text": "\\u0000 is how JSON writes NUL"}, {"text": "[" * 40 + "{" * 40}):
        assert plain_canonical_json(value) is None
        assert json_problem(value) is None


def test_a_connection_lost_inside_the_block_leaves_no_holder_behind(app):
    """The database connection dies while rows are held (a server restart, a killed backend): the block fails,
    and nothing of it stays in this process. A holder left behind would take every later row and never write it
    (the PostgreSQL run once answered a note "applied" that was never stored, after such a test)."""
    from domain.core import db as core_db

    with app.app_context():
        with pytest.raises(RuntimeError), uow.savepoint(), held_rows():
            write_row(_AUDIT, {"action": "lost.with.its.connection"})
            db.session.connection().invalidate()  # as a dropped connection leaves it: its info unreachable
            raise RuntimeError("the connection is gone")
        assert core_db._HELD.get() is None
        db.session.rollback()
        write_row(_AUDIT, {"action": "written.at.once"})  # outside a block: sent now, not held
        db.session.commit()
        actions = db.session.execute(select(AuditEvent.action)).scalars().all()
    assert "written.at.once" in actions and "lost.with.its.connection" not in actions
