"""the customer's short link code (issue 21): /c/<code> in SMS

Aliyun's and Tencent's approved SMS templates take short variables, never a link: the customer's tracking link
goes out as the template's fixed `PUBLIC_URL/c/` followed by this code, given when a message first needs it.
A nullable column and its unique index: no data to move (codes are given lazily).

Revision ID: a9d3f6b2c8e1
Revises: f1a7c3e5d902
Create Date: 2026-12-07 06:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'a9d3f6b2c8e1'
down_revision = 'f1a7c3e5d902'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("tickets", sa.Column("link_code", sa.String(length=12), nullable=True))
    op.create_index("ix_tickets_link_code", "tickets", ["link_code"], unique=True)


def downgrade():
    op.drop_index("ix_tickets_link_code", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("link_code")
