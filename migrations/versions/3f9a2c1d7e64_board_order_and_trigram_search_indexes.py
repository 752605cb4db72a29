"""board order and trigram search indexes

The supervisor board reads its page from an index on its own ORDER BY (unassigned first, urgent first, nearest
deadline, newest) instead of sorting every request; each technician's open requests (the board's load column)
from a partial index over open requests; a page's clocks by their request; on PostgreSQL the board's substring
search (number, customer, device, phone, serial) uses trigram indexes (pg_trgm, GIN).

Revision ID: 3f9a2c1d7e64
Revises: d5a8c1f37e02
Create Date: 2026-11-30 02:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3f9a2c1d7e64'
down_revision = "d5a8c1f37e02"
branch_labels = None
depends_on = None

# The same expressions as TICKET_BOARD_ORDER in domain/core/models.py, constants included.
BOARD_ORDER = [
    sa.text("(CASE WHEN (status = 'new') THEN 0 ELSE 1 END)"),
    sa.text("(CASE WHEN (urgency = 'urgent') THEN 0 ELSE 1 END)"),
    sa.text("(CASE WHEN (next_due_at IS NULL) THEN 1 ELSE 0 END)"),
    sa.text("next_due_at"),
    sa.text("created_at DESC"),
    sa.text("id DESC"),
]
TRIGRAM = [
    ("ix_tickets_number_trgm", "tickets", "number"),
    ("ix_tickets_device_model_text_trgm", "tickets", "device_model_text"),
    ("ix_tickets_contact_phone_trgm", "tickets", "contact_phone"),
    ("ix_tickets_serial_number_trgm", "tickets", "serial_number"),
    ("ix_customers_name_trgm", "customers", "name"),
]


OPEN = sa.text("status IN ('new', 'assigned', 'contacted', 'visit_scheduled', 'on_site')")


def upgrade():
    op.create_index('ix_tickets_board_order', 'tickets', BOARD_ORDER, unique=False,
                    postgresql_include=['status', 'urgency', 'assignee_id'])
    op.create_index('ix_tickets_open_by_assignee', 'tickets', ['assignee_id', 'urgency', 'status'], unique=False,
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index('ix_ticket_clocks_ticket_id', 'ticket_clocks', ['ticket_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        for name, table, column in TRIGRAM:
            op.create_index(name, table, [column], unique=False, postgresql_using='gin',
                            postgresql_ops={column: 'public.gin_trgm_ops'})


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name, table, _column in TRIGRAM:
            op.drop_index(name, table_name=table)
    op.drop_index('ix_ticket_clocks_ticket_id', table_name='ticket_clocks')
    op.drop_index('ix_tickets_open_by_assignee', table_name='tickets')
    op.drop_index('ix_tickets_board_order', table_name='tickets')
