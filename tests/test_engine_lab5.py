"""L3, day 2 on the 5-node lab (LAB_SIZE=5: three managers, two workers) with the real engine and the lab's Ceph:
the managers join with the manager token and form a Raft quorum of three; a node drained by config loses its tasks
and shows Drain in `docker node ls` while the others serve without a failed request, and takes tasks again once
active; the first manager (where the program runs its manager-side steps) stops: the other nodes serve throughout,
Raft elects another leader, and `pulumi up` with no change succeeds without it; it comes back Reachable. Then the
first manager is lost for good: marked `state: lost`, the next manager takes over the manager-side steps (each
updated in place, none created or deleted), removes it from the Swarm, and nothing dials it; then its entry is
replaced by a new manager (a spare lab host) in one change: the new one joins and serves, and the lost one's steps
are dropped without dialing it either. (The same mechanism covers any lost node; the first manager is the hard case.)
Then two managers are removed by config (scale in, 3 -> 1): drained, demoted and removed, the others serving.

The lab runs Ceph on the same hosts (a stand-in for a cluster you already run): the lost first manager takes one of
the three MONs and one OSD with it, and the active MDS is on swarm-manager2, which stays."""

from __future__ import annotations

import math
import subprocess
import threading
import time

import pytest

from components.config import StackConfig
from lab.engine import Project
from lab.program import run_program, with_secrets
from lab.stack_config import LAB_SPARES, lab_secrets, lab_stack_config
from lab.steps import (
    ceph_osds_up,
    ceph_settled,
    cephfs_admin,
    docker,
    eventually,
    fetch,
    figure,
    request_loop,
    running_on,
)

pytestmark = [pytest.mark.lab, pytest.mark.engine]
PORT = StackConfig().published_port
SERVICE = f"{StackConfig().name}_web"
PAGE_FILE = "stacks/nginx/html/index.html"
PAGE_ON_CEPHFS = "html/index.html"  # under the shared root, the CephFS root


def managers(ip: str) -> dict[str, str]:
    """Manager name -> its Raft status (Leader, Reachable, Unreachable), as the manager at ``ip`` sees it."""
    out = docker(ip, "node", "ls", "--filter", "role=manager", "--format", "{{.Hostname}} {{.ManagerStatus}}")
    return dict(line.split() for line in out.splitlines())


def leader(ip: str) -> str:
    """Raft's leader as the manager at ``ip`` sees it ("" if none)."""
    return next((name for name, status in managers(ip).items() if status == "Leader"), "")


def availability(ip: str) -> dict[str, str]:
    out = docker(ip, "node", "ls", "--format", "{{.Hostname}} {{.Availability}}")
    return dict(line.split() for line in out.splitlines())


def changed(config: dict, name: str, **change) -> list[dict]:
    """The config's nodes, with ``change`` applied to node ``name``."""
    return [dict(n, **change) if n["name"] == name else n for n in config["swarm-ceph:nodes"]]


def up_under_load(project: Project, ips: list[str], page: str, what: str) -> dict:
    """`pulumi up` while the page is asked of ``ips``: every request must succeed. Returns the up's operations."""
    ran: dict = {}
    started = time.monotonic()
    requests, failed = with_requests(ips, page, lambda: ran.update(project.up()))
    assert not failed and requests > 10, f"{len(failed)} of {requests} requests failed {what}: {failed}"
    figure(f"pulumi up {what} (s)", time.monotonic() - started)
    figure(f"requests {what}, all answered", requests)
    return ran


def with_requests(ips: list[str], page: str, action) -> tuple[int, list[str]]:
    """Run ``action()`` while the page is asked of ``ips`` in a loop; returns (requests, the failed ones)."""
    done = threading.Event()
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(r=request_loop(ips, PORT, page, math.inf, stop=done)))
    thread.start()
    try:
        action()
    finally:
        done.set()
        thread.join()
    latencies, failed = result["r"]
    return len(latencies), failed


def test_three_managers_drain_by_config_and_leader_loss(lab5_nodes, tmp_path):
    nodes = lab5_nodes
    ips = {name: ip for name, ip, _ in nodes}
    master, manager2 = ips["swarm-master"], ips["swarm-manager2"]
    project = Project(tmp_path)
    config = lab_stack_config(size=5)["config"]
    project.stack("lab", config, lab_secrets())
    page = (project.root / PAGE_FILE).read_text()

    ran = project.up()
    expected = run_program(*with_secrets(config), stack="lab").resources
    assert list(ran) == ["create"] and len(ran["create"]) == len(expected) + 1
    assert managers(master) == {"swarm-master": "Leader", "swarm-manager2": "Reachable", "swarm-manager3": "Reachable"}
    for name, ip, _ in nodes:
        assert fetch(ip, PORT) == page, name

    # Drain a worker by config: its nginx task goes, the others serve without a failed request, and back.
    project.edit_config("lab", {"swarm-ceph:nodes": changed(config, "swarm-worker2", availability="drain")})
    others = [ip for name, ip, _ in nodes if name != "swarm-worker2"]
    drain = up_under_load(project, others, page, "while draining")
    assert "swarm-swarm-worker2-node" in drain["update"]
    assert availability(master)["swarm-worker2"] == "Drain"
    # the up ended once the drained node's task had stopped: it serves nothing
    assert running_on(master, SERVICE) == sorted(n for n in ips if n != "swarm-worker2")
    with pytest.raises(OSError):
        fetch(ips["swarm-worker2"], PORT)
    assert f"http://{ips['swarm-worker2']}:{PORT}/" not in project.ok("stack", "output", "pageUrls").stdout
    project.edit_config("lab", {"swarm-ceph:nodes": config["swarm-ceph:nodes"]})
    project.up()
    assert availability(master)["swarm-worker2"] == "Active"
    assert fetch(ips["swarm-worker2"], PORT) == page  # its serve step waited for it

    # The first manager stops: the others serve throughout, Raft elects another leader among the two left.
    survivors = [ip for name, ip, _ in nodes if name != "swarm-master"]
    elected: dict[str, float] = {}

    def lose_the_leader() -> None:
        subprocess.run(["docker", "stop", "-t", "1", "swarm-master"], check=True, capture_output=True)
        stopped = time.monotonic()
        eventually(lambda: leader(manager2) not in ("", "swarm-master"), 60, "a new Raft leader")
        elected["s"] = time.monotonic() - stopped
        time.sleep(5)  # requests go on a little after the election

    try:
        requests, failed = with_requests(survivors, page, lose_the_leader)
        assert not failed and requests > 10, f"{len(failed)} of {requests} failed after the leader stopped: {failed}"
        status = managers(manager2)
        assert status["swarm-master"] == "Unreachable"
        assert sorted(status.values()) == ["Leader", "Reachable", "Unreachable"], status
        # Nothing changed: nothing runs, so nothing needs the stopped manager.
        assert list(project.up("--expect-no-changes")) == ["same"]
    finally:
        subprocess.run(["docker", "start", "swarm-master"], check=True, capture_output=True)
    eventually(lambda: managers(manager2)["swarm-master"] == "Reachable", 120, "the first manager to be back")
    eventually(lambda: fetch(master, PORT) == page, 120, "the first manager to serve again")
    figure("new Raft leader elected after the first manager stopped (s)", elected["s"])
    figure("requests while the first manager stopped, all answered", requests)

    # The first manager lost for good (its container stopped and never started again): one config move, `state: lost`.
    # `pulumi up` hands the manager-side steps to swarm-manager2 (the next manager in nodes), which removes the lost
    # one from the Swarm; nothing dials the lost host (it would fail after the dial limit); the other nodes answer
    # every request meanwhile. Then its entry goes: its steps are dropped without dialing either.
    osds_up = ceph_osds_up(manager2)
    page_inode = cephfs_admin(manager2, f"stat -c %i {PAGE_ON_CEPHFS}")
    subprocess.run(["docker", "stop", "-t", "1", "swarm-master"], check=True, capture_output=True)
    eventually(lambda: managers(manager2)["swarm-master"] == "Unreachable", 60, "swarm-master to be Unreachable")
    eventually(lambda: leader(manager2) not in ("", "swarm-master"), 60, "a Raft leader other than swarm-master")
    # (the lab's Ceph runs on the same hosts: its failover is not what this measures, so let it settle first)
    eventually(lambda: ceph_settled(manager2, osds_up - 1), 180, "Ceph to mark the lost node's OSD down and re-peer")
    project.edit_config("lab", {"swarm-ceph:nodes": changed(config, "swarm-master", state="lost")})
    forget = up_under_load(project, survivors, page, "while forgetting the first manager")
    assert "create" not in forget, forget  # every manager-side step moved by an in-place update
    assert sorted(forget["delete"]) == ["cephfs-swarm-master-io-check", "stack-swarm-master-serves"], forget
    assert {"swarm-swarm-manager2-join", "swarm-worker-token", "swarm-manager-token", "stack-deploy"} <= set(
        forget["update"]
    ), forget
    assert "swarm-swarm-master-node" in forget["update"]  # on swarm-manager2: demote, then `docker node rm --force`
    # The page step moved too, and found its page there: no write to the directory every nginx reads (CephFS would
    # hold it, and every read there, until the lost node's client session timed out).
    assert "stack-page" in forget["update"]
    assert cephfs_admin(manager2, f"stat -c %i {PAGE_ON_CEPHFS}") == page_inode
    assert sorted(managers(manager2)) == ["swarm-manager2", "swarm-manager3"]
    assert sorted(managers(manager2).values()) == ["Leader", "Reachable"]
    assert "swarm-master" not in docker(manager2, "node", "ls", "--format", "{{.Hostname}}").split()
    assert project.ok("stack", "output", "managerAddress").stdout.strip() == f"{manager2}:2377"
    assert list(project.up("--expect-no-changes")) == ["same"]
    for name, ip, _ in nodes:
        if name != "swarm-master":
            assert fetch(ip, PORT) == page, name
    # Its replacement, a new name and address, in the same change that removes the lost entry (a lost manager still
    # counts towards the odd number): it joins as a manager and serves; the lost node's records go without dialing.
    (spare,) = LAB_SPARES[5]
    replaced = [n for n in config["swarm-ceph:nodes"] if n["name"] != "swarm-master"]
    replaced += lab_stack_config([spare], size=5)["config"]["swarm-ceph:nodes"]
    project.edit_config("lab", {"swarm-ceph:nodes": replaced})
    swapped = up_under_load(project, survivors, page, "while adding the replacement")
    assert sorted(swapped["delete"]) == sorted(
        [
            "swarm-master",
            "swarm-master-ready",
            "swarm-swarm-master-join",
            "swarm-swarm-master-node",
            "cephfs-swarm-master-mount",
        ]
    ), swapped
    assert "swarm-swarm-manager4-join" in swapped["create"]
    assert sorted(managers(manager2)) == ["swarm-manager2", "swarm-manager3", "swarm-manager4"]
    assert sorted(managers(manager2).values()) == ["Leader", "Reachable", "Reachable"]
    assert fetch(spare[1], PORT) == page
    assert list(project.up("--expect-no-changes")) == ["same"]

    # Scale in: two managers removed by config (3 -> 1 keeps the number odd; 3 -> 2 is refused by config). Each is
    # drained, demoted (one at a time) and removed by the leader, then leaves; the others answer every request.
    removed = ["swarm-manager3", "swarm-manager4"]
    kept = [n for n in replaced if n["name"] not in removed]
    project.edit_config("lab", {"swarm-ceph:nodes": kept})
    staying = [n["ip"] for n in kept]
    scaled = up_under_load(project, staying, page, "while removing two managers")
    assert "create" not in scaled, scaled
    # their 7 steps each, and the manager token (no manager but the leader is left to join with it)
    nodes_steps = [name for name in scaled["delete"] if any(r in name for r in removed)]
    assert len(nodes_steps) == 2 * 7 and sorted(set(scaled["delete"]) - set(nodes_steps)) == ["swarm-manager-token"]
    # the only updates: the IO checks of the nodes that stay (they no longer expect the removed nodes' markers)
    assert sorted(scaled.get("update", [])) == sorted(f"cephfs-{n['name']}-io-check" for n in kept), scaled
    assert managers(manager2) == {"swarm-manager2": "Leader"}
    assert sorted(availability(manager2)) == ["swarm-manager2", "swarm-worker1", "swarm-worker2"]
    for name, ip, _ in [*nodes, spare]:
        if name in removed:
            assert docker(ip, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive", name
    assert list(project.up("--expect-no-changes")) == ["same"]

    ran = project.destroy()
    assert list(ran) == ["delete"] and len(ran["delete"]) == len(expected) + 1 - 2 * 7 - 1  # as just above
    for name, ip, _ in [*nodes, spare]:
        if name != "swarm-master":
            assert docker(ip, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive", name
