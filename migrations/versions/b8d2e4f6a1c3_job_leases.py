"""manual and export jobs: a lease while running, so one left by a killed worker is built again

Revision ID: b8d2e4f6a1c3
Revises: a3f5c7e9b1d2
Create Date: 2026-12-06 21:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

import domain.core.types

# revision identifiers, used by Alembic.
revision = 'b8d2e4f6a1c3'
down_revision = 'a3f5c7e9b1d2'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('manual_jobs', 'export_jobs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('lease_until', domain.core.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    for table in ('manual_jobs', 'export_jobs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('lease_until')
