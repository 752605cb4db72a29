"""tickets: an index on the expert a request was escalated to (the expert's home page count and the board's
expert filter read it instead of scanning every request)

Revision ID: 8e41b7c2d903
Revises: 3f9a1c7e5b20
Create Date: 2026-11-30 03:40:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '8e41b7c2d903'
down_revision = '3f9a1c7e5b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_expert_id', ['expert_id'], unique=False)


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_expert_id')
