"""What the layout must keep as it changes: rows are written in an order their foreign keys accept."""
from __future__ import annotations

from sqlalchemy.orm import configure_mappers

from domain.core.db import Base

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
