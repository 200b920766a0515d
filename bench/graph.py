"""Benchmark: size and depth of the resource graph, and mock evaluation time, for 3, 9 and 30 nodes.

Prints a table; asserts nothing (figures are for reading, not for CI). Usage: uv run python bench/graph.py [N...]
Each evaluation runs in a fresh process: the mock runtime keeps state between runs in one process, which would
make later runs slower than a real `pulumi preview` (one program run per process). The time is the program's
evaluation alone; the graph figures come from a second, recorded run (recording costs time of its own).
"""

from __future__ import annotations

import copy
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.program import run_program, stack_config, with_secrets  # noqa: E402

REPEATS = 5


def config_for(count: int) -> dict:
    cfg = copy.deepcopy(stack_config("dev"))
    managers = 1 if count < 9 else 3
    cfg["swarm-ceph:nodes"] = [
        {
            "name": f"swarm-node{i:02d}",
            "ip": f"10.10.1.{20 + i}",
            "vmId": 300 + i,
            "role": "manager" if i < managers else "worker",
        }
        for i in range(count)
    ]
    return cfg


def measure(count: int) -> dict:
    """One timed evaluation (and the time the cyclic garbage collector took during it), then one recorded for the
    graph figures, in this process."""
    collector = {"seconds": 0.0, "started": 0.0}

    def clock(phase: str, _info: dict) -> None:
        if phase == "start":
            collector["started"] = time.perf_counter()
        else:
            collector["seconds"] += time.perf_counter() - collector["started"]

    gc.callbacks.append(clock)
    seconds = run_program(*with_secrets(config_for(count)), record=False).seconds
    gc.callbacks.remove(clock)
    run = run_program(*with_secrets(config_for(count)))
    return {
        "resources": len(run.resources),
        "custom": sum(1 for r in run.resources.values() if r.custom),
        "critical_path": run.critical_path(),
        "seconds": seconds,
        "gc_seconds": collector["seconds"],
    }


def main(counts: list[int]) -> None:
    print(
        f"{'nodes':>5} {'resources':>9} {'custom':>6} {'critical path':>13} {'serialized ceph joins':>21} "
        f"{'eval s: min / median / max of ' + str(REPEATS):>32} {'of which gc s':>13}"
    )
    for count in counts:
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--one", str(count)], check=True, capture_output=True, text=True
                ).stdout
            )
            for _ in range(REPEATS)
        ]
        first = runs[0]
        seconds = [r["seconds"] for r in runs]
        ceph_chain = 2 * (count - 1)  # cluster add + join per non-bootstrap node, serialized by design
        print(
            f"{count:>5} {first['resources']:>9} {first['custom']:>6} {first['critical_path']:>13} "
            f"{ceph_chain:>21} {min(seconds):>14.2f} / {statistics.median(seconds):.2f} / {max(seconds):.2f} "
            f"{statistics.median(r['gc_seconds'] for r in runs):>13.2f}"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        main([int(a) for a in sys.argv[1:]] or [3, 9, 30])
