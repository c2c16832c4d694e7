"""model retry attempt

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 02:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('registered_models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('registered_models', schema=None) as batch_op:
        batch_op.drop_column('attempt')
