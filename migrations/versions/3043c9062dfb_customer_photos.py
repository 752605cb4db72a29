"""photos: a photo the customer sent with their report (the report page, no account) has no uploader

Revision ID: 3043c9062dfb
Revises: 7c99fb29a9dd
Create Date: 2026-12-06 20:28:41.371034

"""
import sqlalchemy as sa
from alembic import op



# revision identifiers, used by Alembic.
revision = '3043c9062dfb'
down_revision = '7c99fb29a9dd'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.alter_column('uploaded_by_id',
                              existing_type=sa.INTEGER(),
                              nullable=True)



def downgrade():
    # A customer's photo has no uploader to give it: the downgrade stops rather than invent one.
    customer = op.get_bind().execute(sa.text("SELECT count(*) FROM photos WHERE uploaded_by_id IS NULL")).scalar()
    if customer:
        raise RuntimeError(f"{customer} photos came from customers: they cannot go back to a required uploader")
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.alter_column('uploaded_by_id',
                              existing_type=sa.INTEGER(),
                              nullable=False)

