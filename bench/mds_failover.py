"""Benchmark: power loss of the lab node that runs the active CephFS MDS (and a MON), seen from a survivor. Each of
RUNS rounds starts the lab from nothing (lab/lab.sh: Debian 13's Ceph 18.2 unless LAB_DEBIAN_SUITE says otherwise),
mounts CephFS with ceph-fuse on two survivors (with --client-on-victim, on the active MDS's node too, as on every
node of the platform: the new MDS then waits for that client to reconnect, up to mds_reconnect_timeout), starts an
fsync'ed appender on one survivor (a line every 0.5 s, each write's duration logged), `docker kill`s the active
MDS's node and polls `ceph mds stat` on a survivor. Prints min / median / max of: seconds from the kill to a new
active MDS, the longest write, and the acknowledged writes missing when read back on the other survivor (must be
0). No Swarm and no program here: Ceph alone. Asserts nothing.
Usage (as root, Docker engine running): uv run python bench/mds_failover.py [RUNS] [--client-on-victim]."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import checked, print_table  # noqa: E402
from lab.stack_config import LAB_NODES  # noqa: E402
from lab.steps import eventually, lab, sh  # noqa: E402

MOUNT = "/mnt/bench"
LOG = "/tmp/bench-writer.log"
WATCH_S = 180  # after the kill: longer than any takeover measured here
SETTLE_S = 10
# The appender: one line per write (its start, relative to the writer's start, and its duration), each fsync'ed.
WRITER = f"""import os, sys, time
f = open("{MOUNT}/bench/appends", "a")
t0 = time.monotonic()
while True:
    s = time.monotonic(); f.write(f"{{time.time_ns()}}\\n"); f.flush(); os.fsync(f.fileno())
    print(round(s - t0, 2), round(time.monotonic() - s, 3), flush=True); time.sleep(0.5)
"""


def rank0(ip: str) -> tuple[str, str]:
    """The MDS holding rank 0 and its state, from e.g. "cephfs:1 {0=swarm-master=up:active} 2 up:standby" (("", "")
    if none or no answer)."""
    found = re.search(r"\{0=([^=]+)=(up:[a-z-]+)", sh(ip, "timeout 5 ceph --connect-timeout 4 mds stat || true"))
    return (found.group(1), found.group(2)) if found else ("", "")


def active_mds(ip: str) -> str:
    name, state = rank0(ip)
    return name if state == "up:active" else ""


def mount(ip: str) -> None:
    sh(ip, f"mkdir -p {MOUNT} && (mountpoint -q {MOUNT} || ceph-fuse -n client.admin {MOUNT} >/dev/null 2>&1)")


def one_round(rows: dict, client_on_victim: bool) -> None:
    checked(lab("down"))
    checked(lab("up"))
    victim = active_mds(LAB_NODES[0][1])
    writer_node, reader_node = [ip for name, ip, _ in LAB_NODES if name != victim][:2]
    for ip in (writer_node, reader_node):
        mount(ip)
    if client_on_victim:
        victim_ip = next(ip for name, ip, _ in LAB_NODES if name == victim)
        mount(victim_ip)
        sh(victim_ip, f"ls {MOUNT} >/dev/null")  # its session with the MDS open
    sh(writer_node, f"mkdir -p {MOUNT}/bench && : > {MOUNT}/bench/appends")
    sh(writer_node, f"cat > /tmp/bench-writer.py <<'EOF'\n{WRITER}EOF")
    sh(writer_node, f"setsid python3 /tmp/bench-writer.py >{LOG} 2>&1 </dev/null &")
    time.sleep(5)
    subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
    killed = time.monotonic()
    took = eventually(lambda: rank0(writer_node)[0] not in ("", victim), WATCH_S, "a standby taking rank 0")
    rows.setdefault("kill -> a standby holds rank 0 (replay) (s)", []).append(took)
    eventually(lambda: active_mds(writer_node) not in ("", victim), WATCH_S, "a new active MDS")
    took = time.monotonic() - killed
    rows.setdefault("kill -> new active MDS (s)", []).append(took)
    time.sleep(SETTLE_S)  # the blocked write returns, and a few more follow
    sh(writer_node, "pkill -f '[b]ench-writer.py' || true")
    durations = [float(line.split()[1]) for line in sh(writer_node, f"cat {LOG}").splitlines()]
    rows.setdefault("longest fsync'ed append (s)", []).append(max(durations))
    written = sh(writer_node, f"cat {MOUNT}/bench/appends").splitlines()[: len(durations)]
    read_back = set(sh(reader_node, f"cat {MOUNT}/bench/appends").splitlines())
    rows.setdefault("acknowledged appends missing on another node", []).append(
        float(len([w for w in written if w not in read_back]))
    )
    print(
        f"round: killed {victim}; new active after {took:.1f} s; {len(durations)} appends, longest {max(durations)} s"
    )


def main(runs: int, client_on_victim: bool) -> None:
    checked(lab("build"))
    rows: dict[str, list[float]] = {}
    try:
        for _ in range(runs):
            one_round(rows, client_on_victim)
    finally:
        checked(lab("down"))
    clients = "a client on every node" if client_on_victim else "no client on the killed node"
    print_table(rows, f"({runs} runs, {clients})")


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a != "--client-on-victim"]
    main(int(numbers[0]) if numbers else 3, "--client-on-victim" in sys.argv[1:])
