"""The board's statements are served by their indexes (migration 3f9a2c1d7e64): the page is read from
ix_tickets_board_order in order, with no sort of every request; on PostgreSQL the search's substring tests are
trigram index conditions. Checked on the real statements board_page sends, through the database's own EXPLAIN
(the planner is told to avoid sorts and full scans where it has a choice, so that a plan with the index is
found whatever the table's size)."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event

from domain.core.db import db
from domain.requests.board import BoardFilter, board_page, technician_load
from domain.requests.models import TICKET_OPEN_STATES_SQL
from domain.requests.workflow import OPEN_STATES

from .helpers import SHANGHAI


def _statements(app, board_filter: BoardFilter) -> list[tuple[str, object]]:
    sent = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", keep)
        try:
            board_page(board_filter, datetime.now(UTC), SHANGHAI)
        finally:
            event.remove(engine, "before_cursor_execute", keep)
    return sent


def _plan(app, statement: str, parameters) -> str:
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            connection.exec_driver_sql("SET LOCAL enable_sort = off")
            rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
            plan = "\n".join(row[0] for row in rows)
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            plan = "\n".join(str(row[-1]) for row in rows)
        db.session.rollback()
    return plan


def test_the_board_page_is_read_from_the_order_index_without_sorting(app):
    sent = _statements(app, BoardFilter())
    page = next((s, p) for s, p in sent if "ORDER BY" in s)
    plan = _plan(app, *page)
    print("\n" + plan)
    assert "ix_tickets_board_order" in plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan  # no sort of the requests, on either database


def test_the_open_requests_board_is_read_from_an_index(app):
    sent = _statements(app, BoardFilter(open_only=True, page=3))
    plan = _plan(app, *next((s, p) for s, p in sent if "ORDER BY" in s))
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:
        assert "ix_tickets_board_order" in plan and "Sort" not in plan
    else:  # SQLite prefers the status index and sorts the open requests (a small share of all)
        assert "USING INDEX" in plan and "SCAN tickets" not in plan


def test_the_count_stops_at_the_cap(app):
    sent = _statements(app, BoardFilter())
    count = next(s for s, _p in sent if "count(" in s.lower())
    assert "LIMIT" in count.upper()


def test_the_search_uses_the_trigram_indexes_on_postgresql(app):
    sent = _statements(app, BoardFilter(q="atem"))
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    assert not any("count(" in s.lower() for s, _p in sent)  # one pass: the matches' ids are the count
    statement, parameters = next((s, p) for s, p in sent if "ORDER BY" in s)
    # Its conditions alone (on an empty table the planner would rather walk the order index, rightly).
    matches = f"SELECT count(*) FROM ({statement.split(' ORDER BY ')[0]}) AS matches"
    if isinstance(parameters, (tuple, list)):  # SQLite's positional parameters: the LIMIT's go
        parameters = tuple(parameters)[:matches.count("?")]
    plan = _plan(app, matches, parameters)
    print("\n" + plan)
    if postgresql:
        for index in ("ix_tickets_number_trgm", "ix_tickets_device_model_text_trgm",
                      "ix_tickets_contact_phone_trgm", "ix_tickets_serial_number_trgm"):
            assert index in plan
        customers = next((s, p) for s, p in sent if "FROM customers" in s)
        assert "ix_customers_name_trgm" in _plan(app, *customers)
    else:  # SQLite has no trigram index: a LIKE with a leading wildcard reads the table
        assert "SCAN tickets" in plan


def test_the_open_requests_index_names_the_open_states():
    assert set(TICKET_OPEN_STATES_SQL) == {state.value for state in OPEN_STATES}


def test_each_technicians_load_and_a_pages_clocks_are_read_from_indexes(app):
    sent = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    with app.app_context():
        engine = db.engine
        postgresql = engine.dialect.name == "postgresql"
        event.listen(engine, "before_cursor_execute", keep)
        try:
            technician_load()
        finally:
            event.remove(engine, "before_cursor_execute", keep)
    plan = _plan(app, *sent[0])
    print("\n" + plan)
    if postgresql:  # an index-only scan of the open requests
        assert "ix_tickets_open_by_assignee" in plan
    else:  # SQLite probes its (assignee, status) index per technician
        assert "SEARCH tickets USING" in plan and "SCAN tickets" not in plan
    clocks = _plan(app, "SELECT id FROM ticket_clocks WHERE ticket_id IN (1, 2, 3)", ())
    assert "ix_ticket_clocks_ticket_id" in clocks
