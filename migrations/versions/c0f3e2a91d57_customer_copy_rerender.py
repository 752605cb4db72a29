"""service orders: render every stored PDF again as the customer's copy (the copies rendered before printed the
technician's internal notes, the contact log and the deadline table, and attached them in the JSON). The worker
renders them again; a download renders at once. The old PDF's hash is kept (superseded_pdf_sha256), so that a copy
a customer already holds is still recognised on the verify page; the old blobs stay in storage, no longer served.

Revision ID: c0f3e2a91d57
Revises: 8e41b7c2d903
Create Date: 2026-12-06 17:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c0f3e2a91d57'
down_revision = '8e41b7c2d903'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('superseded_pdf_sha256', sa.String(length=64), nullable=True))
    op.execute("UPDATE service_orders SET superseded_pdf_sha256 = pdf_sha256, render_state = 'pending', "
               "render_attempts = 0 WHERE render_state = 'rendered'")


def downgrade():
    # The customer's copies stay as they are: rendering the internal notes again would be the defect.
    with op.batch_alter_table('service_orders', schema=None) as batch_op:
        batch_op.drop_column('superseded_pdf_sha256')
