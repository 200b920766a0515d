"""Node-side scripts that cannot run for real here, run against stand-ins: MicroCeph's CLI faked in
tests/fakes/microceph (shapes of its output as documented) to check every guard, and the fstab edits on a
temporary file. Each step runs twice: the second run must change nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.scripts import SCRIPTS_DIR, script_command

FAKES = Path(__file__).parent / "fakes"
DISK = "/dev/vda" if Path("/dev/vda").is_block_device() else "/dev/loop0"


def run(
    script: str, *args: object, state: Path, stdin: str | None = None, **env_vars: str
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{FAKES}:{os.environ['PATH']}", "FAKE_MICROCEPH_STATE": str(state), **env_vars}
    return subprocess.run(
        ["sh", "-c", script_command(script, *args)], input=stdin, env=env, capture_output=True, text=True, timeout=60
    )


def ok(script: str, *args: object, state: Path, stdin: str | None = None) -> str:
    result = run(script, *args, state=state, stdin=stdin)
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

    before = len(calls(state))
    for _ in range(2):
        assert ok("cephfs-create.sh", "cephfs", "cephfs_metadata", "cephfs_data", 10, state=state).strip() == "cephfs"
    assert calls(state)[before:] == [
        "osd pool create cephfs_metadata",
        "osd pool create cephfs_data",
        "fs new cephfs cephfs_metadata cephfs_data",
    ]


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
