"""devices: the register of rented devices (asset and serial numbers, model, state, customer, label code); a
request names its device (tickets.device_id, indexed with reported_at for the device's history); the customer's
tracking link generation (tickets.tracking_generation)

Revision ID: 7c99fb29a9dd
Revises: 06e74245debb
Create Date: 2026-12-06 20:18:33.099567

"""
import sqlalchemy as sa
from alembic import op

import domain.core.types


# revision identifiers, used by Alembic.
revision = '7c99fb29a9dd'
down_revision = '06e74245debb'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_number', sa.String(length=40), nullable=False),
    sa.Column('serial_number', sa.String(length=100), nullable=True),
    sa.Column('device_model_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('in_stock', 'rented', 'in_repair', 'retired', name='devicestate', native_enum=False, length=24), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('rented_since', domain.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('label_code', sa.String(length=24), nullable=False),
    sa.Column('label_issued_at', domain.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', domain.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', domain.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_devices_customer_id_customers')),
    sa.ForeignKeyConstraint(['device_model_id'], ['device_models.id'], name=op.f('fk_devices_device_model_id_device_models')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('asset_number', name=op.f('uq_devices_asset_number')),
    sa.UniqueConstraint('label_code', name=op.f('uq_devices_label_code')),
    sa.UniqueConstraint('serial_number', name=op.f('uq_devices_serial_number'))
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_devices_device_model_id'), ['device_model_id'], unique=False)

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tracking_generation', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index('ix_tickets_device_reported', ['device_id', 'reported_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_tickets_device_id_devices'), 'devices', ['device_id'], ['id'])



def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tickets_device_id_devices'), type_='foreignkey')
        batch_op.drop_index('ix_tickets_device_reported')
        batch_op.drop_column('tracking_generation')
        batch_op.drop_column('device_id')

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_device_model_id'))
        batch_op.drop_index(batch_op.f('ix_devices_customer_id'))

    op.drop_table('devices')
