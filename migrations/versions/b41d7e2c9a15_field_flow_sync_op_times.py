"""field flow: an op's raw device time and, when the server moved it onto a bound, the time it was applied at

A phone's clock a few minutes off no longer gets an act refused: the server clamps the time onto its bound
(the request's entry, the arrival, now) and keeps both, beside the time the phone sent (client_at).

Revision ID: b41d7e2c9a15
Revises: 475f5fdb1c2e
Create Date: 2026-11-30 00:05:00.000000

"""
import sqlalchemy as sa
from alembic import op

import domain.core.types

# revision identifiers, used by Alembic.
revision = 'b41d7e2c9a15'
down_revision = '475f5fdb1c2e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sync_ops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('applied_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('sync_ops', schema=None) as batch_op:
        batch_op.drop_column('applied_at')
        batch_op.drop_column('device_at')
