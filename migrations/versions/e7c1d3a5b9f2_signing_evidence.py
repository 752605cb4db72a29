"""signing evidence: what the phone knew when the customer signed (append-only), and the SMS signing codes

Revision ID: e7c1d3a5b9f2
Revises: a7d3c9e2b514
Create Date: 2026-12-07 01:10:00

"""
from alembic import op
import sqlalchemy as sa

import domain.core.types


revision = 'e7c1d3a5b9f2'
down_revision = 'a7d3c9e2b514'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signing_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('signature_id', sa.Integer(), nullable=True),
    sa.Column('signed_at_client', domain.core.types.UTCDateTime(), nullable=False),
    sa.Column('signed_at', domain.core.types.UTCDateTime(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=500), nullable=True),
    sa.Column('signer_name', sa.String(length=100), nullable=False),
    sa.Column('strokes', sa.JSON(), nullable=False),
    sa.Column('customer_mobile', sa.String(length=40), nullable=True),
    sa.Column('arrival_lat', sa.Float(), nullable=True),
    sa.Column('arrival_lng', sa.Float(), nullable=True),
    sa.Column('arrival_accuracy_m', sa.Float(), nullable=True),
    sa.Column('signing_lat', sa.Float(), nullable=True),
    sa.Column('signing_lng', sa.Float(), nullable=True),
    sa.Column('signing_accuracy_m', sa.Float(), nullable=True),
    sa.Column('code_state', sa.String(length=20), nullable=False),
    sa.Column('record_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_signing_evidence_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['signature_id'], ['signatures.id'],
                            name=op.f('fk_signing_evidence_signature_id_signatures')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_evidence')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_signing_evidence_ticket_id'))
    )
    op.create_table('signing_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('mobile', sa.String(length=20), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', domain.core.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', domain.core.types.UTCDateTime(), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('used_at', domain.core.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_signing_codes_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_codes'))
    )
    op.create_index(op.f('ix_signing_codes_ticket_id'), 'signing_codes', ['ticket_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_signing_codes_ticket_id'), table_name='signing_codes')
    op.drop_table('signing_codes')
    op.drop_table('signing_evidence')
