"""Flask extension objects, created unbound and attached in `create_app` (the usual Flask pattern: they
hold nothing until `init_app`; what a process keeps is in `app.extensions`)."""

import sqlite3
from typing import Any

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
babel = Babel()
login_manager = LoginManager()
csrf = CSRFProtect()


@event.listens_for(Engine, "connect")
def _sqlite_settings(dbapi_connection: Any, _connection_record: Any) -> None:
    """The embedded SQLite database is shared by every gunicorn worker (and the node poller).

    WAL lets readers go on while another process writes, so a worker never waits on the poller's
    transaction; that matters under gevent, where a waiting database call stops the worker's every
    request. busy_timeout bounds the rare writer-writer wait. synchronous=NORMAL is durable in WAL
    mode except for the last transactions before a power cut (never a corrupt database).
    foreign_keys=ON makes SQLite enforce the schema's foreign keys (it does not by default): deleting a
    node then deletes its samples and model reports (ON DELETE CASCADE) instead of leaving them behind.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=5000")  # first, so that the switch below may wait its turn
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
