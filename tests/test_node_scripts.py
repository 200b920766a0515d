"""Node-side scripts that cannot run for real here, run against stand-ins: MicroCeph's CLI faked in
tests/fakes/microceph (replaying the real MicroCeph's recorded answers, tests/data/microceph) to check every guard,
the CephFS mount steps against fake mount commands (tests/fakes/cephfs-client) with a scratch /etc/fstab, and the
fstab edits on a temporary file.
Each step runs twice: the second run must change nothing."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from components.cephfs import ceph_conf, fstab_line
from components.config import StorageConfig
from components.scripts import SCRIPTS_DIR, script_command
from lab.program import FAKE_CEPH_CLIENT_KEY

FAKES = Path(__file__).parent / "fakes"
DISK = "/dev/vda" if Path("/dev/vda").is_block_device() else "/dev/loop0"


def run(
    script: str, *args: object, state: Path, stdin: str | None = None, **env_vars: str
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{FAKES}:{os.environ['PATH']}", "FAKE_MICROCEPH_STATE": str(state), **env_vars}
    return subprocess.run(
        ["sh", "-c", script_command(script, *args)], input=stdin, env=env, capture_output=True, text=True, timeout=60
    )


def ok(script: str, *args: object, state: Path, stdin: str | None = None, **env_vars: str) -> str:
    result = run(script, *args, state=state, stdin=stdin, **env_vars)
    assert result.returncode == 0, f"{script}: {result.stdout}{result.stderr}"
    return result.stdout


def calls(state: Path) -> list[str]:
    log = state / "calls"
    return log.read_text().splitlines() if log.exists() else []


def test_microceph_bootstrap_node_steps_are_guarded(tmp_path):
    assert Path(DISK).is_block_device(), "a block device is needed for microceph-disk.sh's check"
    state = tmp_path / "bootstrap-node"
    for _ in range(2):
        assert ok("microceph-bootstrap.sh", "10.10.1.10", 30, state=state).strip() == "bootstrapped"
    assert calls(state) == ["cluster bootstrap --mon-ip 10.10.1.10"]

    token = ok("microceph-add.sh", "swarm-worker1", state=state).strip()
    assert token == "token-for-swarm-worker1"
    (state / "members/swarm-worker1").write_text("10.10.1.11\n")  # it joined
    assert ok("microceph-add.sh", "swarm-worker1", state=state) == ""  # a member: no new token, no call
    assert ok("microceph-add.sh", "swarm-worker10", state=state).strip() == "token-for-swarm-worker10"

    for _ in range(2):
        assert ok("microceph-disk.sh", DISK, state=state).strip() == "osd"
    assert calls(state).count(f"disk add {DISK} --wipe") == 1

    (state / "disks/b").write_text("/dev/sdx\n")
    (state / "disks/c").write_text("/dev/sdy\n")
    assert ok("ceph-health.sh", 3, 10, state=state).strip() == "HEALTH_OK"
    failed = run("ceph-health.sh", 4, 6, state=state)
    assert failed.returncode == 1 and "did not reach 4 OSDs up" in failed.stderr
    assert failed.stderr.rstrip().endswith(
        "within 6s: 3 osds: 3 up (since 17s), 3 in (since 20s); epoch: e18"
    ), failed.stderr

    before = len(calls(state))
    for _ in range(2):  # the client's key, the only line on stdout, both times
        out = ok("cephfs-create.sh", "cephfs", "cephfs_metadata", "cephfs_data", 10, "swarm", state=state)
        assert out == "fake-key-of-client.swarm\n"
    assert calls(state)[before:] == [
        "osd pool create cephfs_metadata",
        "osd pool create cephfs_data",
        "fs new cephfs cephfs_metadata cephfs_data",
        "fs authorize cephfs client.swarm / rw",
    ]
    # a client that exists already is left as it is (its caps are the operator's): only its key is read
    (state / "auth/client.ops").write_text("operators-key\n")
    out = ok("cephfs-create.sh", "cephfs", "cephfs_metadata", "cephfs_data", 10, "ops", state=state)
    assert out == "operators-key\n" and len(calls(state)) == before + 4


def test_guards_read_the_whole_listing(tmp_path):
    """A guard finds its match in the first rows of a listing that goes on for 20000 more (a big cluster) and
    still reads "done", every time. `producer | grep -q x` under pipefail does not: grep exits at its first match,
    the producer, still writing, dies of SIGPIPE, and the pipeline fails, so the guard reads "not done"."""
    assert Path(DISK).is_block_device(), "a block device is needed for microceph-disk.sh's check"
    state = tmp_path / "big-cluster"
    long = {"FAKE_MICROCEPH_LONG": "20000"}  # rows the fake adds to each listing: far more than a pipe holds
    cephfs = ("cephfs", "cephfs_metadata", "cephfs_data", 10, "swarm")
    ok("microceph-bootstrap.sh", "10.10.1.10", 30, state=state, **long)
    (state / "members/swarm-worker1").write_text("10.10.1.11\n")  # it joined
    assert ok("microceph-disk.sh", DISK, state=state, **long).strip() == "osd"
    key = "fake-key-of-client.swarm"
    assert ok("cephfs-create.sh", *cephfs, state=state, **long).strip() == key
    done = calls(state)
    assert done[1:] == [
        f"disk add {DISK} --wipe",
        "osd pool create cephfs_metadata",
        "osd pool create cephfs_data",
        "fs new cephfs cephfs_metadata cephfs_data",
        "fs authorize cephfs client.swarm / rw",
    ]
    for _ in range(10):
        assert ok("microceph-add.sh", "swarm-worker1", state=state, **long) == ""
        assert ok("microceph-disk.sh", DISK, state=state, **long).strip() == "osd"
        assert ok("cephfs-create.sh", *cephfs, state=state, **long).strip() == key
    assert calls(state) == done
    assert ok("microceph-add.sh", "swarm-worker2", state=state, **long).strip() == "token-for-swarm-worker2"


def test_microceph_add_stops_when_the_member_list_cannot_be_read(tmp_path):
    """A node with no cluster ("Database is not yet initialized") makes no token: it cannot add anyone."""
    state = tmp_path / "not-bootstrapped"
    result = run("microceph-add.sh", "swarm-worker1", state=state)
    assert result.returncode == 1 and "is not a MicroCeph cluster member: it cannot add" in result.stderr
    assert result.stdout == "" and calls(state) == []


# `producer | grep -q` (or any grep that stops reading early: -q, --quiet, --silent, -m N, --max-count) under
# pipefail fails at random when grep exits before the producer has written everything. The scripts capture the
# producer's output first and test that instead.
_PIPE_INTO_GREP = re.compile(r"(?<!\|)\|&?\s*grep\b([^|;&)\n]*)")
_STOPS_EARLY = re.compile(r"-[A-Za-ln-pr-z]*[qm].*|--(quiet|silent|max-count)\b.*")


def early_exiting_greps(text: str) -> list[str]:
    """The pipelines in shell ``text`` that pipe into a grep which stops reading early."""
    found = []
    for match in _PIPE_INTO_GREP.finditer(text):
        for word in match.group(1).split():
            if word == "--" or not word.startswith("-"):
                break
            if _STOPS_EARLY.fullmatch(word):
                found.append(match.group(0).strip())
                break
    return found


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS_DIR.glob("*.sh")))
def test_no_script_pipes_into_an_early_exiting_grep(script):
    assert early_exiting_greps((SCRIPTS_DIR / script).read_text()) == []


def test_the_early_exiting_grep_check_can_fail():
    bad = [
        'if microceph cluster list | grep -qE "(^|[[:space:]|])${host}([[:space:]|]|$)"; then',
        "snap list microceph 2>/dev/null | grep -q held || die x",
        "docker service ps x --format '{{.CurrentState}}' | grep -qv '^Running'",
        'if ! microceph.ceph osd pool ls | grep -xF -q -- "$pool"; then',
        "a |\n    grep --quiet b",
        "a |& grep -m1 b",
        "a | grep -E --max-count=1 b",
    ]
    good = [
        'grep -qxF -- "$pool" <<<"$pools"',
        'if grep -qxF -- "$line" "$fstab" && [[ $(awk -v mp="$mp" \'$2 == mp\' "$fstab" | wc -l) == 1 ]]; then',
        "a || grep -q b file",
        "a | grep -v b >/dev/null",
        'a | grep -e "-q" -- x',
    ]
    assert [len(early_exiting_greps(line)) for line in bad] == [1] * len(bad)
    assert [early_exiting_greps(line) for line in good] == [[]] * len(good)


def test_microceph_join_reads_the_token_from_stdin_once(tmp_path):
    state = tmp_path / "joining-node"
    empty = run("microceph-join.sh", state=state, stdin="")
    assert empty.returncode == 1 and "no join token on stdin" in empty.stderr
    for _ in range(2):
        assert ok("microceph-join.sh", state=state, stdin="token-for-swarm-worker1\n").strip() == "joined"
    assert calls(state) == ["cluster join <token>"]


def test_microceph_disk_refuses_a_missing_device(tmp_path):
    result = run("microceph-disk.sh", "/dev/disk/by-id/does-not-exist", state=tmp_path / "s")
    assert result.returncode == 1 and "is not a block device" in result.stderr


# The CephFS mount steps, run for real against stand-ins for the mount commands (tests/fakes/cephfs-client) in a
# private mount namespace whose /etc/fstab is a scratch file: this machine's fstab and mounts are never touched.
CLIENT_COMMANDS = ["findmnt", "mount", "umount", "mountpoint", "systemctl", "mount.ceph", "ceph-fuse"]
UNSHARE, REAL_MOUNT = shutil.which("unshare"), shutil.which("mount")
SYSTEMD = Path("/run/systemd/system").is_dir()


@functools.cache
def private_mount_namespace() -> bool:
    if not (UNSHARE and REAL_MOUNT):
        return False
    probe = subprocess.run([UNSHARE, "-m", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


class CephClientHost:
    """A scratch "host": /etc/fstab (in the namespace), /etc/ceph under tmp, the fake mount commands first on PATH."""

    def __init__(self, tmp_path: Path, client: str = "kernel"):
        if not private_mount_namespace():
            pytest.fail("needs root and unshare(1) for a private mount namespace (the scripts edit /etc/fstab)")
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name in CLIENT_COMMANDS:
            (self.bin / name).symlink_to(FAKES / "cephfs-client")
        self.state = tmp_path / "client-state"
        self.fstab = tmp_path / "fstab"
        self.fstab.write_text("# <file system> <mount point> <type>\nUUID=1 / ext4 defaults 0 1\n")
        self.mp = tmp_path / "mnt/cephfs"
        etc = tmp_path / "etc/ceph"
        self.secret, self.conf = etc / "swarm-ceph.client.swarm.secret", etc / "swarm-ceph.conf"
        monitors = ["10.10.1.2", "10.10.1.3:6789"]
        self.conf_text = ceph_conf(monitors, "swarm", "cephfs", str(self.secret))
        self.line = fstab_line(client, monitors, str(self.mp), "cephfs", "swarm", str(self.secret), str(self.conf))
        self.client = client

    def run(self, script: str, *args: object, stdin: str | None = None, **env_vars: str):
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}", "FAKE_CEPHFS_STATE": str(self.state)}
        bind = f'{REAL_MOUNT} --bind "$1" /etc/fstab && exec sh -c "$2"'
        return subprocess.run(
            [UNSHARE, "-m", "--propagation", "private", "sh", "-c", bind, "ns", str(self.fstab)]
            + [script_command(script, *args)],
            input=stdin,
            env={**env, **env_vars},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def mount(self, stdin: str | None = FAKE_CEPH_CLIENT_KEY + "\n", **env_vars: str):
        args = [self.mp, self.client, self.secret, self.conf, self.conf_text, self.line]
        return self.run("cephfs-mount.sh", *args, stdin=stdin, **env_vars)

    def umount(self):
        return self.run("cephfs-umount.sh", self.mp, self.secret, self.conf)

    def calls(self) -> list[str]:
        log = self.state / "calls"
        return [c for c in (log.read_text().splitlines() if log.exists() else []) if not c.startswith("systemctl")]


@pytest.mark.parametrize("client, fstype", [("kernel", "ceph"), ("fuse", "fuse.ceph-fuse")])
def test_cephfs_mount_and_umount_are_guarded(tmp_path, client, fstype):
    host = CephClientHost(tmp_path, client)
    original = host.fstab.read_text()
    me = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
    inodes = []
    for _ in range(2):
        done = host.mount()
        assert done.returncode == 0 and done.stdout == "mounted\n", done.stderr
        assert FAKE_CEPH_CLIENT_KEY not in done.stdout + done.stderr
        assert host.secret.read_text() == FAKE_CEPH_CLIENT_KEY + "\n"
        assert host.secret.stat().st_mode & 0o777 == 0o600 and host.conf.stat().st_mode & 0o777 == 0o644
        assert host.conf.read_text() == host.conf_text
        assert host.fstab.read_text() == original + host.line + "\n"
        assert (host.mp / ".swarm-ceph/io" / me).read_text().strip() == me
        assert (host.state / "mounted").read_text().strip() == fstype
        inodes.append((host.secret.stat().st_ino, host.conf.stat().st_ino))
    assert inodes[0] == inodes[1]  # the second run rewrote neither file
    assert host.calls() == [f"mount {host.mp}"]  # mounted once
    assert ("systemctl daemon-reload" in (host.state / "calls").read_text()) is SYSTEMD
    assert (tmp_path / "etc/ceph").stat().st_mode & 0o777 == 0o755

    (host.mp / "user-data").write_text("kept")  # on the shared filesystem (here: the directory) itself
    for _ in range(2):
        done = host.umount()
        assert done.returncode == 0 and done.stdout == "unmounted\n", done.stderr
        assert host.fstab.read_text() == original
        assert not host.secret.exists() and not host.conf.exists()
        assert not (host.mp / ".swarm-ceph").exists() and (host.mp / "user-data").exists()
    assert host.calls() == [f"mount {host.mp}", f"umount {host.mp}"]  # unmounted once


def test_cephfs_mount_takes_exactly_one_key_line_on_stdin(tmp_path):
    host = CephClientHost(tmp_path)
    for stdin, words in (("", "no Ceph client key on stdin"), ("AQAA\nAQBB\n", "more than one line")):
        done = host.mount(stdin=stdin)
        assert done.returncode == 1 and words in done.stderr
        assert "AQAA" not in done.stderr and not host.secret.exists()
    assert host.fstab.read_text().count("ceph") == 0 and host.calls() == []


def test_cephfs_mount_says_why_when_the_filesystem_is_not_mounted(tmp_path):
    host = CephClientHost(tmp_path)
    done = host.mount(FAKE_CEPHFS_MOUNT_FAILS="1")
    assert done.returncode == 1 and f"{host.mp} is not a CephFS mount (ceph) after mounting" in done.stderr
    assert "findmnt says 'ext4'" in done.stderr and "no mds server is up" in done.stderr
    assert "reaches the monitors" in done.stderr and FAKE_CEPH_CLIENT_KEY not in done.stderr
    assert not (host.mp / ".swarm-ceph").exists()  # no IO marker on a directory that is not the shared filesystem


STACKS = SCRIPTS_DIR.parent.parent / "stacks"


def test_stack_file_puts_a_config_file_beside_the_compose_file(tmp_path):
    """nginx's server config, byte for byte and world-readable, where `docker stack deploy` reads a config's
    `file: ./default.conf`; run again with the same content it writes nothing; its delete removes it; a name that is
    not a file name is refused."""
    conf = (STACKS / "nginx/default.conf").read_text()
    target = tmp_path / "stacks/web/default.conf"
    digest = hashlib.sha256(conf.encode()).hexdigest()
    assert ok("stack-file.sh", "put", target.parent, "default.conf", state=tmp_path, stdin=conf) == digest + "\n"
    assert target.read_text() == conf and oct(target.stat().st_mode & 0o777) == "0o644"
    inode = target.stat().st_ino
    again = run("stack-file.sh", "put", target.parent, "default.conf", state=tmp_path, stdin=conf)
    assert again.stdout == digest + "\n" and "holds this content already" in again.stderr
    assert target.stat().st_ino == inode and sorted(p.name for p in target.parent.iterdir()) == ["default.conf"]
    edited = conf + "# edited\n"
    assert ok("stack-file.sh", "put", target.parent, "default.conf", state=tmp_path, stdin=edited).strip() == (
        hashlib.sha256(edited.encode()).hexdigest()
    )
    assert target.read_text() == edited
    for _ in range(2):
        assert ok("stack-file.sh", "remove", target.parent, "default.conf", state=tmp_path) == "removed\n"
    assert not target.exists()
    bad = run("stack-file.sh", "put", target.parent, "../evil", state=tmp_path, stdin="x\n")
    assert bad.returncode == 1 and "'../evil' is not a file name" in bad.stderr
    assert not (tmp_path / "stacks/evil").exists()


def test_stack_deploy_removes_the_configs_its_services_no_longer_use(tmp_path):
    """A changed config file is a new Swarm config (named by its digest); once the stack has converged on it, the old
    one, which no service uses any more, is removed; the one in use stays, and a deploy that changes nothing removes
    nothing."""
    docker = tmp_path / "docker"
    env = dict(state=docker, FAKE_DOCKER_STATE=str(docker))
    deploy = ["deploy", "web", tmp_path / "stacks/web", "never", 10]
    assert ok("stack-deploy.sh", *deploy, "WEB_CONF_DIGEST=aaaa", stdin="services: {}\n", **env) == "deployed\n"
    assert ok("stack-deploy.sh", *deploy, "WEB_CONF_DIGEST=aaaa", stdin="services: {}\n", **env) == "deployed\n"
    assert sorted(p.name for p in (docker / "configs").iterdir()) == ["aaaa"]
    done = run("stack-deploy.sh", *deploy, "WEB_CONF_DIGEST=bbbb", stdin="services: {}\n", **env)
    assert done.returncode == 0 and "removed config aaaa" in done.stderr, done.stderr
    assert sorted(p.name for p in (docker / "configs").iterdir()) == ["bbbb"]
    assert (docker / "calls").read_text().splitlines() == [*["stack deploy web"] * 3, "config rm aaaa"]


def test_stack_deploy_makes_the_data_dir_and_the_remove_keeps_it(tmp_path):
    """An extra stack's DATA_DIR (its directory on the shared storage) exists before `docker stack deploy` (a bind
    source must), and stays when the stack is removed: it holds the stack's data."""
    shared, docker = tmp_path / "shared", tmp_path / "docker"
    shared.mkdir()
    data = shared / "kv"
    compose = (STACKS / "kv/docker-compose.yml").read_text()
    deploy = ["deploy", "kv", tmp_path / "stacks/kv", "always", 10, f"DATA_DIR={data}", "KV_IMAGE=redis:7.2"]
    for _ in range(2):
        out = ok("stack-deploy.sh", *deploy, state=tmp_path / "ceph", stdin=compose, FAKE_DOCKER_STATE=str(docker))
        assert out == "deployed\n" and data.is_dir()
    env = (docker / "env").read_text().splitlines()
    assert f"DATA_DIR={data}" in env and "KV_IMAGE=redis:7.2" in env
    assert (docker / "compose.yml").read_text() == compose == (tmp_path / "stacks/kv/docker-compose.yml").read_text()
    (data / "appendonly.aof").write_text("user data")
    for _ in range(2):
        assert ok("stack-deploy.sh", "remove", "kv", 10, state=tmp_path / "ceph", FAKE_DOCKER_STATE=str(docker)) == (
            "removed\n"
        )
    assert (docker / "calls").read_text().splitlines() == ["stack deploy kv", "stack deploy kv", "stack rm kv"]
    assert (data / "appendonly.aof").read_text() == "user data"


def test_stack_deploy_without_data_dir_creates_no_directory(tmp_path):
    """The web stack has no DATA_DIR: the deploy creates nothing on the shared storage (its page step does)."""
    docker = tmp_path / "docker"
    before = sorted(p.name for p in tmp_path.iterdir())
    deploy = ["deploy", "web", tmp_path / "stacks/web", "never", 10, "HTML_DIR=/nonexistent/html"]
    assert ok("stack-deploy.sh", *deploy, state=docker, stdin="services: {}\n", FAKE_DOCKER_STATE=str(docker)) == (
        "deployed\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "stacks", "docker"])
    assert not Path("/nonexistent").exists()


def test_stack_page_put_writes_only_a_changed_page(tmp_path):
    """A rerun with the same page (the leader moved, the step updated in place) writes nothing to the shared storage:
    the file keeps its inode and no temporary file is made; a changed page, or a wrong mode, is written again."""
    html = tmp_path / "html"
    sha = hashlib.sha256(b"<p>one</p>\n").hexdigest()
    assert ok("stack-page.sh", "put", html, state=tmp_path, stdin="<p>one</p>\n") == f"{sha}\n"
    page = html / "index.html"
    inode, changed = page.stat().st_ino, html.stat().st_mtime_ns
    time.sleep(0.01)  # a write (a temporary file, a rename) would change the directory's mtime
    assert ok("stack-page.sh", "put", html, state=tmp_path, stdin="<p>one</p>\n") == f"{sha}\n"
    assert page.stat().st_ino == inode and html.stat().st_mtime_ns == changed
    page.chmod(0o600)
    assert ok("stack-page.sh", "put", html, state=tmp_path, stdin="<p>one</p>\n") == f"{sha}\n"
    assert page.stat().st_mode & 0o777 == 0o644 and page.stat().st_ino != inode
    two = hashlib.sha256(b"<p>two</p>\n").hexdigest()
    assert ok("stack-page.sh", "put", html, state=tmp_path, stdin="<p>two</p>\n") == f"{two}\n"
    assert page.read_text() == "<p>two</p>\n" and os.listdir(html) == ["index.html"]
    for _ in range(2):
        assert ok("stack-page.sh", "remove", html, state=tmp_path) == "removed\n"
    assert not html.exists()


def swarm_node(docker: Path, name: str, availability: str = "active", **labels: str) -> Path:
    """A Ready worker in the fake Swarm (tests/fakes/docker) with ``availability`` and ``labels``."""
    node = docker / "nodes" / name
    (node / "labels").mkdir(parents=True)
    (node / "state").write_text("ready\n")
    (node / "role").write_text("worker\n")
    (node / "availability").write_text(availability + "\n")
    for key, value in labels.items():
        (node / "labels" / key).write_text(value + "\n")
    return node


def node_spec(node: Path) -> tuple[str, dict[str, str]]:
    labels = {f.name: f.read_text().strip() for f in (node / "labels").iterdir()}
    return (node / "availability").read_text().strip(), labels


def node_role(node: Path) -> str:
    return (node / "role").read_text().strip()


def test_swarm_node_apply_sets_availability_and_labels_in_one_guarded_update(tmp_path):
    docker = tmp_path / "docker"
    node = swarm_node(docker, "swarm-worker1", stale="x")
    apply = ["apply", "swarm-worker1", 10, "worker"]
    for _ in range(2):
        out = ok("swarm-node.sh", *apply, "drain", "ceph=true", state=tmp_path / "ceph", FAKE_DOCKER_STATE=str(docker))
        assert out == "ready\n"
    assert node_spec(node) == ("drain", {"ceph": "true"})
    # one update with every change, and none the second time: the node already is as asked
    assert calls(docker) == ["node update --availability drain --label-add ceph=true --label-rm stale swarm-worker1"]

    # a label-only change leaves the availability alone
    ok("swarm-node.sh", *apply, "drain", "ceph=false", state=tmp_path / "ceph", FAKE_DOCKER_STATE=str(docker))
    assert calls(docker)[1:] == ["node update --label-add ceph=false swarm-worker1"]
    # an availability-only change leaves the labels alone
    for _ in range(2):
        ok("swarm-node.sh", *apply, "active", "ceph=false", state=tmp_path / "ceph", FAKE_DOCKER_STATE=str(docker))
    assert calls(docker)[2:] == ["node update --availability active swarm-worker1"]
    assert node_spec(node) == ("active", {"ceph": "false"})


def test_swarm_node_apply_drain_ends_when_no_task_runs_there(tmp_path):
    """Swarm stops a drained node's tasks after `docker node update` returns: apply waits until none runs, and fails
    naming the node when they do not stop within the timeout."""
    docker = tmp_path / "docker"
    node = swarm_node(docker, "swarm-worker1")
    (node / "tasks").write_text("web\n")
    (node / "stopping").write_text("2\n")  # still Running for two more looks
    apply = ["apply", "swarm-worker1", 10, "worker", "drain"]
    assert ok("swarm-node.sh", *apply, state=tmp_path / "ceph", FAKE_DOCKER_STATE=str(docker)) == "ready\n"
    assert (node / "stopping").read_text().strip() == "0"  # it looked until the task had stopped
    (node / "stopping").write_text("1000\n")
    stuck = run(
        "swarm-node.sh", "apply", "swarm-worker1", 1, "worker", "drain", state=tmp_path, FAKE_DOCKER_STATE=str(docker)
    )
    assert stuck.returncode == 1 and "tasks still run on swarm-worker1 1s after it was drained" in stuck.stderr


def test_swarm_node_apply_promotes_and_demotes_by_role_alone(tmp_path):
    """A role change in config (worker <-> manager) is one `docker node update --role`, and nothing else moves."""
    docker = tmp_path / "docker"
    node = swarm_node(docker, "swarm-worker1", ceph="true")
    for role in ("manager", "manager", "worker", "worker"):
        ok(
            "swarm-node.sh",
            "apply",
            "swarm-worker1",
            10,
            role,
            "active",
            "ceph=true",
            state=tmp_path / "ceph",
            FAKE_DOCKER_STATE=str(docker),
        )
        assert node_role(node) == role
    assert calls(docker) == ["node update --role manager swarm-worker1", "node update --role worker swarm-worker1"]
    assert node_spec(node) == ("active", {"ceph": "true"})


def test_swarm_node_remove_drains_a_ready_node_first_and_never_waits_for_a_down_one(tmp_path):
    """Scale-down: a Ready node is drained (its tasks start elsewhere) before it is demoted and removed. A lost node
    (Down) is demoted and removed at once. A second run finds nothing to do."""
    docker = tmp_path / "docker"
    ready = swarm_node(docker, "swarm-worker1")
    (ready / "tasks").write_text("web\nkv\n")
    down = swarm_node(docker, "swarm-manager3")
    (down / "state").write_text("down\n")
    (down / "role").write_text("manager\n")
    (down / "tasks").write_text("web\n")
    (docker / "out-of-sequence").write_text("2\n")  # two writes race with another change of the node: tried again
    for _ in range(2):
        for host in ("swarm-worker1", "swarm-manager3"):
            done = run("swarm-node.sh", "remove", host, 10, state=tmp_path / "ceph", FAKE_DOCKER_STATE=str(docker))
            assert done.returncode == 0 and done.stdout == "removed\n", done.stderr
            assert "tasks still run" not in done.stderr  # the drained node's tasks were seen to stop
    assert calls(docker) == [
        "node update --availability drain swarm-worker1",
        "node rm --force swarm-worker1",
        "node demote swarm-manager3",
        "node rm --force swarm-manager3",
    ]
    assert not ready.exists() and not down.exists()
    assert (docker / "out-of-sequence").read_text().strip() == "0"


def test_swarm_node_rides_out_a_manager_without_a_leader(tmp_path):
    """A just-healed manager (or one in an election) answers "The swarm does not have a leader": every node command
    is asked again (for SWARM_WAIT_S), so that neither a destroy nor an up fails on it, and a remove never takes that
    answer for "not in the swarm" (the node would stay in the Swarm). A node the Swarm does not know ("No such
    node") is no error; an answer that does not pass in time is, naming it."""
    docker = tmp_path / "docker"
    env = dict(state=tmp_path / "ceph", FAKE_DOCKER_STATE=str(docker))
    node = swarm_node(docker, "swarm-worker1")
    (docker / "no-leader").write_text("3\n")
    assert ok("swarm-node.sh", "apply", "swarm-worker1", 10, "worker", "active", "tier=web", **env) == "ready\n"
    (docker / "no-leader").write_text("3\n")
    done = run("swarm-node.sh", "remove", "swarm-worker1", 10, **env)
    assert done.returncode == 0 and done.stdout == "removed\n", done.stderr
    assert "does not have a leader" in done.stderr and (docker / "no-leader").read_text().strip() == "0"
    assert calls(docker) == [
        "node update --label-add tier=web swarm-worker1",
        "node update --availability drain swarm-worker1",
        "node rm --force swarm-worker1",
    ]
    assert not node.exists()
    gone = run("swarm-node.sh", "remove", "swarm-worker1", 10, **env)
    assert gone.returncode == 0 and "swarm-worker1 is not in the swarm; nothing to remove" in gone.stderr

    swarm_node(docker, "swarm-worker2")
    (docker / "no-leader").write_text("1000\n")
    done = run("swarm-node.sh", "remove", "swarm-worker2", 10, SWARM_WAIT_S="3", **env)
    assert done.returncode == 1 and "could not ask the Swarm about swarm-worker2" in done.stderr, done.stderr
    assert "Make sure more than half of the managers are online" in done.stderr
    assert (docker / "nodes/swarm-worker2").is_dir()


def test_swarm_node_apply_refuses_an_unknown_role_or_availability(tmp_path):
    docker = tmp_path / "docker"
    node = swarm_node(docker, "swarm-worker1", ceph="true")
    cases = [
        (["worker", "Drain"], "unknown availability 'Drain'"),  # a typo
        (["worker", "ceph=true"], "unknown availability 'ceph=true'"),  # labels without the availability
        (["Manager", "active"], "unknown role 'Manager'"),  # a typo
        (["active", "ceph=true"], "unknown role 'active'"),  # the availability without the role
    ]
    for bad, message in cases:
        result = run("swarm-node.sh", "apply", "swarm-worker1", 10, *bad, state=tmp_path, FAKE_DOCKER_STATE=str(docker))
        assert result.returncode == 1 and message in result.stderr, result.stderr
    missing = run(
        "swarm-node.sh", "apply", "swarm-worker1", 10, "worker", state=tmp_path, FAKE_DOCKER_STATE=str(docker)
    )
    assert missing.returncode != 0 and "AVAILABILITY" in missing.stderr
    assert calls(docker) == [] and node_spec(node) == ("active", {"ceph": "true"}) and node_role(node) == "worker"


def _fstab(action: str, fstab: Path, *args: str) -> str:
    lib = SCRIPTS_DIR / "lib.sh"
    result = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; . "{lib}"; "$@"', "fstab", action, str(fstab), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_fstab_line_is_set_once_and_removed_cleanly(tmp_path):
    fstab = tmp_path / "fstab"
    original = "# <file system> <mount point> <type>\nUUID=1 / ext4 defaults 0 1\nold:/ /mnt/cephfs ceph old 0 0\n"
    fstab.write_text(original)
    line = (
        "10.10.1.10:/ /mnt/cephfs ceph "
        "name=admin,secretfile=/etc/ceph/cephfs.admin.secret,noatime,_netdev,x-systemd.automount 0 0"
    )
    assert _fstab("fstab_set", fstab, "/mnt/cephfs", line) == "changed"
    assert _fstab("fstab_set", fstab, "/mnt/cephfs", line) == "unchanged"
    assert fstab.read_text() == "# <file system> <mount point> <type>\nUUID=1 / ext4 defaults 0 1\n" + line + "\n"
    assert _fstab("fstab_remove", fstab, "/mnt/cephfs") == "changed"
    assert _fstab("fstab_remove", fstab, "/mnt/cephfs") == "unchanged"
    assert fstab.read_text() == "# <file system> <mount point> <type>\nUUID=1 / ext4 defaults 0 1\n"


@pytest.mark.parametrize("rc, ok_, words", [("0", True, ""), ("2", True, "degraded"), ("1", False, "did not finish")])
def test_wait_ready_accepts_a_degraded_cloud_init_but_not_an_error(tmp_path, rc, ok_, words):
    result = run("wait-ready.sh", 5, state=tmp_path, FAKE_CLOUD_INIT_RC=rc)
    assert (result.returncode == 0) is ok_, result.stderr
    assert words in result.stderr


def test_stack_deploy_remove_runs_stack_rm_again_while_the_network_is_in_use(tmp_path):
    """`docker stack rm` fails when Swarm still holds a task on the stack's network, having removed the services: the
    remove runs it again until the network is gone too, and names Docker's reason on a timeout."""
    docker = tmp_path / "docker"
    deploy = ["deploy", "web", tmp_path / "stacks/web", "never", 10]
    env = dict(state=docker, FAKE_DOCKER_STATE=str(docker))
    assert ok("stack-deploy.sh", *deploy, stdin="services: {}\n", **env) == "deployed\n"
    (docker / "in-use").write_text("2")
    assert ok("stack-deploy.sh", "remove", "web", 10, **env) == "removed\n"
    assert (docker / "calls").read_text().splitlines() == ["stack deploy web", *["stack rm web"] * 3]
    assert not (docker / "network").exists() and (docker / "in-use").read_text().strip() == "0"

    assert ok("stack-deploy.sh", *deploy, stdin="services: {}\n", **env) == "deployed\n"
    (docker / "in-use").write_text("1000")
    done = run("stack-deploy.sh", "remove", "web", 3, **env)
    assert done.returncode == 1 and "stack web was not gone within 3s" in done.stderr, done.stderr
    assert "network net1 is in use by task task1" in done.stderr


def test_stack_deploy_runs_again_while_swarm_answers_update_out_of_sequence(tmp_path):
    """A deploy made from a stale read of a service (a rolling update bumped its version) is refused by Swarm with
    "update out of sequence": the deploy runs again (5 tries), and any other failure ends it naming Docker's error."""
    docker = tmp_path / "docker"
    deploy = ["deploy", "web", tmp_path / "stacks/web", "never", 10]
    env = dict(state=docker, FAKE_DOCKER_STATE=str(docker))
    docker.mkdir()
    (docker / "out-of-sequence").write_text("2")
    done = run("stack-deploy.sh", *deploy, stdin="services: {}\n", **env)
    assert done.returncode == 0 and done.stdout == "deployed\n", done.stderr
    assert done.stderr.count("update out of sequence (try") == 2
    assert (docker / "calls").read_text().splitlines() == ["stack deploy web"] * 3

    (docker / "out-of-sequence").write_text("9")
    done = run("stack-deploy.sh", *deploy, stdin="services: {}\n", **env)
    assert done.returncode == 1 and (docker / "out-of-sequence").read_text().strip() == "4"
    assert "docker stack deploy web failed: Error response from daemon: rpc error" in done.stderr, done.stderr


def test_swarm_leave_is_tried_again_on_a_slow_node(tmp_path):
    """A node slow or just back from a fault fails `docker swarm leave` ("context deadline exceeded"; seen in a
    destroy after faults, which a second destroy finished): the leave is tried again until the node is out, a node
    out of the Swarm is left alone, and a timeout names Docker's error."""
    docker = tmp_path / "docker"
    docker.mkdir()
    env = dict(state=docker, FAKE_DOCKER_STATE=str(docker))
    (docker / "swarm").write_text("active\n")
    (docker / "leave-timeouts").write_text("2")
    done = run("swarm-leave.sh", **env)
    assert done.returncode == 0 and done.stdout == "left\n", done.stderr
    assert done.stderr.count("context deadline exceeded") == 2
    assert (docker / "calls").read_text().splitlines() == ["swarm leave --force"] * 3
    assert ok("swarm-leave.sh", **env) == "left\n"  # out already: no call
    assert (docker / "calls").read_text().splitlines() == ["swarm leave --force"] * 3

    (docker / "swarm").write_text("active\n")
    (docker / "leave-timeouts").write_text("1000")
    done = run("swarm-leave.sh", 3, **env)
    assert done.returncode == 1, done.stderr
    assert "did not leave the Swarm within 3s: Error response from daemon: context deadline exceeded" in done.stderr


RECORDED = Path(__file__).parent / "data" / "microceph"


class Recording(NamedTuple):
    stdout: str
    stderr: str
    exit_code: int


def recorded_answer(name: str) -> Recording:
    """A command's answer recorded on the real MicroCeph (tests/data/microceph/README.md)."""
    text = (RECORDED / name).read_text()
    (code,) = re.findall(r"^# exit code: (\d+)$", text, re.M)
    head, stderr = text.split("# ---- stderr ----\n", 1)
    return Recording(head.split("# ---- stdout ----\n", 1)[1], stderr, int(code))


def test_the_fake_lists_disks_as_the_real_microceph_does(tmp_path):
    state = tmp_path / "mcx-node1"
    (state / "disks").mkdir(parents=True)
    (state / "disks" / "_dev_loop0").write_text("/dev/loop0\n")
    env = {**os.environ, "FAKE_MICROCEPH_STATE": str(state), "FAKE_MICROCEPH_HOSTNAME": "mcx-node1"}
    listing = subprocess.run(
        [FAKES / "microceph", "disk", "list", "--host-only", "--json"], env=env, capture_output=True, text=True
    )
    assert listing.stdout == recorded_answer("44b-node1-disk-list-json.txt").stdout


def test_microceph_disk_guard_reads_this_nodes_disks_by_the_device_they_are(tmp_path):
    """The guard lists this node's disks only: the plain listing has every member's, and with the same cephDisk on
    every node (the Proxmox default) the real MicroCeph's second and third nodes added no OSD (recorded:
    B43-node3-script-microceph-disk-default-by-id-MISFIRE.txt). MicroCeph records a kernel name by its by-id link:
    the second run finds it by the device both resolve to, instead of adding it again, which MicroCeph refuses
    (recorded: 44-node1-disk-add-repeated-wipe.txt). `disk add`'s report goes to the log: stdout is the result."""
    assert Path(DISK).is_block_device(), "a block device is needed for microceph-disk.sh's check"
    assert "| mcx-node1 |" in recorded_answer("49-node3-disk-list-all-nodes.txt").stdout  # why --host-only
    assert "Failure" in recorded_answer("44-node1-disk-add-repeated-wipe.txt").stdout
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "scsi-0QEMU_QEMU_HARDDISK_drive-scsi1").symlink_to(DISK)
    state = tmp_path / "node"
    for _ in range(2):
        assert ok("microceph-disk.sh", DISK, state=state, FAKE_MICROCEPH_BY_ID=str(by_id)) == "osd\n"
    assert calls(state) == [f"disk add {DISK} --wipe"]
    recorded = (state / "disks").iterdir().__next__().read_text().strip()
    assert recorded == str(by_id / "scsi-0QEMU_QEMU_HARDDISK_drive-scsi1")  # as MicroCeph records it
    assert ok("microceph-disk.sh", by_id / "scsi-0QEMU_QEMU_HARDDISK_drive-scsi1", state=state) == "osd\n"
    assert calls(state) == [f"disk add {DISK} --wipe"]  # the by-id path names the same OSD


def test_microceph_add_makes_a_token_again_when_the_first_was_never_used(tmp_path):
    """MicroCeph refuses a second `cluster add` for a name whose token was never used (recorded:
    23-node1-cluster-add-node2-repeated.txt): the add step run again before its join (the join failed) deletes that
    record and prints a new token, instead of failing until someone edits MicroCeph's database by hand."""
    assert (
        "UNIQUE constraint failed: internal_token_records.name"
        in (RECORDED / "23-node1-cluster-add-node2-repeated.txt").read_text()
    )
    state = tmp_path / "bootstrap-node"
    ok("microceph-bootstrap.sh", "10.10.1.10", 30, state=state)
    for _ in range(2):
        assert ok("microceph-add.sh", "swarm-worker1", state=state) == "token-for-swarm-worker1\n"
    assert calls(state)[1:] == [
        "cluster add swarm-worker1",
        "cluster add swarm-worker1",  # refused: the unused token's record exists
        "cluster sql delete from internal_token_records where name = 'swarm-worker1'",
        "cluster add swarm-worker1",
    ]


def test_microceph_membership_is_asked_again_while_a_member_is_down(tmp_path):
    """Right after a member went down, the real `cluster list` failed with "context deadline exceeded" (recorded:
    90-node1-cluster-list-node3-down.txt): the guards ask again instead of reading "not a member" and bootstrapping
    or joining a node that is one. "Database is not yet initialized" (recorded: 01-*) is the one "no cluster"."""
    assert (
        recorded_answer("01-node1-cluster-list-before-bootstrap.txt").stderr
        == "Error: Database is not yet initialized\n"
    )
    assert "context deadline exceeded" in recorded_answer("90-node1-cluster-list-node3-down.txt").stderr
    state = tmp_path / "bootstrap-node"
    ok("microceph-bootstrap.sh", "10.10.1.10", 30, state=state)
    (state / "list-timeouts").write_text("2")
    done = run("microceph-bootstrap.sh", "10.10.1.10", 30, state=state)
    assert done.returncode == 0 and done.stdout == "bootstrapped\n", done.stderr
    assert done.stderr.count("context deadline exceeded") == 2 and "already a MicroCeph cluster member" in done.stderr
    (state / "list-timeouts").write_text("1")
    assert ok("microceph-join.sh", state=state, stdin="").strip() == "joined"  # a member: no token needed
    assert calls(state) == ["cluster bootstrap --mon-ip 10.10.1.10"]


def fake(*args: str, state: Path, program: str = "microceph", **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FAKE_MICROCEPH_STATE": str(state), "FAKE_MICROCEPH_HOSTNAME": "mcx-node1", **env_vars}
    return subprocess.run([FAKES / program, *args], env=env, capture_output=True, text=True, timeout=30)


def assert_answers_as_recorded(done: subprocess.CompletedProcess, name: str) -> None:
    assert (done.stdout, done.stderr, done.returncode) == recorded_answer(name)


DEFAULT_ACCEPTED = StorageConfig().health_accept

MEMBER_LISTS = sorted(
    p.name
    for p in RECORDED.glob("*.txt")
    if "# command: microceph cluster list\n" in p.read_text() and recorded_answer(p.name).exit_code == 0
)


@pytest.mark.parametrize("recording", MEMBER_LISTS)
def test_the_fake_lists_members_as_the_real_microceph_does(tmp_path, recording):
    """`cluster list` as the real MicroCeph printed it, byte for byte, from the same members (names, addresses, roles
    and fingerprints read from the recording): the bordered table the guards search for a member's name."""
    recorded = recorded_answer(recording).stdout
    state = tmp_path / "cluster"
    (state / "members").mkdir(parents=True)
    (state / "bootstrapped").touch()
    for row in recorded.splitlines()[3::2]:
        name, address, role, fingerprint, _ = (cell.strip() for cell in row.strip("|").split("|"))
        (state / "members" / name).write_text(f"{address.removesuffix(':7443')} {role} {fingerprint}\n")
    assert len(MEMBER_LISTS) >= 10 and fake("cluster", "list", state=state).stdout == recorded


def _fs_with_client(state: Path) -> None:
    (state / "fs").write_text("cephfs\n")
    (state / "auth").mkdir(parents=True)
    (state / "auth" / "client.rec").write_text("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n")


@pytest.mark.parametrize(
    "recording, setup",
    [
        ("01-node1-cluster-list-before-bootstrap.txt", None),
        ("12-node1-cluster-bootstrap-repeated.txt", "bootstrapped"),
        ("19-node1-ceph-mds-stat-no-fs.txt", None),
        ("19b-node1-ceph-fs-ls-no-fs.txt", None),
        ("62-node1-ceph-osd-pool-create-metadata.txt", None),
        ("62b-node1-ceph-osd-pool-create-metadata-repeated.txt", "pools/cephfs_metadata"),
        ("67-node1-ceph-fs-ls.txt", "fs"),
        ("69-node1-ceph-fs-new-repeated.txt", "fs"),
        ("71-node1-ceph-auth-get-key-missing.txt", None),
        ("73-node1-ceph-fs-authorize-repeated-same-caps.txt", "client"),
        ("74-node1-ceph-fs-authorize-missing-fs.txt", None),
        ("C0-lab-ceph-config-get-mon-down-grace-default.txt", None),
        ("C1-lab-ceph-config-set-mon-down-grace.txt", None),
        ("C2-lab-ceph-config-get-mon-down-grace-after-set.txt", "config/mon.mds_beacon_mon_down_grace=10"),
        ("C3-lab-ceph-config-set-mon-down-grace-repeated.txt", "config/mon.mds_beacon_mon_down_grace=10"),
        ("C4-lab-ceph-config-rm-mon-down-grace.txt", "config/mon.mds_beacon_mon_down_grace=10"),
        ("C5-lab-ceph-config-rm-mon-down-grace-repeated.txt", None),
        ("C6-lab-ceph-config-get-unknown-option.txt", None),
        ("C7-lab-ceph-config-set-mon-down-grace-bad-value.txt", None),
        ("CC-lab-ceph-config-get-mds-reconnect-default.txt", None),
        ("CD-lab-ceph-config-set-mds-reconnect.txt", None),
        ("CE-lab-ceph-config-get-mds-reconnect-after-set.txt", "config/mds.mds_reconnect_timeout=15"),
        ("CF-lab-ceph-config-rm-mds-reconnect.txt", "config/mds.mds_reconnect_timeout=15"),
        ("CG-lab-ceph-config-set-mds-reconnect-bad-value.txt", None),
    ],
)
def test_the_fake_answers_as_the_real_microceph_did(tmp_path, recording, setup):
    """Each answer the scripts meet, to the recorded command in the state it was recorded in: the same stdout, stderr
    and exit code (a repeated `fs authorize` with the same caps succeeds and prints the key again; a missing
    filesystem is EINVAL, 22)."""
    (command,) = re.findall(r"^# command: (.*)$", (RECORDED / recording).read_text(), re.M)
    program, *args = command.split()
    state = tmp_path / "node"
    state.mkdir()
    if setup == "bootstrapped":
        (state / "bootstrapped").touch()
    elif setup == "client":
        _fs_with_client(state)
    elif setup:
        path, _, value = setup.partition("=")
        (state / path).parent.mkdir(parents=True, exist_ok=True)
        (state / path).write_text(f"{value or 'cephfs'}\n")
    done = fake(*args, state=state, program=program)
    assert_answers_as_recorded(done, recording)


@pytest.mark.parametrize(
    "recording, accepted, verdict",
    [
        ("59-node1-ceph-health-detail-after-mitigation.txt", [], "HEALTH_OK"),  # a muted check is no warning
        (
            "55-node1-ceph-health-detail-3-osds.txt",
            DEFAULT_ACCEPTED,
            "HEALTH_WARN accepted: MGR_MODULE_DEPENDENCY MON_DISK_LOW",
        ),
        ("55-node1-ceph-health-detail-3-osds.txt", ["MON_DISK_LOW"], None),
        ("55-node1-ceph-health-detail-3-osds.txt", [], None),
        ("39-node1-ceph-health-detail-3-members-no-osd.txt", DEFAULT_ACCEPTED, None),  # TOO_FEW_OSDS
        ("64-node1-ceph-health-detail-pool-without-app.txt", DEFAULT_ACCEPTED, None),  # POOL_APP_NOT_ENABLED
        ("92-node1-ceph-health-detail-node3-down.txt", DEFAULT_ACCEPTED, None),  # MON_DOWN, OSD_DOWN, PG_DEGRADED, ...
    ],
)
def test_ceph_health_passes_only_accepted_warnings(tmp_path, recording, accepted, verdict):
    """What the real Ceph 18.2.7 reported under MicroCeph (recorded): a fresh cluster on Debian 13 warns for good
    (MGR_MODULE_DEPENDENCY: ceph-mgr's PyO3 modules) and on a small disk (MON_DISK_LOW), which storage.healthAccept
    accepts by default; any warning not accepted is waited out, and at the timeout the step fails naming every
    check (not their details)."""
    state = tmp_path / "node"
    (state / "disks").mkdir(parents=True)
    for n in range(3):
        (state / "disks" / f"d{n}").write_text(f"/dev/loop{n}\n")
    (state / "health").write_text(recording)
    done = run("ceph-health.sh", 3, 5, *accepted, state=state)
    if verdict:
        assert done.returncode == 0 and done.stdout == verdict + "\n", done.stderr
        return
    assert done.returncode == 1 and "did not reach 3 OSDs up and health" in done.stderr
    codes = re.findall(r"^(?:\(MUTED\) )?\[WRN\] ([A-Z_]+):", recorded_answer(recording).stdout, re.M)
    failure = done.stderr.splitlines()[-1]
    assert all(f"[WRN] {code}:" in failure for code in codes) and "PyO3" not in failure, failure


@pytest.mark.parametrize(
    "recording, device, added",
    [
        ("44-node1-disk-add-repeated-wipe.txt", "/dev/loop0", True),
        ("B45-node2-disk-add-by-id-repeated.txt", "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi1", True),
        (
            "B51-node3-disk-add-same-by-id-path-as-node2.txt",
            "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi1",
            False,
        ),
    ],
)
def test_the_fake_reports_disk_adds_as_the_real_microceph_does(tmp_path, recording, device, added):
    """`disk add`'s report (a blank line, then MicroCeph's table), refused when the disk is recorded already."""
    state = tmp_path / "node"
    if added:
        (state / "disks").mkdir(parents=True)
        (state / "disks" / device.replace("/", "_")).write_text(device + "\n")
    done = fake("disk", "add", device, "--wipe", state=state)
    assert_answers_as_recorded(done, recording)


GRACE = ("mon", "mds_beacon_mon_down_grace")


def test_ceph_config_sets_an_option_once_and_rm_takes_back_only_its_own_value(tmp_path):
    state = tmp_path / "cluster"
    done = run("ceph-config.sh", "set", *GRACE, 10, state=state)
    assert done.returncode == 0 and "mon mds_beacon_mon_down_grace: 60 -> 10" in done.stderr, done.stderr
    assert calls(state) == ["config set mon mds_beacon_mon_down_grace 10"]
    again = run("ceph-config.sh", "set", *GRACE, 10, state=state)
    assert again.returncode == 0 and "mon mds_beacon_mon_down_grace is 10 already" in again.stderr, again.stderr
    assert len(calls(state)) == 1

    fake("config", "set", *GRACE, "30", state=state, program="microceph.ceph")  # an operator's own value
    kept = run("ceph-config.sh", "rm", *GRACE, 10, state=state)
    assert kept.returncode == 0 and "reads 30, not 10" in kept.stderr, kept.stderr
    assert calls(state)[1:] == ["config set mon mds_beacon_mon_down_grace 30"]

    ok("ceph-config.sh", "set", *GRACE, 10, state=state)
    gone = run("ceph-config.sh", "rm", *GRACE, 10, state=state)
    assert gone.returncode == 0 and "back to Ceph's default" in gone.stderr, gone.stderr
    assert calls(state)[-1] == "config rm mon mds_beacon_mon_down_grace"
    assert fake("config", "get", *GRACE, state=state, program="microceph.ceph").stdout == "60\n"
    ok("ceph-config.sh", "rm", *GRACE, 10, state=state)  # gone already: nothing to do
    assert calls(state)[-1] == "config rm mon mds_beacon_mon_down_grace" and len(calls(state)) == 4


def test_ceph_config_reads_a_float_option_as_the_number_it_is(tmp_path):
    """mds_reconnect_timeout is a float: Ceph prints 45.000000, and 15.000000 once set to 15 (recorded)."""
    reconnect = ("mds", "mds_reconnect_timeout")
    done = run("ceph-config.sh", "set", *reconnect, 15, state=tmp_path)
    assert done.returncode == 0 and "mds mds_reconnect_timeout: 45.000000 -> 15" in done.stderr, done.stderr
    again = run("ceph-config.sh", "set", *reconnect, 15, state=tmp_path)
    assert again.returncode == 0 and "mds_reconnect_timeout is 15.000000 already" in again.stderr, again.stderr
    assert "back to Ceph's default" in run("ceph-config.sh", "rm", *reconnect, 15, state=tmp_path).stderr
    assert calls(tmp_path) == ["config set mds mds_reconnect_timeout 15", "config rm mds mds_reconnect_timeout"]


def test_ceph_config_refusals_end_the_step_naming_them(tmp_path):
    """Ceph's refusals (recorded on Ceph 18.2.7) are not waited out: an unknown option, a value of the wrong type."""
    unknown = run("ceph-config.sh", "set", "mon", "mds_beacon_mon_down_gracce", 10, state=tmp_path)
    assert unknown.returncode == 1 and "could not read mds_beacon_mon_down_gracce for mon" in unknown.stderr
    assert (
        recorded_answer("C6-lab-ceph-config-get-unknown-option.txt").stderr.replace(
            "no_such_option", "mds_beacon_mon_down_gracce"
        )
        in unknown.stderr
    )
    bad = run("ceph-config.sh", "set", *GRACE, "soon", state=tmp_path)
    assert bad.returncode == 1 and "could not set mds_beacon_mon_down_grace to soon for mon" in bad.stderr
    assert not calls(tmp_path)


def test_ceph_config_waits_for_the_mons_and_a_destroy_goes_on_without_them(tmp_path):
    (tmp_path / "config-no-answer").write_text("1")
    late = run("ceph-config.sh", "set", *GRACE, 10, state=tmp_path)
    assert late.returncode == 0 and "did not answer (124), trying again" in late.stderr, late.stderr
    (tmp_path / "config-no-answer").write_text("1000")
    never = run("ceph-config.sh", "set", *GRACE, 20, 2, state=tmp_path)
    assert never.returncode == 1 and "could not read mds_beacon_mon_down_grace for mon" in never.stderr
    left = run("ceph-config.sh", "rm", *GRACE, 10, 2, state=tmp_path)
    assert left.returncode == 0 and "remove it by hand: microceph.ceph config rm mon mds_beacon" in left.stderr
    assert calls(tmp_path) == ["config set mon mds_beacon_mon_down_grace 10"]
