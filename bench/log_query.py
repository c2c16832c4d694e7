"""Log queries over a million lines: the newest 200 matches of a level + regex query, and queries that match
nothing (the whole log is read), against plain scans of the same files measured in the same run.

Targets (issue 12): newest 200 matches of a level + regex AND query p95 < 1 s; a query that matches
nothing < 3 s. What runs: `structured_logs.run_query`, exactly what `POST /v0/logs/query` (router) and
`GET /v0/logs` (node) call, in process, over generated router lines (tests/support/log_lines.py: realistic
messages, 40 % with a request id, about 9 % warnings and 3 % errors) in `router.log` and rotated files.
Baselines: reading every file (no filtering: the disk and page-cache floor), and `grep -c -E` of the same
regular expression over the files (no level, no JSON: what an operator would do by hand).

    .venv/bin/python -m bench.log_query [--lines 1000000] [--files 10] [--repeat 10]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from structured_logs import log_files, parse_query, run_query  # noqa: E402
from tests.support.log_lines import realistic, write_log  # noqa: E402

TARGET_NEWEST_P95_S = 1.0
TARGET_NOTHING_S = 3.0
MATCHING = r"node gpu-\d failed \((no answer|Connection refused)"
NOTHING = r"deadlock in worker \d+"
QUERIES = [
    ("newest 200: level>=warning AND regex", TARGET_NEWEST_P95_S, MATCHING,
     {"level": "warning", "limit": 200, "conditions": [{"field": "message", "op": "regex", "value": MATCHING}]}),
    ("nothing: level>=warning AND regex", TARGET_NOTHING_S, NOTHING,
     {"level": "warning", "conditions": [{"field": "message", "op": "regex", "value": NOTHING}]}),
    ("nothing: any level, regex", TARGET_NOTHING_S, NOTHING,
     {"conditions": [{"field": "message", "op": "regex", "value": NOTHING}]}),
    ("nothing: any level, anchored regex", TARGET_NOTHING_S, f"^{NOTHING}$",
     {"conditions": [{"field": "message", "op": "regex", "value": f"^{NOTHING}$"}]}),
    ("nothing: level>=info, logger regex", TARGET_NOTHING_S, r"app\.services\.(billing|quota)",
     {"level": "info", "conditions": [{"field": "logger", "op": "regex", "value": r"^app\.services\.(billing|quota)"}]}),
    ("nothing: level>=info, regex on any field", TARGET_NOTHING_S, r"^(deadlock|billing)",
     {"level": "info", "conditions": [{"field": "any", "op": "regex", "value": r"^(deadlock|billing)"}]}),
    ("nothing: any level, contains", TARGET_NOTHING_S, "deadlock",
     {"conditions": [{"field": "any", "op": "contains", "value": "deadlock in worker"}]}),
    ("newest 200, no filter", TARGET_NEWEST_P95_S, ".", {"limit": 200}),
]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def read_all(path: Path) -> float:
    """Seconds to read every file of the log and count its lines."""
    started = time.perf_counter()
    lines = 0
    for name in log_files(path):
        with name.open("rb") as handle:
            while block := handle.read(1 << 20):
                lines += block.count(b"\n")
    return time.perf_counter() - started


def grep(pattern: str, path: Path) -> float | None:
    if shutil.which("grep") is None:
        return None
    started = time.perf_counter()
    subprocess.run(["grep", "-c", "-E", pattern, *map(str, log_files(path))], stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=10, help="router.log and its rotated files")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="log-query-bench-") as workdir:
        path = Path(workdir) / "logs" / "router.log"
        started = time.perf_counter()
        files = write_log(path, realistic(args.lines, time.time() - args.lines * 0.01),
                          -(-args.lines // args.files))
        size = sum(name.stat().st_size for name in log_files(path))
        print(f"{args.lines:,} lines in {files} files, {size / 2 ** 20:.0f} MiB, written in "
              f"{time.perf_counter() - started:.0f} s; {args.repeat} runs per query")
        read_all(path)  # warm the page cache, as on a router that just wrote them
        read_s = statistics_median([read_all(path) for _ in range(3)])
        print(f"baseline: read every file {read_s * 1000:.0f} ms")
        print(f"{'query':42} {'lines':>6} {'p50 ms':>8} {'p95 ms':>8} {'x read':>7} {'grep ms':>8} {'x grep':>7}  target")
        failures = 0
        for name, target, pattern, body in QUERIES:
            query = parse_query(body)
            samples, found = [], 0
            for _ in range(args.repeat):
                begun = time.perf_counter()
                page = run_query(path, query, budget=60.0)
                samples.append(time.perf_counter() - begun)
                found = len(page.lines)
            p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
            grep_s = grep(pattern, path)
            grep_text = f"{grep_s * 1000:8.0f} {p95 / grep_s:7.2f}" if grep_s else f"{'-':>8} {'-':>7}"
            verdict = "meets" if p95 < target else "MISSES"
            failures += p95 >= target
            print(f"{name:42} {found:>6} {p50 * 1000:8.0f} {p95 * 1000:8.0f} {p95 / read_s:7.1f} {grep_text}  "
                  f"{verdict} < {target:g} s")
    return 1 if failures else 0


def statistics_median(samples: list[float]) -> float:
    return percentile(samples, 0.5)


if __name__ == "__main__":
    sys.exit(main())
