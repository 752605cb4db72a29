"""weekly report indexes: clocks by deadline, signatures by signing time

The weekly report counts each clock in the week its deadline falls in and each rating in the week the customer
signed; without these indexes both statements scan their whole table.

Revision ID: 7c3e1a9b2d40
Revises: 5e7ea46e5096
Create Date: 2026-11-25 02:40:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '7c3e1a9b2d40'
down_revision = '5e7ea46e5096'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ticket_clocks', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_clocks_due_at', ['due_at'], unique=False)
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.create_index('ix_signatures_signed_at_client', ['signed_at_client'], unique=False)


def downgrade():
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_index('ix_signatures_signed_at_client')
    with op.batch_alter_table('ticket_clocks', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_clocks_due_at')
