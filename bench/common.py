"""What the benchmarks share: the min / median / max table they print, and a lab command that must succeed."""

from __future__ import annotations

import statistics
import subprocess


def print_table(rows: dict[str, list[float]], runs_said: str) -> None:
    """One line per figure: its min, median and max over the runs; ``runs_said`` ends the header, e.g. "(3 runs)"."""
    width = max(map(len, rows))
    print(f"{'what':<{width}}  {'min':>7} {'median':>7} {'max':>7}   {runs_said}")
    for name, values in rows.items():
        print(f"{name:<{width}}  {min(values):7.1f} {statistics.median(values):7.1f} {max(values):7.1f}")


def checked(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """``result`` if its command succeeded; otherwise the end of its stderr, raised."""
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return result
