"""Benchmark: the platform's node-side steps on the lab (three Docker-in-Docker Swarm nodes), timed.

Prints a table of wall times and the failover request statistics; asserts nothing. Usage (as root, Docker engine
running): uv run python bench/lab.py. It brings the lab up and takes it down again.

The program's own graph for the `lab` stack is replayed (lab/replay.py): its remote steps run over SSH in parallel
waves that follow the dependency graph, as the engine would run them, but without the Pulumi engine (which cannot be
built in this workplace): engine overhead is not in these figures, and a no-op `pulumi up` would run no step at all
(the re-run row is every guard answering "already done").
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.config import StackConfig  # noqa: E402
from components.docker_stack import html_dir, page_sha256  # noqa: E402
from lab import replay  # noqa: E402
from lab.program import run_program, with_secrets  # noqa: E402
from lab.stack_config import LAB_NGINX_IMAGE, LAB_NODES, lab_stack_config  # noqa: E402
from lab.steps import PROJECT, eventually, lab, node_state, request_loop, running_on, step  # noqa: E402

SHARED = "/mnt/cephfs"
STACK = StackConfig(image=LAB_NGINX_IMAGE, resolve_image="never", deploy_timeout_s=120)
MASTER = LAB_NODES[0]
PORT = STACK.published_port
FAILOVER_S = 30


def ok(ip: str, script: str, *args: object, stdin: str | None = None) -> str:
    result = step(ip, script, *args, stdin=stdin)
    if result.returncode != 0:
        raise RuntimeError(f"{script} on {ip}: {result.stderr}")
    return result.stdout.strip()


def edit_round_trip(page: str) -> None:
    """What `pulumi up` runs after a page edit: publish it, then every node checks it serves it."""
    ok(MASTER[1], "stack-page.sh", "put", html_dir(SHARED), stdin=page)
    sha = page_sha256(page)
    with ThreadPoolExecutor(max_workers=len(LAB_NODES)) as pool:
        list(pool.map(lambda n: ok(n[1], "serve-check.sh", f"http://{n[1]}:{PORT}/", sha, 60), LAB_NODES))


def failover(page: str) -> dict:
    """Stop the last node; hammer the others; time Down and convergence; start it again."""
    victim, survivors = LAB_NODES[-1], LAB_NODES[:-1]
    times: dict[str, float] = {}

    def watch() -> None:
        if "down" not in times and node_state(MASTER[1], victim[0]) == "down":
            times["down"] = time.monotonic() - stopped
        if "down" in times and "converged" not in times:
            if running_on(MASTER[1], f"{STACK.name}_web") == sorted(n[0] for n in survivors):
                times["converged"] = time.monotonic() - stopped

    subprocess.run(["docker", "stop", "-t", "1", victim[0]], check=True, capture_output=True)
    stopped = time.monotonic()
    try:
        latencies, failures = request_loop([n[1] for n in survivors], PORT, page, FAILOVER_S, between=watch)
    finally:
        subprocess.run(["docker", "start", victim[0]], check=True, capture_output=True)
    back_s = eventually(lambda: node_state(MASTER[1], victim[0]) == "ready", 120, "the node to rejoin")
    latencies.sort()
    return {
        "requests": len(latencies),
        "failed": failures,
        "p50 ms": 1000 * statistics.median(latencies),
        "p99 ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "node Down after s": times.get("down"),
        "tasks on survivors after s": times.get("converged"),
        "node Ready again after s": back_s,
    }


def timed(rows: list, what: str, fn) -> None:
    started = time.monotonic()
    fn()
    rows.append((what, time.monotonic() - started))


def main() -> None:
    page = (PROJECT / STACK.page_file).read_text()
    run = run_program(*with_secrets(lab_stack_config()["config"]), stack="lab")
    rows: list[tuple[str, float]] = []
    timed(rows, "lab up (images built or reused, nodes answer SSH + docker)", lambda: _check(lab("up")))
    try:
        timed(rows, "the program's steps from nothing to the page on every node", lambda: replay.Replay().up(run))
        timed(rows, "every step once more, as if state were lost (guards: done)", lambda: replay.Replay().up(run))
        edited = page.replace("Hello from", "Hello again from")
        timed(rows, "page edit round trip (publish + every node serves it)", lambda: edit_round_trip(edited))
        stats = failover(edited)
        timed(rows, "the program's delete steps (destroy)", lambda: replay.Replay().down(run))
    finally:
        timed(rows, "lab down", lambda: _check(lab("down")))
    width = max(len(w) for w, _ in rows)
    print(f"{'step':<{width}}  seconds")
    for what, seconds in rows:
        print(f"{what:<{width}}  {seconds:7.1f}")
    print(f"\nfailover ({LAB_NODES[-1][0]} stopped, {FAILOVER_S} s of requests against the other nodes):")
    for key, value in stats.items():
        print(f"  {key:<28} {value if value is None or isinstance(value, int) else round(value, 1)}")


def _check(result: subprocess.CompletedProcess) -> None:
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])


if __name__ == "__main__":
    main()
