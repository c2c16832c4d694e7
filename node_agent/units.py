"""Byte units of the node agent, and the one way it writes a byte count for a person (its log).

Why here: the downloader's chunk sizes, nvidia-smi's MiB figures and the startup log all count in
binary units; defining them once keeps every message in the same units and spelling.
"""

from __future__ import annotations

__all__ = ["KiB", "MiB", "GiB", "format_bytes"]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


def format_bytes(value: int) -> str:
    """Bytes for a person, one decimal: GiB for machines, MiB below (the small memory overrides tests use)."""
    return f"{value / GiB:.1f} GiB" if value >= GiB else f"{value / MiB:.1f} MiB"
