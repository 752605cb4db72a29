"""kb_articles.search_text: every searchable text of an article in one lower-cased column

Revision ID: 7c1f0a2d9b34
Revises: 7c3e1a9b2d40
Create Date: 2026-11-25 02:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '7c1f0a2d9b34'
down_revision = '7c3e1a9b2d40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), server_default='', nullable=False))
    # Existing articles: their own texts (the model's and fault type's names are added when next saved).
    op.execute("UPDATE kb_articles SET search_text = lower(title || ' ' || symptoms || ' ' || solution || ' ' "
               "|| coalesce(precautions, ''))")
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.alter_column('search_text', server_default=None)


def downgrade():
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.drop_column('search_text')
