"""closed without the customer's signature: a status of its own (issue 24)

A request a supervisor closed after a visit the customer did not sign was stored as "cancelled", with the reason as
the cancellation's. It now has its own status, `closed_unsigned`: the work was done, the customer never confirmed
it. The status column is a VARCHAR (domain/core/models.enum_type: no database enum type, no CHECK), so no DDL: the
rows closed that way so far are moved to the new status (their closing time becomes `closed_at`; the reason stays
where the decision keeps it, `visits.decision_reason`). Plain UPDATEs: the same on SQLite and PostgreSQL.
Downgrade puts them back as they were (cancelled, with the decision's reason as the cancellation's).

Revision ID: f1a7c3e5d902
Revises: e7c1d3a5b9f2
Create Date: 2026-12-07 03:20:00

"""
from alembic import op

revision = 'f1a7c3e5d902'
down_revision = 'e7c1d3a5b9f2'
branch_labels = None
depends_on = None

CLOSED_BY_DECISION = "SELECT ticket_id FROM visits WHERE decision = 'close'"


def upgrade():
    op.execute(
        "UPDATE tickets SET status = 'closed_unsigned', closed_at = cancelled_at, cancelled_at = NULL, "
        f"cancel_reason = NULL, version = version + 1 WHERE status = 'cancelled' AND id IN ({CLOSED_BY_DECISION})")


def downgrade():
    op.execute(
        "UPDATE tickets SET status = 'cancelled', cancelled_at = closed_at, closed_at = NULL, cancel_reason = "
        "(SELECT MAX(visits.decision_reason) FROM visits WHERE visits.ticket_id = tickets.id "
        "AND visits.decision = 'close'), version = version + 1 WHERE status = 'closed_unsigned'")
