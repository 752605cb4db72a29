"""visits: when the cause and the work done were written on site (the phone shows each done step's time)

Revision ID: d5a8c1f37e02
Revises: ec100819c80c
Create Date: 2026-11-30 02:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

import domain.core.types

# revision identifiers, used by Alembic.
revision = 'd5a8c1f37e02'
down_revision = 'ec100819c80c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('work_recorded_at', domain.core.types.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('work_recorded_at')
