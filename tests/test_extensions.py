"""The embedded SQLite database as several gunicorn workers share it (app/extensions.py)."""

from __future__ import annotations

from sqlalchemy import text

from app.extensions import db


def test_sqlite_runs_in_wal_mode(app) -> None:
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_a_reader_does_not_hold_up_a_writer(app) -> None:
    """A worker reading (an open read transaction) while another commits: in SQLite's default
    rollback-journal mode the commit would wait for the reader (busy_timeout, then 'database is
    locked'); in WAL mode it goes through at once and the reader keeps its snapshot."""
    with app.app_context():
        reader, writer = db.engine.raw_connection(), db.engine.raw_connection()
        try:
            read = reader.cursor()
            read.execute("BEGIN")
            before = read.execute("SELECT count(*) FROM login_failures").fetchone()[0]
            write = writer.cursor()
            write.execute("PRAGMA busy_timeout=0")  # fail at once instead of waiting, if it would wait
            write.execute("DELETE FROM login_failures")
            write.execute("INSERT INTO login_failures (key, failures, last_failure_at) VALUES ('addr:192.0.2.1', 1, '2026-01-01 00:00:00')")
            writer.commit()
            assert read.execute("SELECT count(*) FROM login_failures").fetchone()[0] == before  # its snapshot
            reader.commit()
            assert read.execute("SELECT count(*) FROM login_failures").fetchone()[0] == 1
        finally:
            reader.close()
            writer.close()
