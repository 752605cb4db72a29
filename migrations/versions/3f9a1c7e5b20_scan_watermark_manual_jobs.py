"""the deadline scan's watermark (scan_marks, ticket_clocks.written_at) and the FAQ manual built by the worker

Revision ID: 3f9a1c7e5b20
Revises: 3f9a2c1d7e64
Create Date: 2026-11-30 02:45:00

"""
from alembic import op
import sqlalchemy as sa

import domain.core.types


# revision identifiers, used by Alembic.
revision = '3f9a1c7e5b20'
down_revision = '3f9a2c1d7e64'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scan_marks',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('scanned_until', domain.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scan_marks'))
    )
    op.create_table('manual_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('device_category_id', sa.Integer(), nullable=True),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('articles', sa.Integer(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', domain.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', domain.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['device_category_id'], ['device_categories.id'],
                            name=op.f('fk_manual_jobs_device_category_id_device_categories')),
    sa.ForeignKeyConstraint(['pdf_sha256'], ['blobs.sha256'], name=op.f('fk_manual_jobs_pdf_sha256_blobs')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_manual_jobs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manual_jobs'))
    )
    with op.batch_alter_table('manual_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_manual_jobs_selection', ['locale', 'device_category_id', 'state'], unique=False)

    with op.batch_alter_table('ticket_clocks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('written_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_ticket_clocks_written_at', ['written_at'], unique=False)
        batch_op.create_index('ix_ticket_clocks_name_due', ['name', 'due_at'], unique=False)


def downgrade():
    with op.batch_alter_table('ticket_clocks', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_clocks_name_due')
        batch_op.drop_index('ix_ticket_clocks_written_at')
        batch_op.drop_column('written_at')

    with op.batch_alter_table('manual_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_manual_jobs_selection')

    op.drop_table('manual_jobs')
    op.drop_table('scan_marks')
