"""The request history at scale: a million recorded requests (bodies of about 2 KiB) in SQLite.

Targets (issue 12), each printed with a baseline measured in the same run on the same database:

- first page with a model filter: p95 < 50 ms (baseline: the first page with no filter);
- a page 10,000 rows deep by cursor: p95 < 50 ms (baseline: the first page);
- `q`, a phrase searched in every body: p95 < 500 ms (baseline: the same search as a plain LIKE scan
  of the bodies, which is what the index saves);
- the overview for 7 days: p95 < 50 ms (baseline: counting the same week's rows from the raw table);
- purging one day's rows never blocks a concurrent writer for more than 100 ms (baseline: the same
  writer's slowest batch with no purge running).

Rows are seeded straight into the tables, in the shape the history writer gives them (rollups
included), spread over the last 7 days, then added to the body search index as the scheduler's
leader does (`body_search.index_pending`); the purge then takes the oldest day. The queries are the services the API calls (`history_queries.page`, `overview.overview`).

    .venv/bin/python -m bench.history_scale [--rows 1000000] [--runs 20] [--keep DIR] [--purge-keeping 6]
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.database import RequestBody, RequestRecord, utcnow  # noqa: E402
from app.extensions import db  # noqa: E402
from app.services.observability import body_search, history, history_queries, overview, rollups  # noqa: E402

MODELS = [f"model-{n}" for n in range(20)]
NODES = [f"gpu-{n}" for n in range(8)]
WORDS = ("the router sends each request to a node that holds the model and streams the answer back "
         "latency tokens cache memory kernel batch queue prompt answer summary translate explain code "
         "東京 大阪 天気 質問 回答 翻訳 要約 モデル ノード 推論").split()
SEARCHED = "needle-phrase-4711"  # in one body out of 100,000
SEARCHED_JA = "珍しい言い回し"  # Japanese, as rare
BATCH = 5_000


def body_text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def seed(app: Any, rows: int, days: float) -> None:
    rng = random.Random(12)
    now = utcnow()
    span = timedelta(days=days).total_seconds()
    started = time.perf_counter()
    with app.app_context():
        for first in range(0, rows, BATCH):
            records, bodies = [], []
            for number in range(first, min(rows, first + BATCH)):
                at = now - timedelta(seconds=span * (1 - number / rows))  # oldest first, as they arrive
                status = rng.choices((200, 400, 404, 503), (90, 4, 3, 3))[0]
                prompt = body_text(rng, 140)
                if number % 100_000 == 7:
                    prompt += f" {SEARCHED} {SEARCHED_JA}"
                duration = rng.lognormvariate(6.5, 0.8)
                record = {"id": f"{number:032x}", "at": at, "endpoint": "/v1/chat/completions",
                          "model": rng.choice(MODELS), "node": rng.choice(NODES) if status == 200 else None,
                          "failed_nodes": [], "api_key_id": rng.randint(1, 50), "api_key_name": "bench",
                          "user": None, "client_address": "127.0.0.1", "stream": number % 2 == 0,
                          "status": status, "error_code": None if status == 200 else "bench",
                          "duration_ms": duration, "ttft_ms": duration / 5 if number % 2 == 0 else None,
                          "queue_ms": 0.0, "prompt_tokens": 180, "completion_tokens": 120 if status == 200 else None,
                          "client_request_id": None}
                records.append(record)
                bodies.append({"id": record["id"], "truncated": False,
                               "request_body": json.dumps({"model": record["model"], "messages": [
                                   {"role": "user", "content": prompt}]}, ensure_ascii=False),
                               "response_body": json.dumps({"text": body_text(rng, 60), "finish_reason": "stop"},
                                                           ensure_ascii=False)})
            db.session.execute(insert(RequestRecord), records)
            db.session.execute(insert(RequestBody), bodies)
            rollups.add(db.session, records)
            db.session.commit()
            done = first + len(records)
            if done % 100_000 == 0 or done == rows:
                rate = done / (time.perf_counter() - started)
                print(f"  seeded {done:>9,} rows ({rate:,.0f} rows/s)", flush=True)


def index(app: Any) -> None:
    """Add every body not yet in the search index, as the scheduler's leader does every few seconds."""
    with app.app_context():
        started = time.perf_counter()
        indexed = body_search.index_pending()
        seconds = time.perf_counter() - started
    if indexed:
        print(f"  indexed {indexed:,} bodies for q in {seconds:.0f} s ({indexed / seconds:,.0f} bodies/s)", flush=True)


def timed(runs: int, action: Any) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50": statistics.median(samples), "p95": samples[max(0, round(0.95 * len(samples)) - 1)]}


def queries(app: Any, runs: int) -> list[tuple[str, dict[str, float], str, dict[str, float], float]]:
    """(what, its times, baseline, the baseline's times, target p95 ms) for each query."""
    with app.app_context():
        deep_row = db.session.scalars(select(RequestRecord).order_by(RequestRecord.at.desc(), RequestRecord.seq.desc())
                                      .offset(10_000).limit(1)).one()
        deep_cursor = history_queries.cursor_after(deep_row)  # what the page 10,000 rows before it hands on
        page = history_queries.page
        found = page({"q": SEARCHED}).records
        found_ja = page({"q": SEARCHED_JA}).records
        assert found and found_ja, "the seeded phrases were not found"

        def week_from_rows() -> None:
            since = utcnow() - timedelta(days=7)
            db.session.execute(select(func.count(), func.sum(RequestRecord.completion_tokens))
                               .where(RequestRecord.at >= since)).one()

        def like_scan() -> None:
            db.session.execute(text("SELECT count(*) FROM request_bodies WHERE request_body LIKE :p"),
                               {"p": f"%{SEARCHED}%"}).one()

        first = timed(runs, lambda: page({}))
        return [
            ("first page, model filter", timed(runs, lambda: page({"model": MODELS[3]})), "first page, no filter",
             first, 50),
            ("page 10,000 rows deep (cursor)", timed(runs, lambda: page({"cursor": deep_cursor})),
             "first page, no filter", first, 50),
            ("q in every body", timed(runs, lambda: page({"q": SEARCHED})), "LIKE scan of the bodies",
             timed(max(2, runs // 10), like_scan), 500),
            ("q in every body (Japanese)", timed(runs, lambda: page({"q": SEARCHED_JA})), "LIKE scan of the bodies",
             timed(max(2, runs // 10), like_scan), 500),
            ("overview, 7 days", timed(runs, lambda: overview.overview("7d")), "counting the week's raw rows",
             timed(max(2, runs // 4), week_from_rows), 50),
        ]


def purge_while_writing(app: Any, keep_days: float) -> tuple[float, float, int]:
    """The longest a writer waited for the database's write lock (ms) with no purge, then while what
    is older than `keep_days` (the oldest day) is purged; rows purged."""
    def writer(stop: threading.Event, slowest: list[float], waits: list[float], offset: int) -> None:
        number = offset
        with app.app_context():
            while not stop.is_set():
                rows = [{"id": secrets.token_hex(16), "at": utcnow(), "endpoint": "/v1/chat/completions",
                         "failed_nodes": [], "stream": False, "status": 200, "duration_ms": 5.0, "queue_ms": 0.0}
                        for i in range(50)]
                started = time.perf_counter()
                if db.session.get_bind().dialect.name == "sqlite":
                    # The main database's write lock first, to time the wait for it alone (BEGIN IMMEDIATE
                    # would lock the attached search index too, which the history's writers never write).
                    db.session.execute(text("BEGIN"))
                    db.session.execute(text("DELETE FROM request_records WHERE seq = -1"))
                waits.append((time.perf_counter() - started) * 1000)
                db.session.execute(insert(RequestRecord), rows)
                db.session.execute(insert(RequestBody), [{"id": row["id"], "request_body": "{}", "response_body": "{}",
                                                          "truncated": False} for row in rows])
                rollups.add(db.session, rows)
                db.session.commit()
                slowest.append((time.perf_counter() - started) * 1000)
                number += 50
                time.sleep(0.02)

    def run(seconds: float | None, offset: int, action: Any = None) -> tuple[float, Any]:
        stop, slowest, waits = threading.Event(), [], []
        thread = threading.Thread(target=writer, args=(stop, slowest, waits, offset))
        thread.start()
        result = None
        if action is None:
            time.sleep(seconds or 0)
        else:
            result = action()
        stop.set()
        thread.join()
        slowest.sort()
        print(f"  writer batches: {len(slowest)}, p50 {slowest[len(slowest) // 2]:.1f} ms, p99 "
              f"{slowest[int(len(slowest) * 0.99)]:.1f} ms, slowest {slowest[-1]:.1f} ms; longest wait for the "
              f"write lock {max(waits):.1f} ms", flush=True)
        return max(waits), result

    quiet, _ = run(5.0, 0)
    busy, removed = run(None, 10_000_000, lambda: history.purge(app, keep_days))
    return quiet, busy, removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the database in this folder (seeded once, reused)")
    parser.add_argument("--purge-keeping", type=float, default=6.0,
                        help="days the purge keeps (6: the oldest of the 7 seeded days goes; with --keep, one "
                             "day less than the run before)")
    args = parser.parse_args()
    days = 7.0
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="history-scale-"))
    instance = workdir / "instance"
    reuse = args.keep is not None and (instance / "router.db").exists()
    app = create_app({"INSTANCE_PATH": str(instance), "HF_ENDPOINT": "http://127.0.0.1:9",
                      "SCHEDULER_ENABLED": False, "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "bench password"})
    try:
        if not reuse:
            print(f"seeding {args.rows:,} requests over {days:g} days (bodies ~2 KiB) in {instance}")
            seed(app, args.rows, days)
        index(app)
        database = instance / "router.db"
        print(f"database: {sum(p.stat().st_size for p in instance.glob('router.db*')) / 2**30:.2f} GiB, body search "
              f"index: {sum(p.stat().st_size for p in instance.glob('router-search.db*')) / 2**30:.2f} GiB\n")
        print(f"{'query':34} {'p50 ms':>8} {'p95 ms':>8} {'target':>8}   baseline (p95 ms, ratio)")
        for name, times, base_name, base, target in queries(app, args.runs):
            verdict = "ok" if times["p95"] < target else "MISSED"
            print(f"{name:34} {times['p50']:8.1f} {times['p95']:8.1f} {'<' + str(target):>8} {verdict:6} "
                  f"{base_name}: {base['p95']:.1f} ({base['p95'] / times['p95']:.1f}x)")
        quiet, busy, removed = purge_while_writing(app, args.purge_keeping)
        verdict = "ok" if busy < 100 else "MISSED"
        print(f"\npurge of what is older than {args.purge_keeping:g} days ({removed:,} rows): a concurrent writer "
              f"waited {busy:.1f} ms at most for the write lock "
              f"(target < 100) {verdict}; without a purge {quiet:.1f} ms ({busy / quiet:.1f}x)")
        del database
    finally:
        app.extensions["history"].close()
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
