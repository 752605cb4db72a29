"""acceptance tests: an item may be not applicable (the reason in its note); a visit records that the customer
acknowledged a failed item before confirming

Revision ID: d7a4c2e19b83
Revises: c0f3e2a91d57
Create Date: 2026-12-06 18:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd7a4c2e19b83'
down_revision = 'c0f3e2a91d57'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('acceptance_tests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('not_applicable', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failures_acknowledged', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('failures_acknowledged')
    with op.batch_alter_table('acceptance_tests', schema=None) as batch_op:
        batch_op.drop_column('not_applicable')
