"""device checks, swaps and parts used on the phone (issue 22 item 6)

Revision ID: a7d3c9e2b514
Revises: 9b3d5f7a2c14
Create Date: 2026-12-07 01:00:00

"""
from alembic import op
import sqlalchemy as sa

import domain.core.types


revision = 'a7d3c9e2b514'
down_revision = '9b3d5f7a2c14'
branch_labels = None
depends_on = None


def _time(name):
    return sa.Column(name, domain.core.types.UTCDateTime(timezone=True), nullable=False)


def upgrade():
    op.create_table('device_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=200), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('matched', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    _time('checked_at'),
    sa.Column('checked_by_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_device_checks_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_checks_device_id_devices')),
    sa.ForeignKeyConstraint(['checked_by_id'], ['users.id'], name=op.f('fk_device_checks_checked_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_checks'))
    )
    op.create_index(op.f('ix_device_checks_ticket_id'), 'device_checks', ['ticket_id'], unique=False)
    op.create_table('device_swaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('out_device_id', sa.Integer(), nullable=False),
    sa.Column('in_device_id', sa.Integer(), nullable=False),
    _time('swapped_at'),
    sa.Column('swapped_by_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_device_swaps_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['out_device_id'], ['devices.id'], name=op.f('fk_device_swaps_out_device_id_devices')),
    sa.ForeignKeyConstraint(['in_device_id'], ['devices.id'], name=op.f('fk_device_swaps_in_device_id_devices')),
    sa.ForeignKeyConstraint(['swapped_by_id'], ['users.id'], name=op.f('fk_device_swaps_swapped_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_swaps')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_device_swaps_ticket_id'))
    )
    op.create_index(op.f('ix_device_swaps_out_device_id'), 'device_swaps', ['out_device_id'], unique=False)
    op.create_index(op.f('ix_device_swaps_in_device_id'), 'device_swaps', ['in_device_id'], unique=False)
    op.create_table('parts_used',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('part', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    _time('recorded_at'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_parts_used_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('ticket_id', 'part', name=op.f('pk_parts_used'))
    )


def downgrade():
    op.drop_table('parts_used')
    op.drop_index(op.f('ix_device_swaps_in_device_id'), table_name='device_swaps')
    op.drop_index(op.f('ix_device_swaps_out_device_id'), table_name='device_swaps')
    op.drop_table('device_swaps')
    op.drop_index(op.f('ix_device_checks_ticket_id'), table_name='device_checks')
    op.drop_table('device_checks')
