"""Hardware facts and live metrics of this machine, with the standard library only.

Why no psutil: the agent must install with the router's pinned requirements. Linux exposes what
the router needs in /proc (memory, CPU time) and NVIDIA GPUs through `nvidia-smi`; elsewhere the
functions fall back to what `os` offers or report nothing. None of them raises: a metric that
cannot be read must not stop a status answer or a registration.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

from node_agent.units import MiB

__all__ = ["Gpu", "cpu_count", "memory", "gpus", "CpuSampler", "metrics"]

log = logging.getLogger(__name__)

NVIDIA_SMI_TIMEOUT = 5.0
_NVIDIA_QUERY = ["--query-gpu=name,memory.total,memory.used,utilization.gpu", "--format=csv,noheader,nounits"]
# Two /proc/stat readings closer than this give a noisy percentage: keep the previous value instead.
_MIN_CPU_SAMPLE_SECONDS = 0.5


@dataclass(frozen=True)
class Gpu:
    """One GPU as nvidia-smi reports it (memory in bytes, utilisation in percent; None if unknown)."""

    name: str
    memory_total_bytes: int
    memory_used_bytes: int | None
    utilization_percent: float | None


def cpu_count() -> int:
    return os.cpu_count() or 1


def _meminfo() -> dict[str, int]:
    """/proc/meminfo as {field: bytes}; empty where there is no /proc."""
    values: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    values[key] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    except OSError:
        pass
    return values


def memory() -> tuple[int, int]:
    """(total, used) bytes; used = total - available (what the kernel could hand out without swapping)."""
    info = _meminfo()
    total = info.get("MemTotal", 0)
    if total:
        available = info.get("MemAvailable", info.get("MemFree", 0))
        return total, max(0, total - available)
    try:  # macOS and other Unixes: total only
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 0
    return total, 0


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def gpus() -> list[Gpu]:
    """NVIDIA GPUs from nvidia-smi; [] when it is missing, fails or takes too long."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    try:
        result = subprocess.run([executable, *_NVIDIA_QUERY], capture_output=True, text=True,
                                timeout=NVIDIA_SMI_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("nvidia-smi failed: %s", exc)
        return []
    if result.returncode != 0:
        log.debug("nvidia-smi exited with %d: %s", result.returncode, result.stderr.strip()[:200])
        return []
    found = []
    for line in result.stdout.splitlines():
        fields = [part.strip() for part in line.split(",")]
        if len(fields) != 4 or not fields[0]:
            continue
        total, used, utilization = (_number(value) for value in fields[1:])
        if total is None:
            continue
        found.append(Gpu(fields[0], int(total * MiB), None if used is None else int(used * MiB), utilization))
    return found


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies from the first line of /proc/stat; None where there is no /proc."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(value) for value in fields[1:] if value.isdigit()]
    if len(values) < 4:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user/nice
    return total - idle, total


class CpuSampler:
    """CPU use in percent between successive calls (the router polls every few seconds).

    The first call reports the average since boot, which is the best there is without waiting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = _cpu_times()
        self._last_at = time.monotonic()
        self._percent = self._since_boot(self._last)

    @staticmethod
    def _since_boot(times: tuple[int, int] | None) -> float:
        if not times or times[1] <= 0:
            return 0.0
        return round(100.0 * times[0] / times[1], 1)

    def percent(self) -> float:
        with self._lock:
            now = time.monotonic()
            if now - self._last_at < _MIN_CPU_SAMPLE_SECONDS:
                return self._percent
            current = _cpu_times()
            if current is not None and self._last is not None and current[1] > self._last[1]:
                busy, total = current[0] - self._last[0], current[1] - self._last[1]
                self._percent = round(min(100.0, max(0.0, 100.0 * busy / total)), 1)
            self._last, self._last_at = current, now
            return self._percent


def metrics(cpu: CpuSampler, gpu_list: list[Gpu] | None = None) -> dict[str, Any]:
    """The `metrics` object of GET /v0/status (docs/protocol.md)."""
    total, used = memory()
    listed = gpus() if gpu_list is None else gpu_list
    return {
        "cpu_percent": cpu.percent(),
        "memory_used_bytes": used,
        "memory_total_bytes": total,
        "gpus": [{"name": gpu.name, "utilization_percent": gpu.utilization_percent,
                  "memory_used_bytes": gpu.memory_used_bytes, "memory_total_bytes": gpu.memory_total_bytes}
                 for gpu in listed],
    }
