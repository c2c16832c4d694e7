"""The three status vocabularies, each with its values and transitions (docs/protocol.md says the same).

They share words ("pending", "downloading") but not meanings, so each has its own type:

- `ReportState`: what one node says about one model it was asked to hold (the node protocol's
  `models[].state`). A node moves a model pending -> downloading -> ready, or to error from either;
  a retry (a new `attempt` in the manifest) starts it at pending again.
- `Lifecycle`: one registered model, derived from every node's report (the API's `lifecycle_status`).
  registered (no node has started) -> pending (a node is fetching) -> ready (ready on an online
  node); error when every node holding it failed, or an admin cancelled it. Retry goes back to
  registered.
- `HubStatus`: a catalog entry on the Model Hub page (the API's `status`): available (on no node)
  -> downloading -> downloaded (ready on a node).

The values are `StrEnum`s: each compares equal to its string, so the database, JSON and templates
keep plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class ReportState(StrEnum):
    PENDING = "pending"
    DOWNLOADING = "downloading"
    READY = "ready"
    ERROR = "error"


class Lifecycle(StrEnum):
    REGISTERED = "registered"
    PENDING = "pending"
    READY = "ready"
    ERROR = "error"


class HubStatus(StrEnum):
    AVAILABLE = "available"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"


REPORT_TRANSITIONS: dict[ReportState, frozenset[ReportState]] = {
    ReportState.PENDING: frozenset({ReportState.DOWNLOADING, ReportState.READY, ReportState.ERROR}),
    ReportState.DOWNLOADING: frozenset({ReportState.READY, ReportState.ERROR}),
    ReportState.READY: frozenset({ReportState.PENDING}),  # a retry, or the files changed on disk
    ReportState.ERROR: frozenset({ReportState.PENDING}),  # a retry
}
LIFECYCLE_TRANSITIONS: dict[Lifecycle, frozenset[Lifecycle]] = {
    Lifecycle.REGISTERED: frozenset({Lifecycle.PENDING, Lifecycle.READY, Lifecycle.ERROR}),
    Lifecycle.PENDING: frozenset({Lifecycle.READY, Lifecycle.ERROR}),
    Lifecycle.READY: frozenset({Lifecycle.PENDING, Lifecycle.ERROR}),  # its nodes went offline; cancelled
    Lifecycle.ERROR: frozenset({Lifecycle.REGISTERED}),  # retry
}
HUB_TRANSITIONS: dict[HubStatus, frozenset[HubStatus]] = {
    HubStatus.AVAILABLE: frozenset({HubStatus.DOWNLOADING, HubStatus.DOWNLOADED}),
    HubStatus.DOWNLOADING: frozenset({HubStatus.DOWNLOADED, HubStatus.AVAILABLE}),
    HubStatus.DOWNLOADED: frozenset({HubStatus.AVAILABLE}),  # deleted
}
FETCHING = frozenset({ReportState.PENDING, ReportState.DOWNLOADING})
