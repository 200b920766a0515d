"""Benchmark: the lab and the lab stack under the real Pulumi engine (scripts/engine.sh), on the lab's three
Docker-in-Docker Swarm nodes and their Ceph cluster. Each of RUNS rounds starts the lab from nothing and times
(min / median / max, each the whole command's wall clock): the lab's Ceph to HEALTH_OK, `pulumi up` from nothing
to the page on every node (served from CephFS), a no-op `pulumi up`, a page edit's `pulumi up`, the kv stack's
failover (its node stopped: seconds to Down, to the task running elsewhere, to the same data read back) and
`pulumi destroy`; then the nginx failover's request statistics. Asserts nothing. Usage (as root, Docker engine
running): uv run python bench/lab.py [RUNS]. Lab images are built or reused first, outside the figures.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import checked, print_table  # noqa: E402
from components.config import StackConfig  # noqa: E402
from lab.engine import Project  # noqa: E402
from lab.stack_config import LAB_NODES, lab_secrets, lab_stack_config  # noqa: E402
from lab.steps import (  # noqa: E402
    ceph_health,
    eventually,
    fetch,
    lab,
    node_state,
    request_loop,
    running_on,
    stateful_failover,  # noqa: E402
)

MASTER = LAB_NODES[0]
PORT = StackConfig().published_port  # the lab stack keeps the defaults
SERVICE = f"{StackConfig().name}_web"
PAGE_FILE = "stacks/nginx/html/index.html"
FAILOVER_S = 30
KV = "kv_kv"


def failover(page: str) -> dict:
    """Stop the last node; hammer the others; time Down and convergence; start it again."""
    victim, survivors = LAB_NODES[-1], LAB_NODES[:-1]
    times: dict[str, float] = {}

    def watch() -> None:
        if "down" not in times and node_state(MASTER[1], victim[0]) == "down":
            times["down"] = time.monotonic() - stopped
        if "down" in times and "converged" not in times:
            if running_on(MASTER[1], SERVICE) == sorted(n[0] for n in survivors):
                times["converged"] = time.monotonic() - stopped

    subprocess.run(["docker", "stop", "-t", "1", victim[0]], check=True, capture_output=True)
    stopped = time.monotonic()
    try:
        latencies, failures = request_loop([n[1] for n in survivors], PORT, page, FAILOVER_S, between=watch)
    finally:
        subprocess.run(["docker", "start", victim[0]], check=True, capture_output=True)
    back_s = eventually(lambda: node_state(MASTER[1], victim[0]) == "ready", 120, "the node to rejoin")
    # and back for good (its Ceph daemons, its CephFS mount, its page) before anything else runs
    eventually(lambda: fetch(victim[1], PORT) == page, 180, "the node to serve again")
    latencies.sort()
    return {
        "requests": len(latencies),
        "failed": len(failures),
        "p50 ms": 1000 * statistics.median(latencies),
        "p99 ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "node Down after s": times.get("down"),
        "tasks on survivors after s": times.get("converged"),
        "node Ready again after s": back_s,
    }


def timed(rows: dict, what: str, fn) -> None:
    started = time.monotonic()
    fn()
    rows.setdefault(what, []).append(time.monotonic() - started)


def add(rows: dict, what: str, seconds: float) -> None:
    rows.setdefault(what, []).append(seconds)


def one_round(rows: dict, n: int, last: bool) -> dict | None:
    """Round n: the lab from nothing, the stack up, changed, failed over and destroyed; the last round also returns
    the nginx failover's statistics."""
    checked(lab("down"))
    started = time.monotonic()
    up = checked(lab("up"))
    add(rows, "lab/lab.sh up: nodes, Ceph, images (from nothing)", time.monotonic() - started)
    add(rows, "  of which Ceph to HEALTH_OK", float(re.search(r"Ceph HEALTH_OK after (\d+)s", up.stderr).group(1)))
    with tempfile.TemporaryDirectory() as tmp:
        project = Project(Path(tmp))
        project.stack("lab", lab_stack_config()["config"], lab_secrets())
        page_file = project.root / PAGE_FILE
        edited = page_file.read_text().replace("Hello from", f"Hello ({n}) from")
        timed(rows, "pulumi up: from nothing to the page on every node", project.up)
        timed(rows, "pulumi up: no change", lambda: project.up("--expect-no-changes"))
        page_file.write_text(edited)
        timed(rows, "pulumi up: page edit (publish, every node serves it)", project.up)
        ips = {name: ip for name, ip, _ in LAB_NODES}
        moved = stateful_failover(MASTER[1], ips, KV, page=(PORT, edited))
        for milestone in ("node Down", "task running elsewhere", "data read back"):
            add(rows, f"kv failover: node killed -> {milestone}", moved[milestone])
        add(rows, "kv failover: failed requests to the other nodes", len(moved["failed"]))
        eventually(lambda: node_state(MASTER[1], moved["from"]) == "ready", 120, "the stopped node to rejoin")
        eventually(lambda: ceph_health(MASTER[1]) == "HEALTH_OK", 180, "Ceph to be HEALTH_OK again")
        eventually(lambda: fetch(ips[moved["from"]], PORT) == edited, 180, "the stopped node to serve again")
        stats = failover(edited) if last else None
        timed(rows, "pulumi destroy", project.destroy)
    return stats


def main(runs: int) -> None:
    checked(lab("build"))
    rows: dict[str, list[float]] = {}
    try:
        for i in range(runs):
            stats = one_round(rows, i + 1, last=i == runs - 1)
    finally:
        checked(lab("down"))
    print_table(rows, f"({runs} runs; wall clock, s)")
    print(f"\nnginx failover ({LAB_NODES[-1][0]} stopped, {FAILOVER_S} s of requests against the other nodes):")
    for key, value in stats.items():
        print(f"  {key:<28} {value if value is None or isinstance(value, int) else round(value, 1)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
