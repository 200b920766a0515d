"""L3 for the node-side steps: every script the program sends over SSH, run the same way (the same command line,
secrets on stdin) against real Docker-in-Docker Swarm nodes from lab/lab.sh, with the lab's real CephFS mounted by
ceph-fuse. Each step runs twice to prove it is idempotent, then the page is checked on every node from outside, a node
is stopped (failover) and comes back with its mount, one node's CephFS stalls (its task is kept, and every node serves
the page meanwhile, that one from nginx's open file), the page is edited (nginx reloaded by the page check),
and every delete step is run to prove destroy leaves nothing behind.

The Pulumi engine driving these steps from the program is tests/test_engine_lab.py."""

from __future__ import annotations

import subprocess
import time

import pytest

from components.compose import shipped_files
from components.config import StackConfig
from components.docker_stack import WEB_SERVICE, deploy_environment, html_dir, page_sha256
from lab.stack_config import LAB_NGINX_IMAGE, LAB_NODES, lab_host_key, lab_mount, lab_secrets
from lab.steps import PROJECT, cephfs_ls, eventually, node_state, remote, request_loop, running_on, step
from lab.steps import docker as lab_docker
from lab.steps import fetch as lab_fetch

pytestmark = pytest.mark.lab

LAB_MOUNT = lab_mount()
SHARED, KEY_FILE, CONF_FILE = LAB_MOUNT.point, LAB_MOUNT.key_file, LAB_MOUNT.conf_file
MOUNT = [SHARED, "fuse", KEY_FILE, CONF_FILE, LAB_MOUNT.conf, LAB_MOUNT.fstab]  # cephfs-mount.sh's arguments
STACK = StackConfig(image=LAB_NGINX_IMAGE, resolve_image="never", deploy_timeout_s=120)
MASTER, WORKER1, WORKER2 = LAB_NODES
COMPOSE = STACK.compose_path.read_text()
FILES, DIGESTS = shipped_files(COMPOSE, STACK.compose_path.parent)
PAGE = (PROJECT / STACK.page_file).read_text()
WEB = f"{STACK.name}_{WEB_SERVICE}"  # the service serving the page


def ssh(node, script: str, *args: object, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``script`` on ``node`` exactly as the program's remote step would."""
    result = step(node[1], script, *args, stdin=stdin)
    if check:
        assert (
            result.returncode == 0
        ), f"{script} on {node[0]}: rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def twice(node, script: str, *args: object, stdin: str | None = None) -> str:
    """Run a step twice; both succeed and print the same thing."""
    first = ssh(node, script, *args, stdin=stdin).stdout
    second = ssh(node, script, *args, stdin=stdin).stdout
    assert first == second, f"{script} on {node[0]} is not idempotent: {first!r} then {second!r}"
    return first


def docker(node, *args: str) -> str:
    return lab_docker(node[1], *args)


def fetch(ip: str, timeout: float = 2.0) -> str:
    return lab_fetch(ip, STACK.published_port, timeout)


def _web_container(node) -> str:
    return docker(node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK.name}_web")


def _stall_keeps_the_task(node, others, seconds: float) -> None:
    """Freeze ``node``'s ceph-fuse for ``seconds``: its mount really stalls, its web container is the same one after,
    and ``others`` serve the page without a failed request meanwhile."""
    before = _web_container(node)
    assert before, f"no web container on {node[0]}"
    # nginx's workers each open the page once (open_file_cache); requests spread over them
    warm = request_loop([node[1]], STACK.published_port, PAGE, 3)
    assert len(warm[0]) > 20 and not warm[1], warm
    remote(node[1], "pkill -STOP -x ceph-fuse", timeout=30)
    try:
        # the stall is real: a stat hangs until killed (137; its status echoed: ssh reports a killed command as 255)
        probe = remote(node[1], f"timeout -s KILL 3 stat {SHARED}/html/index.html; echo $?", timeout=30)
        assert probe.stdout.split()[-1:] == ["137"], f"the frozen mount answered: {probe}"
        # the frozen node too: nginx serves the page from the file it holds open, without CephFS
        latencies, failures = request_loop([node[1], *(o[1] for o in others)], STACK.published_port, PAGE, seconds)
    finally:
        remote(node[1], "pkill -CONT -x ceph-fuse", timeout=30)
    assert latencies and not failures, f"{len(failures)}/{len(latencies)} failed during the stall: {failures}"
    assert _web_container(node) == before, f"{node[0]}'s web task was replaced during the stall"


def test_platform_steps_on_real_swarm_nodes(lab_nodes):
    nodes = lab_nodes
    for node in nodes:
        assert twice(node, "wait-ready.sh", 60).strip() == "ready"

    # Swarm: init, token (stdin only), parallel-able joins, labels.
    takeover = ssh(MASTER, "swarm-init.sh", MASTER[1], "--existing", check=False)  # never makes a new Swarm
    assert takeover.returncode == 1 and "to take over from the lost first manager, but it is in no swarm" in (
        takeover.stderr
    )
    assert docker(MASTER, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"
    assert twice(MASTER, "swarm-init.sh", MASTER[1]).strip() == "manager"
    token = ssh(MASTER, "swarm-token.sh", "worker").stdout.strip()
    assert token.startswith("SWMTKN-1-")
    for worker in (WORKER1, WORKER2):
        assert twice(worker, "swarm-join.sh", MASTER[1], worker[1], stdin=token + "\n").strip() == "joined"
    bad = ssh(WORKER1, "swarm-join.sh", MASTER[1], WORKER1[1], stdin="not-a-token\n", check=False)
    assert bad.returncode == 0  # already active: the guard wins before the token is even looked at
    for name, _, role in nodes:
        twice(MASTER, "swarm-node.sh", "apply", name, 60, role, "active", "tier=web", f"host={name}")
    assert (
        docker(MASTER, "node", "inspect", "-f", "{{json .Spec.Labels}}", WORKER1[0])
        == '{"host":"swarm-worker1","tier":"web"}'
    )
    twice(MASTER, "swarm-node.sh", "apply", WORKER1[0], 60, "worker", "active", "tier=web")  # managed: host= goes
    assert docker(MASTER, "node", "inspect", "-f", "{{json .Spec.Labels}}", WORKER1[0]) == '{"tier":"web"}'
    assert sorted(docker(MASTER, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").splitlines()) == [
        f"{n} Ready" for n, _, _ in nodes
    ]

    # Storage: the lab's CephFS, the client key on stdin; every node sees every node's file.
    ceph_key = lab_secrets()["swarm-ceph:cephClientKey"]
    for node in nodes:
        assert twice(node, "cephfs-mount.sh", *MOUNT, stdin=ceph_key + "\n").strip() == "mounted"
    wrong = ssh(WORKER1, "cephfs-mount.sh", *MOUNT, stdin="\n", check=False)
    assert wrong.returncode != 0 and "no Ceph client key" in wrong.stderr
    for node in nodes:
        twice(node, "io-check.sh", SHARED, 10, *(n for n, _, _ in nodes))

    # The page and the stack.
    sha = twice(MASTER, "stack-page.sh", "put", html_dir(SHARED), stdin=PAGE).strip()
    assert sha == page_sha256(PAGE)
    deploy = [
        "deploy",
        STACK.name,
        f"/opt/swarm-ceph/stacks/{STACK.name}",
        STACK.resolve_image,
        STACK.deploy_timeout_s,
        *deploy_environment(STACK, SHARED),
        *DIGESTS,
    ]
    for file, text in FILES.items():  # nginx's server config, beside the compose file
        twice(MASTER, "stack-file.sh", "put", deploy[2], file, stdin=text)
    assert twice(MASTER, "stack-deploy.sh", *deploy, stdin=COMPOSE).strip() == "deployed"
    for node in nodes:
        twice(node, "serve-check.sh", f"http://{node[1]}:{STACK.published_port}/", sha, 60)
        assert fetch(node[1]) == PAGE  # and from outside the nodes

    # Failover: stop one node; the two others keep serving without a single failed request.
    subprocess.run(["docker", "stop", "-t", "1", WORKER2[0]], check=True, capture_output=True)
    try:
        latencies, failures = request_loop([MASTER[1], WORKER1[1]], STACK.published_port, PAGE, 20)
        assert len(latencies) > 20 and not failures, f"{len(failures)}/{len(latencies)} failed in failover: {failures}"
        eventually(lambda: node_state(MASTER[1], WORKER2[0]) == "down", 60, "the stopped node to be Down")
        eventually(
            lambda: running_on(MASTER[1], WEB) == sorted([MASTER[0], WORKER1[0]]),
            60,
            "the service to run on the two survivors",
        )
    finally:
        subprocess.run(["docker", "start", WORKER2[0]], check=True, capture_output=True)
    eventually(lambda: node_state(MASTER[1], WORKER2[0]) == "ready", 90, "the node to rejoin")
    ssh(WORKER2, "serve-check.sh", f"http://{WORKER2[1]}:{STACK.published_port}/", sha, 90)

    # A stalled CephFS on one node (its ceph-fuse frozen for 65 s, as an MDS failover or a laggy client stalls it):
    # the health check counts a stall healthy, so the node's task is kept (a check that failed on it would have had
    # Swarm replace the task after ~45 s here, and the new one could not start before the stall ended); the other
    # nodes serve throughout, and so does the frozen one (nginx holds the page open).
    _stall_keeps_the_task(WORKER1, [MASTER, WORKER2], 65)
    ssh(WORKER1, "serve-check.sh", f"http://{WORKER1[1]}:{STACK.published_port}/", sha, 60)

    # Edit the page: nginx holds the old one open (for an hour), until the page check reloads it; every node then
    # serves the new one.
    new_page = PAGE.replace("Hello from swarm-ceph", "Hello again from swarm-ceph")
    new_sha = ssh(MASTER, "stack-page.sh", "put", html_dir(SHARED), stdin=new_page).stdout.strip()
    time.sleep(2)
    assert fetch(WORKER2[1]) == PAGE  # still the cached page
    for node in nodes:
        check = ssh(node, "serve-check.sh", f"http://{node[1]}:{STACK.published_port}/", new_sha, 60, "-", WEB)
        assert "containers here reloaded" in check.stderr, check.stderr
        assert fetch(node[1]) == new_page

    # Destroy, in the order the engine would: stack, page, members, joins, init. Each delete runs twice.
    twice(MASTER, "stack-deploy.sh", "remove", STACK.name, 120)
    assert docker(MASTER, "service", "ls", "-q") == "" and docker(MASTER, "config", "ls", "-q") == ""
    for file in FILES:
        twice(MASTER, "stack-file.sh", "remove", f"/opt/swarm-ceph/stacks/{STACK.name}", file)
    twice(MASTER, "stack-page.sh", "remove", html_dir(SHARED))
    for worker in (WORKER1, WORKER2):
        twice(MASTER, "swarm-node.sh", "remove", worker[0])
        twice(worker, "swarm-leave.sh")
    twice(MASTER, "swarm-leave.sh")
    for node in nodes:
        assert twice(node, "cephfs-umount.sh", SHARED, KEY_FILE, CONF_FILE).strip() == "unmounted"
    for node in nodes:
        assert docker(node, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"
    for node in nodes:
        with pytest.raises(OSError):
            fetch(node[1], timeout=1)
    assert not {"html", ".swarm-ceph"} & set(cephfs_ls(MASTER[1]))  # neither the page nor an IO marker is left


def test_managers_join_with_their_token_and_are_demoted_before_removal(lab_nodes):
    """Three managers (Raft quorum 2 of 3): the others join with the manager token on stdin; removing one demotes it
    first, so the remaining two keep a quorum."""
    assert ssh(MASTER, "swarm-init.sh", MASTER[1]).stdout.strip() == "manager"
    token = ssh(MASTER, "swarm-token.sh", "manager").stdout.strip()
    try:
        for node in (WORKER1, WORKER2):
            assert twice(node, "swarm-join.sh", MASTER[1], node[1], stdin=token + "\n").strip() == "joined"
        managers = docker(MASTER, "node", "ls", "--filter", "role=manager", "--format", "{{.Hostname}}")
        assert sorted(managers.splitlines()) == sorted(n for n, _, _ in lab_nodes)
        # A role change by config: the node step demotes, then promotes again (each once: twice is a no-op).
        for role, raft in (("worker", ""), ("manager", "Reachable")):
            twice(MASTER, "swarm-node.sh", "apply", WORKER1[0], 60, role, "active")
            assert docker(MASTER, "node", "inspect", "-f", "{{.Spec.Role}}", WORKER1[0]) == role
            eventually(
                lambda raft=raft: docker(
                    MASTER, "node", "ls", "--filter", f"name={WORKER1[0]}", "--format", "{{.ManagerStatus}}"
                )
                == raft,
                60,
                f"{WORKER1[0]}'s manager status to be {raft!r}",
            )
        assert twice(MASTER, "swarm-node.sh", "remove", WORKER2[0]).strip() == "removed"
        twice(WORKER2, "swarm-leave.sh")
        managers = docker(MASTER, "node", "ls", "--filter", "role=manager", "--format", "{{.Hostname}} {{.Status}}")
        assert sorted(managers.splitlines()) == [f"{MASTER[0]} Ready", f"{WORKER1[0]} Ready"]
        assert docker(WORKER1, "info", "--format", "{{.Swarm.ControlAvailable}}") == "true"  # still a quorum
    finally:
        for node in (WORKER2, WORKER1, MASTER):
            ssh(node, "swarm-leave.sh")
    for node in lab_nodes:
        assert docker(node, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"


def test_a_rotated_join_token_is_refused_with_the_fix(lab_nodes):
    """The token steps read a token once; after a manual `join-token --rotate` a new node's join must fail with the
    engine's reason and the fix (re-read the token), never print the token, and leave the node untouched."""
    assert ssh(MASTER, "swarm-init.sh", MASTER[1]).stdout.strip() == "manager"
    try:
        stale = ssh(MASTER, "swarm-token.sh", "worker").stdout.strip()
        docker(MASTER, "swarm", "join-token", "--rotate", "-q", "worker")
        refused = ssh(WORKER1, "swarm-join.sh", MASTER[1], WORKER1[1], stdin=stale + "\n", check=False)
        assert refused.returncode != 0
        assert "refused the join token" in refused.stderr and "pulumi up --replace" in refused.stderr
        assert "A valid join token is necessary" in refused.stderr  # the engine's own reason, passed on
        assert stale not in refused.stdout + refused.stderr
        assert docker(WORKER1, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"
        fresh = ssh(MASTER, "swarm-token.sh", "worker").stdout.strip()
        assert fresh != stale
        assert ssh(WORKER1, "swarm-join.sh", MASTER[1], WORKER1[1], stdin=fresh + "\n").stdout.strip() == "joined"
    finally:
        for node in (WORKER1, MASTER):
            ssh(node, "swarm-leave.sh")
    for node in lab_nodes:
        assert docker(node, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"


def test_nodes_serve_their_derived_host_key_and_a_pinned_client_accepts_only_it(lab_nodes):
    """As the Proxmox VMs do (components/host_keys.py): each lab node's sshd has the key derived for its name as its
    only host key, a client pinning that key connects, and one pinning another node's key is refused. (The VMs get
    the key through cloud-init's ssh_keys, which the lab nodes do not run; pulumi-command's own check runs in
    tests/test_engine_lab.py, where the lab stack pins every node's key.)"""
    for name, ip, _ in lab_nodes:
        pinned = remote(ip, "echo pinned-ok", host_key=lab_host_key(name).public)
        assert pinned.returncode == 0 and pinned.stdout.strip() == "pinned-ok", f"{name}: {pinned.stderr}"
    other = remote(MASTER[1], "echo pinned-ok", host_key=lab_host_key(WORKER1[0]).public)
    assert other.returncode != 0 and "Host key verification failed" in other.stderr
    assert "pinned-ok" not in other.stdout


@pytest.mark.parametrize(
    ("who", "option", "default", "value", "shown"),
    [
        ("mon", "mds_beacon_mon_down_grace", "60", 30, "30"),
        ("mds", "mds_reconnect_timeout", "45.000000", 30, "30.000000"),
    ],
)
def test_the_ceph_option_steps_against_the_labs_real_ceph(lab_nodes, who, option, default, value, shown):
    """ceph-config.sh, the MicroCeph steps that shorten an MDS failover, against the lab's real MONs (Ceph 18.2.7 on
    the Debian 13 lab): the guard reads Ceph's own answers (a float option prints as 30.000000). MicroCeph's
    `microceph.ceph` is stood in for by a wrapper running the lab's `ceph` (the same CLI without the snap's paths).
    The lab's ceph.conf sets these options for its daemons, and a node's file outranks the central configuration, so
    the value set here changes nothing the other tests see."""
    wrapper = "/usr/local/bin/microceph.ceph"
    put = remote(MASTER[1], f"printf '#!/bin/sh\\nexec ceph \"$@\"\\n' >{wrapper} && chmod 755 {wrapper}")
    assert put.returncode == 0, put.stderr

    def central() -> str:
        return remote(MASTER[1], f"ceph config get {who} {option}").stdout.strip()

    def config_step(action: str) -> str:
        return ssh(MASTER, "ceph-config.sh", action, who, option, value).stderr

    try:
        assert central() == default
        assert f"{who} {option}: {default} -> {value}" in config_step("set")
        assert f"{who} {option} is {shown} already" in config_step("set")
        assert central() == shown
        assert "back to Ceph's default" in config_step("rm")
        assert central() == default
        assert f"reads {default}, not {value}" in config_step("rm")
    finally:
        remote(MASTER[1], f"rm -f {wrapper}; ceph config rm {who} {option}")
