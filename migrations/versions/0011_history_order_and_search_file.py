"""history listed by time; body search index out of the main database

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

FILTERS = ('model', 'node', 'api_key_id', 'status')


def upgrade():
    # Each filter's index ends in `at`: a filtered page, newest first by time, reads its rows in order.
    with op.batch_alter_table('request_records', schema=None) as batch_op:
        for name in FILTERS:
            batch_op.drop_index(f'ix_request_records_{name}')
            batch_op.create_index(f'ix_request_records_{name}_at', [name, 'at'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':
        # The body search index moves to its own file (app/services/observability/body_search.py), where
        # neither filling nor purging it holds the history's writers up; it is filled again from the bodies.
        op.execute("DROP TRIGGER IF EXISTS request_bodies_search_delete")
        op.execute("DROP TABLE IF EXISTS request_search_progress")
        op.execute("DROP TABLE IF EXISTS request_bodies_search")


def downgrade():
    with op.batch_alter_table('request_records', schema=None) as batch_op:
        for name in FILTERS:
            batch_op.drop_index(f'ix_request_records_{name}_at')
            batch_op.create_index(f'ix_request_records_{name}', [name], unique=False)
    if op.get_bind().dialect.name == 'sqlite':
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
