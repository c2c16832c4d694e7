"""The node's one byte formatter (`node_agent.units`): what its startup log says about memory."""

from __future__ import annotations

import pytest

from node_agent.units import GiB, MiB, format_bytes


@pytest.mark.parametrize(("value", "text"), [
    (64 * GiB, "64.0 GiB"),
    (24152899584, "22.5 GiB"),  # an NVIDIA L4
    (GiB, "1.0 GiB"),
    (GiB - 1, "1024.0 MiB"),  # just below a GiB is still counted in MiB
    (512 * MiB, "512.0 MiB"),
    (0, "0.0 MiB"),
])
def test_format_bytes(value: int, text: str) -> None:
    assert format_bytes(value) == text
