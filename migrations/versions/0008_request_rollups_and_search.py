"""request rollups, fleet samples and the body search index

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'request_rollups',
        sa.Column('resolution', sa.Integer(), nullable=False),
        sa.Column('start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('requests', sa.Integer(), nullable=False),
        sa.Column('errors', sa.Integer(), nullable=False),
        sa.Column('client_errors', sa.Integer(), nullable=False),
        sa.Column('refused', sa.Integer(), nullable=False),
        sa.Column('prompt_tokens', sa.BigInteger(), nullable=False),
        sa.Column('completion_tokens', sa.BigInteger(), nullable=False),
        sa.Column('generation_ms', sa.Float(), nullable=False),
        sa.Column('latency_p50_ms', sa.Float(), nullable=True),
        sa.Column('latency_p95_ms', sa.Float(), nullable=True),
        sa.Column('ttft_p50_ms', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('resolution', 'start'),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'request_rollup_bins',
        sa.Column('resolution', sa.Integer(), nullable=False),
        sa.Column('start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('metric', sa.String(length=16), nullable=False),
        sa.Column('bin', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('resolution', 'start', 'metric', 'bin'),
        sqlite_with_rowid=False,  # stored in key order: a window's bins are one sequential read
    )
    op.create_table(
        'fleet_samples',
        sa.Column('resolution', sa.Integer(), nullable=False),
        sa.Column('start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('nodes_online', sa.Integer(), nullable=False),
        sa.Column('nodes_offline', sa.Integer(), nullable=False),
        sa.Column('models_ready', sa.Integer(), nullable=False),
        sa.Column('models_downloading', sa.Integer(), nullable=False),
        sa.Column('models_failed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('resolution', 'start'),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == 'sqlite':
        # `q` searches every body: a trigram index narrows any substring of three characters or more
        # (Japanese included) to the few bodies holding all its trigrams, without reading the others.
        # detail=none (no positions): a third of the write cost and half the size of a full index; the
        # candidates are checked with LIKE anyway. The scheduler's leader adds new bodies in bulk
        # (`body_search.index_pending`), up to `indexed_rowid`; what lies beyond is scanned.
        op.execute(
            "CREATE VIRTUAL TABLE request_bodies_search USING fts5("
            "request_body, response_body, content='request_bodies', content_rowid='rowid', "
            "tokenize='trigram', detail='none')"
        )
        op.execute("CREATE TABLE request_search_progress (id INTEGER PRIMARY KEY, indexed_rowid INTEGER NOT NULL)")
        op.execute("INSERT INTO request_search_progress (id, indexed_rowid) VALUES (1, 0)")
        op.execute(
            "CREATE TRIGGER request_bodies_search_delete AFTER DELETE ON request_bodies "
            "WHEN old.rowid <= (SELECT indexed_rowid FROM request_search_progress WHERE id = 1) BEGIN "
            "INSERT INTO request_bodies_search(request_bodies_search, rowid, request_body, response_body) "
            "VALUES ('delete', old.rowid, old.request_body, old.response_body); END"
        )


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS request_bodies_search_delete")
        op.execute("DROP TABLE IF EXISTS request_search_progress")
        op.execute("DROP TABLE IF EXISTS request_bodies_search")
    op.drop_table('fleet_samples')
    op.drop_table('request_rollup_bins')
    op.drop_table('request_rollups')
