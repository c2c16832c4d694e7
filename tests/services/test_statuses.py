"""The three status vocabularies (app/services/statuses.py): complete transition tables that name only
their own members, and the strings the protocol, the API and the README use."""

from __future__ import annotations

import pytest

from app.services.statuses import (
    FETCHING,
    HUB_TRANSITIONS,
    LIFECYCLE_TRANSITIONS,
    REPORT_TRANSITIONS,
    HubStatus,
    Lifecycle,
    ReportState,
)

TABLES = [(ReportState, REPORT_TRANSITIONS), (Lifecycle, LIFECYCLE_TRANSITIONS), (HubStatus, HUB_TRANSITIONS)]


@pytest.mark.parametrize("vocabulary, transitions", TABLES, ids=["report", "lifecycle", "hub"])
def test_every_value_has_transitions_naming_only_members(vocabulary, transitions):
    assert set(transitions) == set(vocabulary)
    for source, targets in transitions.items():
        assert targets, f"{source} leads nowhere"
        assert all(type(target) is vocabulary for target in targets), (source, targets)
        assert source not in targets


@pytest.mark.parametrize("vocabulary, values", [
    (ReportState, ["pending", "downloading", "ready", "error"]),  # docs/protocol.md, models[].state
    (Lifecycle, ["registered", "pending", "ready", "error"]),     # README: lifecycle_status
    (HubStatus, ["available", "downloading", "downloaded"]),      # README: status on /v0/models/hub
])
def test_values_are_the_documented_strings(vocabulary, values):
    assert [member.value for member in vocabulary] == values
    assert all(member == value and str(member) == value for member, value in zip(vocabulary, values))


def test_each_vocabulary_reaches_every_value_from_its_start():
    for start, transitions in ((ReportState.PENDING, REPORT_TRANSITIONS),
                               (Lifecycle.REGISTERED, LIFECYCLE_TRANSITIONS), (HubStatus.AVAILABLE, HUB_TRANSITIONS)):
        seen, frontier = {start}, [start]
        while frontier:
            for target in transitions[frontier.pop()] - seen:
                seen.add(target)
                frontier.append(target)
        assert seen == set(transitions)


def test_fetching_is_the_report_states_before_ready():
    assert FETCHING == {ReportState.PENDING, ReportState.DOWNLOADING}
    assert "downloading" in FETCHING and "ready" not in FETCHING
