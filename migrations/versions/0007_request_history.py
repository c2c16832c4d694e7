"""request history

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'request_records',
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('client_request_id', sa.String(length=128), nullable=True),
        sa.Column('endpoint', sa.String(length=64), nullable=False),
        sa.Column('model', sa.String(length=255), nullable=True),
        sa.Column('node', sa.String(length=100), nullable=True),
        sa.Column('failed_nodes', sa.JSON(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=True),
        sa.Column('api_key_name', sa.String(length=100), nullable=True),
        sa.Column('user', sa.String(length=64), nullable=True),
        sa.Column('client_address', sa.String(length=64), nullable=True),
        sa.Column('stream', sa.Boolean(), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('error_code', sa.String(length=64), nullable=True),
        sa.Column('duration_ms', sa.Float(), nullable=False),
        sa.Column('ttft_ms', sa.Float(), nullable=True),
        sa.Column('queue_ms', sa.Float(), nullable=False),
        sa.Column('prompt_tokens', sa.Integer(), nullable=True),
        sa.Column('completion_tokens', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('seq'),
        sa.UniqueConstraint('id'),
    )
    with op.batch_alter_table('request_records', schema=None) as batch_op:
        batch_op.create_index('ix_request_records_at', ['at'], unique=False)
        batch_op.create_index('ix_request_records_model', ['model'], unique=False)
        batch_op.create_index('ix_request_records_node', ['node'], unique=False)
        batch_op.create_index('ix_request_records_api_key_id', ['api_key_id'], unique=False)
        batch_op.create_index('ix_request_records_status', ['status'], unique=False)
    op.create_table(
        'request_bodies',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('request_body', sa.Text(), nullable=False),
        sa.Column('response_body', sa.Text(), nullable=False),
        sa.Column('truncated', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['id'], ['request_records.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade():
    op.drop_table('request_bodies')
    with op.batch_alter_table('request_records', schema=None) as batch_op:
        batch_op.drop_index('ix_request_records_status')
        batch_op.drop_index('ix_request_records_api_key_id')
        batch_op.drop_index('ix_request_records_node')
        batch_op.drop_index('ix_request_records_model')
        batch_op.drop_index('ix_request_records_at')
    op.drop_table('request_records')
