"""saved log filters

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:02:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'log_filters',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('query', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'name', name='uq_log_filters_user_name'),
    )
    with op.batch_alter_table('log_filters', schema=None) as batch_op:
        batch_op.create_index('ix_log_filters_user_id', ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('log_filters', schema=None) as batch_op:
        batch_op.drop_index('ix_log_filters_user_id')
    op.drop_table('log_filters')
