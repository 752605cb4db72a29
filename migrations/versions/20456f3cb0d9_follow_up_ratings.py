"""follow_up_ratings: the customer's rating afterwards, on the tracking page (once per request)

Revision ID: 20456f3cb0d9
Revises: 3043c9062dfb
Create Date: 2026-12-06 20:35:34.695158

"""
import sqlalchemy as sa
from alembic import op

import domain.core.types


# revision identifiers, used by Alembic.
revision = '20456f3cb0d9'
down_revision = '3043c9062dfb'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('follow_up_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('rated_at', domain.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.CheckConstraint('rating BETWEEN 1 AND 5', name=op.f('ck_follow_up_ratings_rating_range')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_follow_up_ratings_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_ratings')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_follow_up_ratings_ticket_id'))
    )
    with op.batch_alter_table('follow_up_ratings', schema=None) as batch_op:
        batch_op.create_index('ix_follow_up_ratings_rated_at', ['rated_at'], unique=False)



def downgrade():
    with op.batch_alter_table('follow_up_ratings', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_ratings_rated_at')

    op.drop_table('follow_up_ratings')
