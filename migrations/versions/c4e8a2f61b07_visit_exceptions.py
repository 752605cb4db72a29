"""visits: where arrival was tapped, a signature that could not be had (absent, refused) and the supervisor's
decision, a visit ended for another to follow

Revision ID: c4e8a2f61b07
Revises: 5a8e3c1d9f42
Create Date: 2026-12-06 23:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

import domain.core.types

# revision identifiers, used by Alembic.
revision = 'c4e8a2f61b07'
down_revision = '5a8e3c1d9f42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('arrival_lat', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('arrival_lng', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('arrival_accuracy_m', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('unsigned_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('unsigned_kind', sa.Enum('absent', 'refused', name='signaturemissing',
                                                               native_enum=False, length=24), nullable=True))
        batch_op.add_column(sa.Column('unsigned_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('unsigned_photo_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('decision', sa.Enum('revisit', 'close', name='unsigneddecision',
                                                          native_enum=False, length=24), nullable=True))
        batch_op.add_column(sa.Column('decision_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('decided_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decided_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ended_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('end_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_visits_decided_by_id_users'), 'users', ['decided_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_visits_decided_by_id_users'), type_='foreignkey')
        for column in ('end_reason', 'ended_at', 'decided_by_id', 'decided_at', 'decision_reason', 'decision',
                       'unsigned_photo_id', 'unsigned_reason', 'unsigned_kind', 'unsigned_at', 'arrival_accuracy_m',
                       'arrival_lng', 'arrival_lat'):
            batch_op.drop_column(column)
