"""Run the program's node-side steps against the lab nodes from Python, the way the program's remote steps run
them (the same command line over SSH, secrets on stdin). Used by tests/test_lab.py and bench/lab.py."""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from components.scripts import script_command
from lab.stack_config import LabMount

PROJECT = Path(__file__).resolve().parent.parent
KEY = PROJECT / ".lab/id_ed25519"
SSH = ["ssh", "-i", str(KEY), "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]
ANY_HOST_KEY = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]


def remote(
    host: str,
    command: str,
    stdin: str | None = None,
    user: str = "root",
    port: int = 22,
    timeout: int = 300,
    host_key: str | None = None,
) -> subprocess.CompletedProcess:
    """Run a command line on a lab host over SSH with the lab key (the remote shell runs it, as with
    pulumi-command). With ``host_key`` ("ssh-ed25519 AAAA..."), the host must present exactly that key."""
    with tempfile.NamedTemporaryFile("w", suffix=".known_hosts") as known:
        checking = ANY_HOST_KEY
        if host_key:
            known.write(f"{host if port == 22 else f'[{host}]:{port}'} {host_key}\n")
            known.flush()
            checking = ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known.name}"]
        return subprocess.run(
            [*SSH, *checking, "-p", str(port), f"{user}@{host}", command],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def step(ip: str, script: str, *args: object, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run node-side ``script`` with ``args`` on the lab node at ``ip``."""
    return remote(ip, script_command(script, *args), stdin)


def docker(ip: str, *args: str) -> str:
    """`docker ARGS` on the node; fails loudly."""
    result = remote(ip, shlex.join(["docker", *args]), timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} on {ip}: {result.stderr}")
    return result.stdout.strip()


def fetch(ip: str, port: int, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=timeout) as response:
        return response.read().decode()


def lab(command: str, size: int = 3) -> subprocess.CompletedProcess:
    """`lab/lab.sh COMMAND` for the lab of ``size`` nodes (LAB_SIZE)."""
    return subprocess.run(
        ["bash", str(PROJECT / "lab/lab.sh"), command],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, "LAB_SIZE": str(size)},
    )


def figure(name: str, value: float) -> None:
    """A figure for bench/figures.py (which runs a test and aggregates them: min / median / max); asserted nowhere."""
    print(f"figure: {name} = {value:.1f}")


def eventually(check, timeout_s: float, what: str, interval_s: float = 0.5) -> float:
    """Wait until ``check()`` is true; returns the seconds it took. Raises TimeoutError after ``timeout_s``."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (OSError, RuntimeError):
            pass
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def node_state(manager_ip: str, node: str) -> str:
    """The Swarm's view of ``node`` (ready, down, ...), asked of the manager."""
    return docker(manager_ip, "node", "inspect", "-f", "{{.Status.State}}", node)


def running_on(manager_ip: str, service: str) -> list[str]:
    """The nodes where ``service`` has a task that should run and does (sorted)."""
    fmt = "{{.Node}} {{.CurrentState}}"
    out = docker(manager_ip, "service", "ps", service, "--filter", "desired-state=running", "--format", fmt)
    return sorted(t.split()[0] for t in out.splitlines() if " Running" in t)


def request_loop(
    ips: list[str], port: int, page: str, seconds: float, between=None, stop: threading.Event | None = None
) -> tuple[list[float], list[str]]:
    """Fetch the page from every address in turn for ``seconds`` (or until ``stop`` is set); returns (latencies,
    failed requests, each as "ADDRESS at SECONDS: WHY"). A request fails when it errors or returns anything but
    ``page``. ``between()`` runs after each round."""
    latencies: list[float] = []
    failures: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < seconds and not (stop and stop.is_set()):
        for ip in ips:
            t = time.monotonic()
            try:
                why = "" if fetch(ip, port) == page else "another page"
            except OSError as error:
                why = repr(error)
            if why:
                failures.append(f"{ip} at {t - started:.1f} s: {why}")
            latencies.append(time.monotonic() - t)
        if between is not None:
            between()
    return latencies, failures


def cephfs_admin(ip: str, command: str) -> str:
    """Run a shell ``command`` at the root of the lab's CephFS, through an administrator's mount of its own (ceph-fuse
    as client.admin on the node at ``ip``, unmounted again): independent of the program's mounts."""
    script = (
        "set -e; d=$(mktemp -d); ceph-fuse --client_fs cephfs $d >/dev/null 2>&1; "
        f'trap \'cd /; umount "$d"; rmdir "$d"\' EXIT; cd "$d"; {command}'
    )
    done = remote(ip, script, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{command} on the lab's CephFS (via {ip}): {done.stderr}")
    return done.stdout


def cephfs_ls(ip: str, path: str = ".") -> list[str]:
    """What the lab's CephFS holds at ``path`` (sorted, dot files included)."""
    return sorted(cephfs_admin(ip, f"ls -A {shlex.quote(path)}").split())


def sh(ip: str, command: str) -> str:
    """A shell command on the node at ``ip``; its stdout, stripped. Fails loudly."""
    done = remote(ip, command, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{command} on {ip}: rc {done.returncode}: {done.stderr}")
    return done.stdout.strip()


def task_on(manager_ip: str, service: str) -> str:
    """The node running the one task of a one-replica ``service`` ("" while none runs)."""
    fmt = "{{.Node}} {{.CurrentState}}"
    out = docker(manager_ip, "service", "ps", service, "--filter", "desired-state=running", "--format", fmt)
    nodes = [t.split()[0] for t in out.splitlines() if " Running" in t]
    if len(nodes) > 1:
        raise RuntimeError(f"{service} runs {len(nodes)} tasks: {nodes}")
    return nodes[0] if nodes else ""


def redis(ip: str, service: str, *args: str) -> str:
    """redis-cli ARGS in the container of ``service``'s task on the node at ``ip``."""
    return sh(
        ip, f"docker exec $(docker ps -q -f label=com.docker.swarm.service.name={service}) redis-cli {shlex.join(args)}"
    )


def ceph_health(ip: str) -> str:
    """Ceph's overall status, e.g. HEALTH_OK (the lab's muted check does not count: lab/images/node/lab-ceph.sh)."""
    return json.loads(sh(ip, "ceph --connect-timeout 10 health -f json"))["status"]


def ceph_osds_up(ip: str) -> int:
    return json.loads(sh(ip, "ceph --connect-timeout 10 osd stat -f json"))["num_up_osds"]


def ceph_settled(ip: str, osds_up: int) -> bool:
    """Ceph has noticed a change of hosts: ``osds_up`` OSDs up and every placement group active (peered), so that
    reads no longer wait for a stopped OSD (which Ceph marks down only after its heartbeat grace, about 20 s)."""
    pgs = json.loads(sh(ip, "ceph --connect-timeout 10 pg stat -f json"))
    states = [s["name"] for s in pgs["pg_summary"]["num_pg_by_state"]]
    return ceph_osds_up(ip) == osds_up and all(state.startswith("active") for state in states)


def stateful_failover(
    manager_ip: str, ips: dict[str, str], service: str, on_survivors=None, page: tuple[int, str] | None = None
) -> dict:
    """Write a key through the Redis of ``service``, cut the power of the lab node it runs on (``docker kill``: its
    Ceph daemons, CephFS client and engine die mid-flight), wait until Swarm runs it on another node and the same key
    reads back there; ``on_survivors(new_node)`` runs while the node is still down. With ``page`` (port, text), the
    page is asked of every other node in turn from the kill until then. The node is started again before returning
    (not waited for). Returns the seconds from the kill to each milestone, and the requests ("requests": how many,
    "failed": each failure as "ADDRESS at SECONDS: WHY")."""
    first = task_on(manager_ip, service)
    if not first:
        raise RuntimeError(f"{service} is not running")
    stamp = str(time.time_ns())
    if redis(ips[first], service, "set", "stamp", stamp) != "OK":
        raise RuntimeError("could not write through the kv service")
    survivors = [ip for name, ip in ips.items() if name != first]
    done, load = threading.Event(), {"r": ([], [])}
    loop = threading.Thread(target=lambda: load.update(r=request_loop(survivors, *page, math.inf, stop=done)))
    subprocess.run(["docker", "kill", first], check=True, capture_output=True)
    killed = time.monotonic()
    if page:
        loop.start()
    try:
        times = {"node Down": eventually(lambda: node_state(manager_ip, first) == "down", 60, f"{first} to be Down")}
        # Up to a minute, not seconds: the new task's container binds its directory on CephFS, which waits until the
        # MDS takes the dead node's capabilities back (session_timeout), and longer if that node ran the active MDS
        # (a standby takes over, then waits for the clients to reconnect).
        eventually(lambda: task_on(manager_ip, service) not in ("", first), 300, f"{service} to start on another node")
        times["task running elsewhere"] = time.monotonic() - killed
        second = task_on(manager_ip, service)
        eventually(lambda: redis(ips[second], service, "get", "stamp") == stamp, 180, f"the key read back on {second}")
        times["data read back"] = time.monotonic() - killed
        if on_survivors is not None:
            on_survivors(second)
    finally:
        done.set()
        if page:
            loop.join()
        subprocess.run(["docker", "start", first], check=True, capture_output=True)
    latencies, failures = load["r"]
    return {"from": first, "to": second, **times, "requests": len(latencies), "failed": failures}


def assert_mounted(run: Callable[[str], str], mount: LabMount, key: str, fstype: str) -> None:
    """The program's CephFS mount on a node (``run(command)``: its stdout as root, stripped): its fstab line (the
    only one for the mount point), the key in a 0600 root file and in no process's command line, the client
    config, the mount of type ``fstype`` (fuse.ceph-fuse, or ceph for the kernel client)."""
    assert run(f"awk '$2 == \"{mount.point}\"' /etc/fstab") == mount.fstab
    assert run(f"stat -c '%a %U' {mount.key_file}") == "600 root"
    assert run(f"cat {mount.key_file}") == key
    assert run(f"cat {mount.conf_file}") == mount.conf.strip()
    assert run(f"findmnt -n -o FSTYPE {mount.point}") == fstype
    assert key not in run("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")


def assert_unmounted(run: Callable[[str], str], mount: LabMount, fstype: str) -> None:
    """What destroy leaves on a node: no mount of type ``fstype``, no fstab line, neither key file nor client
    config."""
    assert run(f"findmnt -n -o FSTYPE -T {mount.point} || true") != fstype
    assert run(f"awk '$2 == \"{mount.point}\"' /etc/fstab") == ""
    assert run(f"ls {mount.key_file} {mount.conf_file} 2>/dev/null || true") == ""
