"""push retries: a push the push service did not take, sent again with a growing pause

Revision ID: 9b3d5f7a2c14
Revises: f4c2a8e61b07
Create Date: 2026-12-07 01:00:00

"""
from alembic import op
import sqlalchemy as sa

import domain.core.types


revision = '9b3d5f7a2c14'
down_revision = 'f4c2a8e61b07'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('push_retries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', domain.core.types.UTCDateTime(), nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('created_at', domain.core.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'],
                            name=op.f('fk_push_retries_notification_id_notifications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['push_subscriptions.id'],
                            name=op.f('fk_push_retries_subscription_id_push_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_retries')),
    sa.UniqueConstraint('notification_id', 'subscription_id',
                        name=op.f('uq_push_retries_notification_id_subscription_id'))
    )
    op.create_index(op.f('ix_push_retries_next_attempt_at'), 'push_retries', ['next_attempt_at'], unique=False)
    op.create_index(op.f('ix_push_retries_subscription_id'), 'push_retries', ['subscription_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_push_retries_subscription_id'), table_name='push_retries')
    op.drop_index(op.f('ix_push_retries_next_attempt_at'), table_name='push_retries')
    op.drop_table('push_retries')
