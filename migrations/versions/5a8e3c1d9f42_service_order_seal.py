"""service_orders: the company seal (PAdES) added by the worker after rendering: its state, attempts and error,
the next try, when it was sealed, by which certificate, the time-stamping authority's time, and the PDF as rendered
before sealing. Every order already stored waits to be sealed (server default 'waiting'): the worker seals it at
its next minute, and a copy the customer downloaded before stays recognised (unsealed_pdf_sha256).

Revision ID: 5a8e3c1d9f42
Revises: 20456f3cb0d9
Create Date: 2026-12-06 20:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

import domain.core.types

# revision identifiers, used by Alembic.
revision = '5a8e3c1d9f42'
down_revision = '20456f3cb0d9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal_state', sa.Enum('waiting', 'sealed', 'failing', name='sealstate',
                                                             native_enum=False, length=24),
                                      server_default='waiting', nullable=False))
        batch_op.add_column(sa.Column('seal_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('seal_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('seal_next_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sealed_at', domain.core.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('seal_cert_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('seal_timestamp_at', domain.core.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('unsealed_pdf_sha256', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_service_orders_seal_cert_sha256'), ['seal_cert_sha256'], unique=False)


def downgrade():
    # The sealed PDF stays the order's PDF (a valid PDF/A-3 file, the seal an incremental update): only the
    # bookkeeping columns go.
    with op.batch_alter_table('service_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_orders_seal_cert_sha256'))
        for column in ('unsealed_pdf_sha256', 'seal_timestamp_at', 'seal_cert_sha256', 'sealed_at', 'seal_next_at',
                       'seal_error', 'seal_attempts', 'seal_state'):
            batch_op.drop_column(column)
