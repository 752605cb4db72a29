"""tickets: the technician hands a job back (when and why), until the supervisor reassigns it

Revision ID: a3f5c7e9b1d2
Revises: e2b9d4a6c1f0
Create Date: 2026-12-06 21:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import domain.core.types

# revision identifiers, used by Alembic.
revision = 'a3f5c7e9b1d2'
down_revision = 'e2b9d4a6c1f0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handed_back_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('handback_reason', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('handback_reason')
        batch_op.drop_column('handed_back_at')
