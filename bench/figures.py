"""Benchmark: day 2 on the 5-node lab (three managers, two workers) under the real Pulumi engine. Each of RUNS
rounds runs tests/test_engine_lab5.py (the lab at LAB_SIZE=5 from its fixture; the test asserts the behaviour: 0
failed requests on the nodes not being changed, the Swarm and the page after each change) and collects the figures
it prints (`figure: NAME = VALUE`): the seconds for a new Raft leader after the first manager stops, each `pulumi
up` of a change (drain, forgetting the lost first manager, adding its replacement) while the other nodes are asked
for the page, and the number of requests answered meanwhile. Prints min / median / max. Asserts nothing itself; a
round whose test fails stops the bench with its output. Usage (as root, Docker engine running): uv run python
bench/day2.py [RUNS]."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"^figure: (.+) = ([0-9.]+)$", re.MULTILINE)


def one_round() -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/test_engine_lab5.py"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the day-2 test failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}")
    return {name: float(value) for name, value in FIGURE.findall(done.stdout)}


def main(runs: int) -> None:
    rows: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, value in one_round().items():
            rows.setdefault(name, []).append(value)
    width = max(map(len, rows))
    print(f"{'what':<{width}}  {'min':>7} {'median':>7} {'max':>7}   ({runs} runs)")
    for name, values in rows.items():
        print(f"{name:<{width}}  {min(values):7.1f} {statistics.median(values):7.1f} {max(values):7.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
