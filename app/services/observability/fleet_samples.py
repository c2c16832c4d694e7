"""The fleet's counts now, and as sampled each poll for the overview's node and model graphs.

A sample is a gauge, not a sum: each poll overwrites the current minute's and hour's row with what
it sees, so a row holds the last count of its minute or hour.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ...database import FleetSample, Node, RegisteredModel, utcnow
from ...extensions import db
from ..fleet.reports import reports_by_model
from ..registry.lifecycle import summarize
from ..statuses import Lifecycle
from .rollups import HOUR, MINUTE, RESOLUTIONS, bucket_start

COUNTS = ("nodes_online", "nodes_offline", "models_ready", "models_downloading", "models_failed")


def fleet_now() -> dict[str, int]:
    """Nodes online and offline; registered models ready (on an online node), downloading, failed."""
    online = dict(db.session.execute(select(Node.online, func.count()).group_by(Node.online)).all())
    by_model = reports_by_model()
    lifecycles = [summarize(True, by_model.get(model_id, [])).lifecycle_status
                  for model_id in db.session.scalars(select(RegisteredModel.id))]
    return {"nodes_online": online.get(True, 0), "nodes_offline": online.get(False, 0),
            "models_ready": lifecycles.count(Lifecycle.READY),
            "models_downloading": lifecycles.count(Lifecycle.PENDING),
            "models_failed": lifecycles.count(Lifecycle.ERROR)}


def record(session: Session, now: datetime | None = None) -> None:
    """Write the counts as this minute's and this hour's sample (the poller calls it each cycle)."""
    counts = fleet_now()
    moment = now or utcnow()
    for resolution in RESOLUTIONS:
        session.merge(FleetSample(resolution=resolution, start=bucket_start(moment, resolution), **counts))
    session.commit()


def samples(resolution: int, since: datetime) -> dict[datetime, dict[str, Any]]:
    """The samples of one resolution from `since` on, by bucket start."""
    rows = db.session.execute(select(FleetSample).where(FleetSample.resolution == resolution,
                                                        FleetSample.start >= since)).scalars()
    return {bucket_start(row.start, resolution): {name: getattr(row, name) for name in COUNTS} for row in rows}


def purge(session: Session, minute_cutoff: datetime, hour_cutoff: datetime) -> None:
    for resolution, cutoff in ((MINUTE, minute_cutoff), (HOUR, hour_cutoff)):
        session.execute(delete(FleetSample).where(FleetSample.resolution == resolution, FleetSample.start < cutoff),
                        execution_options={"synchronize_session": False})
