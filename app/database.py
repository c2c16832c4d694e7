"""Database models: the router stores metadata only, never model files (FR-5)."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Numeric, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def iso_utc(moment: datetime | None) -> str | None:
    """How the API shows a stored time: ISO 8601 in UTC, to the second."""
    return as_utc(moment).isoformat(timespec="seconds") if moment else None


class RegisteredModel(db.Model):
    """A model the fleet should hold. The primary key is what makes "first one wins" hold under
    concurrent registration: the second insert fails on the constraint, not on a prior check."""

    __tablename__ = "registered_models"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # "supported" | "url"
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    repo: Mapped[str] = mapped_column(String(255))
    revision: Mapped[str] = mapped_column(String(64), default="main")
    filename: Mapped[str] = mapped_column(String(255))
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    format: Mapped[str] = mapped_column(String(32))
    engine: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    required_memory_bytes: Mapped[int] = mapped_column(BigInteger)
    quantization: Mapped[str | None] = mapped_column(String(64), nullable=True)
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    platforms: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    cancelled: Mapped[bool] = mapped_column(default=False)
    # Raised by every retry; in the manifest it tells nodes to try a failed download again at once.
    attempt: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(db.Model):
    """A dashboard / API user. `uid` is random and never reused (SQLite hands a deleted user's `id` to
    the next one): JWTs name it, so a token can never open another user's account. `session_version`
    changes with the password or role, which ends every JWT issued before; browser sign-ins are
    `SignIn` rows, ended with it too."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_hex(16))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # "admin" | "viewer"
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    # Flask-Login's user protocol
    is_authenticated = True
    is_active = True
    is_anonymous = False
    sign_in_id = None  # not stored: the `SignIn` this request was authenticated by (app.access sets it)

    def get_id(self) -> str:
        """What the session and the remember cookie hold: the sign-in, never the user's id, so that
        logout (deleting the row) ends both, and nothing in them can come to name another user."""
        if not self.sign_in_id:
            raise RuntimeError("sign users in with app.access.sign_in, which records the sign-in")
        return self.sign_in_id


class SignIn(db.Model):
    """One browser's sign-in (the `/login` form): its random id is what the session and remember
    cookies carry. Logout deletes the row, so a copy of either cookie stops working; a password or
    role change deletes all of the user's rows; a row older than SESSION_DAYS is expired."""

    __tablename__ = "sign_ins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_uid: Mapped[str] = mapped_column(String(32), ForeignKey("users.uid", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(db.Model):
    """An API key; only its SHA-256 is stored (keys are long random strings, so a slow hash buys nothing)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LoginFailures(db.Model):
    """Failed logins per user name, per client address and per (name, address), shared by every worker
    (brute-force guard, app/services/accounts/login_guard.py)."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "user:<name>", "addr:<ip>", "pair:<ip> <name>"
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RevokedToken(db.Model):
    """JWTs ended by logout before they expire (kept until their expiry)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Node(db.Model):
    """An inference machine running the node agent. `token` is what the router sends to the node
    (the node refuses calls without it); it is replaced at every registration."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(32))
    engines: Mapped[list[str]] = mapped_column(JSON)
    cpu_count: Mapped[int] = mapped_column(default=0)
    memory_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    gpus: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    version: Mapped[str] = mapped_column(String(32), default="")
    token: Mapped[str] = mapped_column(String(64))
    online: Mapped[bool] = mapped_column(default=True)
    failed_polls: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active_requests: Mapped[int] = mapped_column(default=0)
    loaded_models: Mapped[list[str]] = mapped_column(JSON, default=list)  # engines in memory, as last reported
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def capacity_bytes(self) -> int:
        """Memory a model must fit in: the largest GPU's on GPU nodes, system memory otherwise."""
        gpu_memory = [int(gpu.get("memory_bytes") or 0) for gpu in self.gpus or []]
        return max(gpu_memory) if gpu_memory else self.memory_bytes


class NodeModel(db.Model):
    """A node's latest report about one model (the router's view of FR-7 progress)."""

    __tablename__ = "node_models"

    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    downloaded_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NodeSample(db.Model):
    """One poll's metrics, kept for the node history graphs."""

    __tablename__ = "node_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    online: Mapped[bool] = mapped_column(default=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active_requests: Mapped[int] = mapped_column(default=0)


class RequestRecord(db.Model):
    """One `/v1` request, as the history lists it (bodies apart, in `RequestBody`, so that lists never
    read them). Lists go newest first by `at`, then `seq` (each gunicorn worker writes its own batches, so
    insertion order is not answer order); the cursor is both. Each filter's index ends in `at`, so a
    filtered page reads its rows in order. `id` is the X-Request-Id."""

    __tablename__ = "request_records"
    __table_args__ = tuple(db.Index(f"ix_request_records_{name}_at", name, "at")
                           for name in ("model", "node", "api_key_id", "status"))

    seq: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    client_request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(255), nullable=True)
    node: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the node that answered
    failed_nodes: Mapped[list[str]] = mapped_column(JSON, default=list)  # tried first, and failed over
    api_key_id: Mapped[int | None] = mapped_column(nullable=True)
    api_key_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    user: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stream: Mapped[bool] = mapped_column(default=False)
    status: Mapped[int] = mapped_column()
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duration_ms: Mapped[float] = mapped_column(default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column(nullable=True)
    queue_ms: Mapped[float] = mapped_column(default=0.0)
    prompt_tokens: Mapped[int | None] = mapped_column(nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(nullable=True)
    cached_tokens: Mapped[int | None] = mapped_column(nullable=True)  # of prompt_tokens, read from a cache
    # A cloud request's cost in USD, computed when it was recorded (later price changes never rewrite it);
    # `unpriced`: answered, but no price was known, so its cost is unknown (null, never 0).
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(20, 10), nullable=True)
    unpriced: Mapped[bool] = mapped_column(default=False, server_default=false())


class RequestBody(db.Model):
    """A recorded request's bodies, each cut to LLM_ROUTER_REQUEST_HISTORY_MAX_BODY_BYTES (`truncated`)."""

    __tablename__ = "request_bodies"

    id: Mapped[str] = mapped_column(ForeignKey("request_records.id", ondelete="CASCADE"), primary_key=True)
    request_body: Mapped[str] = mapped_column(Text, default="")
    response_body: Mapped[str] = mapped_column(Text, default="")
    truncated: Mapped[bool] = mapped_column(default=False)


class RequestRollup(db.Model):
    """The history's figures summed per minute (`resolution` 60) and per hour (3600), written by the
    history writer with each batch, so that the overview never scans raw rows. The counts are sums:
    several writers (several routers) add to the same row with an upsert."""

    __tablename__ = "request_rollups"
    __table_args__ = {"sqlite_with_rowid": False}

    resolution: Mapped[int] = mapped_column(primary_key=True)  # seconds: 60 or 3600
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    requests: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)  # answered 5xx: the fleet failed
    client_errors: Mapped[int] = mapped_column(default=0)  # answered 4xx: the client's mistake
    refused: Mapped[int] = mapped_column(default=0)  # queue_full or queue_timeout: the queue turned it away
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    generation_ms: Mapped[float] = mapped_column(default=0.0)  # duration of the answers that had tokens
    # Read from this row's bins by the writer that last added to them (a percentile is no sum): the
    # graphs' per-bucket figures, without reading every bin of a week.
    latency_p50_ms: Mapped[float | None] = mapped_column(nullable=True)
    latency_p95_ms: Mapped[float | None] = mapped_column(nullable=True)
    ttft_p50_ms: Mapped[float | None] = mapped_column(nullable=True)


class RequestRollupBin(db.Model):
    """One bucket of a latency histogram (`metric` "latency" or "ttft") for one rollup row: counts on
    a logarithmic scale (each bin ~10% wide), additive like the rollup, from which p50/p95 are read."""

    __tablename__ = "request_rollup_bins"
    __table_args__ = {"sqlite_with_rowid": False}

    resolution: Mapped[int] = mapped_column(primary_key=True)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    bin: Mapped[int] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class FleetSample(db.Model):
    """The fleet's counts at the end of a minute (`resolution` 60) or an hour (3600), written by the
    poller, for the overview's node and model graphs."""

    __tablename__ = "fleet_samples"
    __table_args__ = {"sqlite_with_rowid": False}

    resolution: Mapped[int] = mapped_column(primary_key=True)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    nodes_online: Mapped[int] = mapped_column(default=0)
    nodes_offline: Mapped[int] = mapped_column(default=0)
    models_ready: Mapped[int] = mapped_column(default=0)
    models_downloading: Mapped[int] = mapped_column(default=0)
    models_failed: Mapped[int] = mapped_column(default=0)


class Alert(db.Model):
    """Something an operator should know about: raised once per `key` while it lasts, resolved when
    the condition clears (a node back online, an error rate back under the threshold)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), index=True)  # e.g. "node_offline:gpu-1"
    kind: Mapped[str] = mapped_column(String(32))  # node_offline, download_failed, error_rate, queue_refused
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)  # the node or model concerned
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LogFilter(db.Model):
    """A saved Logs page query, owned by one user; names are unique per user."""

    __tablename__ = "log_filters"
    __table_args__ = (db.UniqueConstraint("user_id", "name", name="uq_log_filters_user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Setting(db.Model):
    """A value set on the settings page (app/services/settings): JSON text; a secret's is sealed (SecretBox)."""

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class SettingsVersion(db.Model):
    """One row (id 1) whose `version` grows with every change of `settings`: each worker reads it every few
    seconds, a query cheap enough for the request path, and reloads the settings only when it moved."""

    __tablename__ = "settings_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
