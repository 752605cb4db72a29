"""signatures: the rating may be absent (the customer may skip it, as the sync contract always said); the range
check still holds for a rating given

Revision ID: e2b9d4a6c1f0
Revises: d7a4c2e19b83
Create Date: 2026-12-06 18:55:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e2b9d4a6c1f0'
down_revision = 'd7a4c2e19b83'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.alter_column('rating', existing_type=sa.Integer(), nullable=True)


def downgrade():
    # A skipped rating cannot be made up: the downgrade stops rather than invent the customer's answer.
    skipped = op.get_bind().execute(sa.text("SELECT count(*) FROM signatures WHERE rating IS NULL")).scalar()
    if skipped:
        raise RuntimeError(f"{skipped} signatures have no rating: they cannot go back to a required rating")
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.alter_column('rating', existing_type=sa.Integer(), nullable=False)
