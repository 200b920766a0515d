"""Benchmark: the figures a lab test prints, over RUNS rounds. Each round runs TEST_FILE under pytest (its fixtures
bring up what it needs; the test asserts the behaviour) and collects the lines `figure: NAME = VALUE` it prints;
then prints min / median / max per figure. Asserts nothing itself; a round whose test fails stops the bench with
its output. Usage (as root, Docker engine running): uv run python bench/figures.py TEST_FILE [RUNS], e.g.

    bench/figures.py tests/test_engine_lab5.py 3   day 2 on the 5-node lab: the seconds for a new Raft leader after
                                                   the first manager stops, each `pulumi up` of a change (drain,
                                                   forgetting the lost first manager, adding its replacement) while
                                                   the other nodes are asked for the page (0 failed requests
                                                   asserted), and the requests answered meanwhile
    bench/figures.py tests/test_vm.py 2            the VM lab: image, the template path (boot, install, seal,
                                                   power-off), three nodes to cloud-init done, the images loaded,
                                                   `pulumi up` on the VMs to the page, `destroy`, QEMU's memory"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench.common import print_table  # noqa: E402

FIGURE = re.compile(r"^figure: (.+) = ([0-9.]+)$", re.MULTILINE)


def one_round(test_file: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test_file],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{test_file} failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}")
    return {name: float(value) for name, value in FIGURE.findall(done.stdout)}


def main(test_file: str, runs: int) -> None:
    rows: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, value in one_round(test_file).items():
            rows.setdefault(name, []).append(value)
    if not rows:
        raise SystemExit(f"{test_file} printed no figure")
    print_table(rows, f"({runs} runs of {test_file})")


if __name__ == "__main__":
    if not 2 <= len(sys.argv) <= 3:
        raise SystemExit("usage: bench/figures.py TEST_FILE [RUNS]")
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 3)
