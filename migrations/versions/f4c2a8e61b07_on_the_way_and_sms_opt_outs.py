"""visits: on the way (set out, expected arrival); sms replies and opt-outs

Revision ID: f4c2a8e61b07
Revises: c4e8a2f61b07
Create Date: 2026-12-06 23:50:00

"""
from alembic import op
import sqlalchemy as sa

import domain.core.types


revision = 'f4c2a8e61b07'
down_revision = 'c4e8a2f61b07'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_the_way_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expected_arrival_at', domain.core.types.UTCDateTime(timezone=True),
                                      nullable=True))
    op.create_table('sms_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('mobile', sa.String(length=40), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('sign_name', sa.String(length=100), nullable=True),
    sa.Column('replied_at', domain.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', domain.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opt_out', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_replies')),
    sa.UniqueConstraint('key', name=op.f('uq_sms_replies_key'))
    )
    op.create_index(op.f('ix_sms_replies_mobile'), 'sms_replies', ['mobile'], unique=False)
    op.create_table('sms_opt_outs',
    sa.Column('mobile', sa.String(length=40), nullable=False),
    sa.Column('opted_out_at', domain.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reply_id', sa.Integer(), nullable=True),
    sa.Column('lifted_at', domain.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.Column('lifted_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['users.id'], name=op.f('fk_sms_opt_outs_lifted_by_id_users')),
    sa.ForeignKeyConstraint(['reply_id'], ['sms_replies.id'], name=op.f('fk_sms_opt_outs_reply_id_sms_replies')),
    sa.PrimaryKeyConstraint('mobile', name=op.f('pk_sms_opt_outs'))
    )


def downgrade():
    op.drop_table('sms_opt_outs')
    op.drop_index(op.f('ix_sms_replies_mobile'), table_name='sms_replies')
    op.drop_table('sms_replies')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('expected_arrival_at')
        batch_op.drop_column('on_the_way_at')
