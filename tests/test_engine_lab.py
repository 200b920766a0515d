"""L3: the real Pulumi engine and plugins run the `lab` stack (hosts mode, lab/stack_config.py) against the lab's
three Docker-in-Docker Swarm nodes and their real Ceph cluster, as a user runs it: `pulumi up` from nothing to the
page on every node, served from CephFS (storage.type: cephfs, ceph-fuse); a no-op `up`; a page edit and a compose
edit (each visible in `preview --diff`, each updating only its steps); the kv stack's data surviving the loss of the
node it ran on; a scale-down from three nodes to two and back by config; and `pulumi destroy`. The state and
everything the engine printed hold no join token, no private key and no Ceph key."""

from __future__ import annotations

import re
import threading
import time
from functools import partial

import pytest

from components.config import StackConfig
from lab.engine import Project
from lab.program import run_program, with_secrets
from lab.stack_config import LAB_NODES, lab_mount, lab_secrets, lab_stack_config
from lab.steps import (
    assert_mounted,
    assert_unmounted,
    ceph_health,
    cephfs_admin,
    cephfs_ls,
    docker,
    eventually,
    fetch,
    figure,
    node_state,
    redis,
    request_loop,
    sh,
    stateful_failover,
    task_on,
)

pytestmark = [pytest.mark.lab, pytest.mark.engine]
PORT = StackConfig().published_port  # the lab stack keeps the defaults
SERVICE = f"{StackConfig().name}_web"
PAGE_FILE = "stacks/nginx/html/index.html"
COMPOSE_FILE = "stacks/nginx/docker-compose.yml"
CONF_FILE = "stacks/nginx/default.conf"


def swarm(ip: str) -> list[str]:
    return sorted(docker(ip, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").splitlines())


def state(ip: str) -> str:
    return docker(ip, "info", "--format", "{{.Swarm.LocalNodeState}}")


def serves_everywhere(nodes, page: str) -> None:
    for name, ip, _ in nodes:
        assert fetch(ip, PORT) == page, name


def steps_of(nodes, *kinds: str) -> list[str]:
    return sorted(f"stack-{name}-{kind}" for name, _, _ in nodes for kind in kinds)


LAB_MOUNT = lab_mount()
MOUNT = LAB_MOUNT.point
FUSE = "fuse.ceph-fuse"  # the lab mounts with ceph-fuse (this kernel has no ceph module)
FUSE_MAGIC = "65735546"  # FUSE_SUPER_MAGIC, as `stat -f -c %t` shows it (its name for it, %T, differs by coreutils)
KV = "kv_kv"  # the kv stack's service


def test_pulumi_up_change_scale_and_destroy_on_the_lab(lab_nodes, tmp_path):
    project = Project(tmp_path)
    secrets = lab_secrets()
    private_key, ceph_key = secrets["swarm-ceph:sshPrivateKey"], secrets["swarm-ceph:cephClientKey"]
    project.stack("lab", lab_stack_config()["config"], secrets)
    master = lab_nodes[0][1]
    ips = dict((name, ip) for name, ip, _ in lab_nodes)
    assert ceph_health(master) == "HEALTH_OK"
    page = (project.root / PAGE_FILE).read_text()

    # From nothing: every resource the program declares (the same graph as the mock run of the lab config).
    ran = project.up()
    expected = run_program(*with_secrets(lab_stack_config()["config"]), stack="lab").resources
    assert list(ran) == ["create"] and len(ran["create"]) == len(expected) + 1  # and the Stack
    assert swarm(master) == [f"{name} Ready" for name, _, _ in lab_nodes]
    serves_everywhere(lab_nodes, page)
    # ... from CephFS: every node has the program's mount, every node saw every node's IO marker through it, and
    # nginx's content directory is on it.
    for name, ip, _ in lab_nodes:
        assert_mounted(partial(sh, ip), LAB_MOUNT, ceph_key, FUSE)
        assert sh(ip, f"ls {MOUNT}/.swarm-ceph/io").split() == sorted(ips), name
        web = sh(ip, f"docker ps -q -f label=com.docker.swarm.service.name={SERVICE}")
        assert sh(ip, f"docker exec {web} stat -f -c %t /usr/share/nginx/html") == FUSE_MAGIC, name
    outputs = project.ok("stack", "output", "--json").stdout
    assert '"http://10.77.1.12:8080/"' in outputs
    tokens = [docker(master, "swarm", "join-token", "-q", kind) for kind in ("worker", "manager")]

    # Nothing changed: nothing runs.
    assert list(project.up("--expect-no-changes")) == ["same"]

    # A page edit: the new text in the diff; the page and the per-node checks run again, nothing else.
    edited = page.replace("Hello from", "Hello again from")
    assert edited != page
    (project.root / PAGE_FILE).write_text(edited)
    assert "Hello again from" in project.ok("preview", "--diff").stdout
    ran = project.up()
    assert ran["update"] == sorted(["stack-page", *steps_of(lab_nodes, "serves")])
    assert set(ran) == {"update", "same"}
    serves_everywhere(lab_nodes, edited)

    # A compose edit and an edit of nginx's server config: the new texts in the diff; the config's file, the redeploy
    # (one rolling update, onto a new Swarm config) and the per-node checks, nothing else; the old config goes.
    compose = (project.root / COMPOSE_FILE).read_text()
    assert "delay: 2s" in compose
    (project.root / COMPOSE_FILE).write_text(compose.replace("delay: 2s", "delay: 3s"))
    configs_before = docker(master, "config", "ls", "--format", "{{.Name}}").split()
    assert len(configs_before) == 1 and configs_before[0].startswith("mystack_web_conf_"), configs_before
    conf = (project.root / CONF_FILE).read_text()
    assert "max=1000 " in conf
    (project.root / CONF_FILE).write_text(conf.replace("max=1000 ", "max=500 "))
    diff = project.ok("preview", "--diff").stdout
    # The engine shows a YAML text as YAML: the changed key, old and new; the config's file as text.
    assert re.search(r'~ delay +: "2s" => "3s"', diff) and "max=500 " in diff
    ran = project.up()
    assert ran["update"] == sorted(["stack-deploy", "stack-file-default.conf", *steps_of(lab_nodes, "serves")])
    assert set(ran) == {"update", "same"}
    policy = "{{.Spec.TaskTemplate.RestartPolicy.Delay}}"
    assert docker(master, "service", "inspect", SERVICE, "--format", policy) == "3s"
    configs = docker(master, "config", "ls", "--format", "{{.Name}}").split()
    assert len(configs) == 1 and configs != configs_before and configs[0].startswith("mystack_web_conf_"), configs
    for name, ip, _ in lab_nodes:
        web = sh(ip, f"docker ps -q -f label=com.docker.swarm.service.name={SERVICE}")
        assert "max=500 " in sh(ip, f"docker exec {web} cat /etc/nginx/conf.d/default.conf"), name
    # The deploy step returned only once the rolling update (node by node) was over.
    assert docker(master, "service", "inspect", SERVICE, "--format", "{{.UpdateStatus.State}}") == "completed"
    serves_everywhere(lab_nodes, edited)

    # Data that survives a node's power loss: a key written through the kv service (one Redis, its data on CephFS) is
    # read back after the node it ran on is killed (a MON, an OSD, a standby MDS and a CephFS client die with it) and
    # Swarm starts kv elsewhere; meanwhile the other nodes serve every request for the page, and CephFS (one of three
    # Ceph nodes down) stays readable and writable on them.
    def survivors_read_and_write(second: str) -> None:
        for ip in (master, ips[second]):
            sh(ip, f"hostname > {MOUNT}/.probe-$(hostname)")
        assert sh(master, f"cat {MOUNT}/.probe-{second}") == second
        assert sh(ips[second], f"cat {MOUNT}/.probe-swarm-master") == "swarm-master"
        sh(master, f"rm {MOUNT}/.probe-*")

    moved = stateful_failover(master, ips, KV, survivors_read_and_write, page=(PORT, edited))
    assert "swarm-master" not in (moved["from"], moved["to"])  # kept on workers (stacks/kv/docker-compose.yml)
    failed = moved["failed"]
    assert not failed and moved["requests"] > 100, f"{len(failed)} of {moved['requests']} requests failed: {failed}"
    for milestone in ("node Down", "task running elsewhere", "data read back"):
        figure(f"kv's node killed -> {milestone} (s)", moved[milestone])
    figure("requests to the other nodes meanwhile, all answered", moved["requests"])
    first = moved["from"]
    # The node comes back (its Ceph daemons, its CephFS mount from fstab, then its engine) and serves again; the
    # program finds nothing to do.
    eventually(lambda: node_state(master, first) == "ready", 120, f"{first} to rejoin")
    eventually(lambda: fetch(ips[first], PORT) == edited, 120, f"{first} to serve the page again")
    eventually(lambda: ceph_health(master) == "HEALTH_OK", 180, "Ceph to be HEALTH_OK again")
    assert_mounted(partial(sh, ips[first]), LAB_MOUNT, ceph_key, FUSE)
    assert list(project.up("--expect-no-changes")) == ["same"]

    # Scale down to two nodes by config: the worker that runs kv goes, while the two that stay are asked for the page
    # all along. Its node step drains it first (its tasks stop there and Swarm schedules them on the others), then
    # removes it; kv then runs on the other worker with its data.
    leaving = task_on(master, KV)
    stamp = str(time.time_ns())
    assert leaving.startswith("swarm-worker") and redis(ips[leaving], KV, "set", "stamp", stamp) == "OK"
    two = [n for n in LAB_NODES if n[0] != leaving]
    project.edit_config("lab", {"swarm-ceph:nodes": lab_stack_config(two)["config"]["swarm-ceph:nodes"]})
    load: dict = {}
    staying = [ip for _, ip, _ in two]
    loop = threading.Thread(target=lambda: load.update(r=request_loop(staying, PORT, edited, 8)))
    loop.start()
    ran = project.up()
    removed = time.monotonic()
    loop.join()
    latencies, failures = load["r"]
    assert not failures and len(latencies) > 10, f"{len(failures)} of {len(latencies)} requests failed: {failures}"
    # (like any move of kv, its new container waits for CephFS to hand over the file capabilities the old one held)
    eventually(lambda: task_on(master, KV) not in ("", leaving), 300, "kv to run on the other worker")
    print(f"kv running on the other worker {time.monotonic() - removed:.1f} s after the scale-down's `up`")
    gone = [name for name in ran["delete"] if leaving in name]
    assert gone == ran["delete"] and len(gone) >= 5, ran["delete"]  # only the third node's steps
    assert f"swarm-{leaving}-join" in gone and f"swarm-{leaving}-node" in gone
    assert swarm(master) == [f"{name} Ready" for name, _, _ in two]
    assert state(ips[leaving]) == "inactive"
    assert_unmounted(partial(sh, ips[leaving]), LAB_MOUNT, FUSE)  # its mount step was deleted with it
    serves_everywhere(two, edited)
    other = task_on(master, KV)
    assert other != "swarm-master" and redis(ips[other], KV, "get", "stamp") == stamp
    assert list(project.up("--expect-no-changes")) == ["same"]

    # Rotating the worker join token (README, Day 2): rotate on the manager, then replace the token step so that it
    # reads the new one; the joined nodes' join steps get the new token and find themselves joined.
    docker(master, "swarm", "join-token", "--rotate", "-q", "worker")
    (urn,) = [r["urn"] for r in project.resources() if r["urn"].endswith("::swarm-worker-token")]
    ran = project.up("--replace", urn)
    assert ran["replace"] == ["swarm-worker-token"] and "create" not in ran and "delete" not in ran, ran
    assert sorted(ran["update"]) == sorted(f"swarm-{name}-join" for name, _, role in two if role == "worker")
    # And back to three: the third joins again (with the rotated token) and serves.
    project.edit_config("lab", {"swarm-ceph:nodes": lab_stack_config()["config"]["swarm-ceph:nodes"]})
    ran = project.up()
    assert f"swarm-{leaving}-join" in ran["create"] and "delete" not in ran
    assert swarm(master) == [f"{name} Ready" for name, _, _ in lab_nodes]
    serves_everywhere(lab_nodes, edited)

    # No secret in clear: the state, the config files, and everything the engine printed.
    key_body = private_key.strip().splitlines()[1]  # a line of the key's base64
    for secret in (*tokens, key_body, ceph_key):
        assert project.leaks(secret) == []

    # Destroy: no service, every node out of the Swarm and without the mount, its fstab line, the key or the config.
    ran = project.destroy()
    assert list(ran) == ["delete"] and len(ran["delete"]) == len(expected) + 1
    for _, ip, _ in lab_nodes:
        assert state(ip) == "inactive"
        with pytest.raises(OSError):
            fetch(ip, PORT, timeout=1)
        assert_unmounted(partial(sh, ip), LAB_MOUNT, FUSE)
    # On CephFS, destroy leaves only the kv stack's data (stacks[] keep their DATA_DIR), which the test then removes.
    assert cephfs_ls(master) == ["kv"] and "appendonlydir" in cephfs_ls(master, "kv")
    cephfs_admin(master, "rm -r kv")
    assert [r["type"] for r in project.resources()] == []
