"""request costs: cached tokens, cost in USD and the unpriced flag on each history row

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 21:45:00

The costs query (app/services/observability/costs.py) reads the cloud rows of a time range: `node` is the
provider's name and `at` the range, which is exactly the (node, at) index 0011 made
(`ix_request_records_node_at`), so no index of its own is added here.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

PROVIDERS = ('openai', 'anthropic', 'google')


def upgrade():
    with op.batch_alter_table('request_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cached_tokens', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cost_usd', sa.Numeric(precision=20, scale=10), nullable=True))
        batch_op.add_column(sa.Column('unpriced', sa.Boolean(), server_default=sa.false(), nullable=False))
    # Cloud requests answered before this revision were never costed: their cost is unknown, never $0.
    records = sa.table('request_records', sa.column('status', sa.Integer()), sa.column('node', sa.String()),
                       sa.column('model', sa.String()), sa.column('unpriced', sa.Boolean()))
    op.execute(records.update()
               .where(records.c.status == 200, records.c.node.in_(PROVIDERS),
                      records.c.model.like(records.c.node + ':%'))
               .values(unpriced=True))


def downgrade():
    with op.batch_alter_table('request_records', schema=None) as batch_op:
        batch_op.drop_column('unpriced')
        batch_op.drop_column('cost_usd')
        batch_op.drop_column('cached_tokens')
