"""The fleet's counts and their samples (app/services/observability/fleet_samples.py): what counts as online,
ready, downloading and failed; one row per minute and per hour, overwritten by each poll; reading them from
a moment on; and the purge's cutoffs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.database import FleetSample
from app.extensions import db
from app.services.observability import fleet_samples
from app.services.observability.rollups import HOUR, MINUTE, bucket_start
from app.services.registry import models as registry
from tests.support.rows import add_node, add_report

NOW = datetime(2026, 12, 3, 10, 30, 10, tzinfo=timezone.utc)
EMPTY = dict.fromkeys(fleet_samples.COUNTS, 0)


@pytest.fixture
def context(app) -> Iterator[None]:
    with app.app_context():
        yield


def stored() -> dict[tuple[int, datetime], dict[str, int]]:
    """Every sample row, by (resolution, start in UTC)."""
    return {(row.resolution, bucket_start(row.start, row.resolution)): {name: getattr(row, name)
                                                                         for name in fleet_samples.COUNTS}
            for row in db.session.scalars(select(FleetSample))}


def counts(**nonzero: int) -> dict[str, int]:
    return {**EMPTY, **nonzero}


def test_an_empty_fleet_counts_nothing(context):
    assert fleet_samples.fleet_now() == EMPTY


def test_what_counts_as_ready_downloading_and_failed(context):
    online, offline = add_node("gpu-1"), add_node("gpu-2", url="http://127.0.0.1:10", online=False)
    for model_id in ("qwen3-0.6b", "phi-4", "gemma-3-4b-it", "llama-3.2-3b-instruct", "all-minilm-l6-v2"):
        registry.register({"id": model_id})
    add_report(online, "qwen3-0.6b", "ready")
    add_report(offline, "phi-4", "ready")  # ready only where nobody can reach it: not counted as ready
    add_report(online, "gemma-3-4b-it", "downloading", 10, 100)
    add_report(offline, "gemma-3-4b-it", "error", error="disk full")  # still downloading elsewhere
    add_report(online, "llama-3.2-3b-instruct", "error", error="disk full")
    add_report(offline, "llama-3.2-3b-instruct", "error", error="no GPU")  # failed everywhere
    # all-minilm-l6-v2: registered, reported by no node, so in none of the counts
    assert fleet_samples.fleet_now() == {"nodes_online": 1, "nodes_offline": 1, "models_ready": 1,
                                         "models_downloading": 1, "models_failed": 1}


def test_each_poll_overwrites_its_minute_and_its_hour(context):
    fleet_samples.record(db.session, now=NOW)
    node = add_node("gpu-1")
    fleet_samples.record(db.session, now=NOW + timedelta(seconds=40))  # the same minute
    minute, hour = datetime(2026, 12, 3, 10, 30, tzinfo=timezone.utc), datetime(2026, 12, 3, 10, tzinfo=timezone.utc)
    assert stored() == {(MINUTE, minute): counts(nodes_online=1), (HOUR, hour): counts(nodes_online=1)}

    node.online = False
    db.session.commit()
    fleet_samples.record(db.session, now=NOW + timedelta(minutes=2))  # another minute, the same hour
    assert stored() == {(MINUTE, minute): counts(nodes_online=1),
                        (MINUTE, minute + timedelta(minutes=2)): counts(nodes_offline=1),
                        (HOUR, hour): counts(nodes_offline=1)}  # the hour keeps its last count, not a sum


def test_samples_of_one_resolution_from_a_moment_on(context):
    for minutes in (0, 1, 61):
        fleet_samples.record(db.session, now=NOW + timedelta(minutes=minutes))
    minute = datetime(2026, 12, 3, 10, 30, tzinfo=timezone.utc)
    assert sorted(fleet_samples.samples(MINUTE, minute + timedelta(minutes=1))) == \
        [minute + timedelta(minutes=1), minute + timedelta(minutes=61)]
    assert fleet_samples.samples(HOUR, minute) == {datetime(2026, 12, 3, 11, tzinfo=timezone.utc): EMPTY}
    assert set(fleet_samples.samples(HOUR, minute - timedelta(hours=1))) == \
        {datetime(2026, 12, 3, 10, tzinfo=timezone.utc), datetime(2026, 12, 3, 11, tzinfo=timezone.utc)}


def test_purge_removes_only_rows_older_than_each_resolutions_cutoff(context):
    for hours in (0, 1, 2, 3):
        fleet_samples.record(db.session, now=NOW + timedelta(hours=hours))
    start = datetime(2026, 12, 3, 10, 30, tzinfo=timezone.utc)
    fleet_samples.purge(db.session, minute_cutoff=start + timedelta(hours=2), hour_cutoff=start + timedelta(hours=1))
    db.session.commit()  # the caller's transaction (history.purge commits it)
    assert sorted(stored()) == [
        (MINUTE, start + timedelta(hours=2)), (MINUTE, start + timedelta(hours=3)),  # at the cutoff: kept
        (HOUR, datetime(2026, 12, 3, 12, tzinfo=timezone.utc)), (HOUR, datetime(2026, 12, 3, 13, tzinfo=timezone.utc)),
    ]
