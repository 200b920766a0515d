"""Node-side scripts that cannot run for real here, run against stand-ins: MicroCeph's CLI faked in
tests/fakes/microceph (shapes of its output as documented) to check every guard, and the fstab edits on a
temporary file. Each step runs twice: the second run must change nothing."""

from __future__ import annotations

import os
import re
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

    before = len(calls(state))
    for _ in range(2):
        assert ok("cephfs-create.sh", "cephfs", "cephfs_metadata", "cephfs_data", 10, state=state).strip() == "cephfs"
    assert calls(state)[before:] == [
        "osd pool create cephfs_metadata",
        "osd pool create cephfs_data",
        "fs new cephfs cephfs_metadata cephfs_data",
    ]


def test_guards_read_the_whole_listing(tmp_path):
    """A guard finds its match in the first rows of a listing that goes on for 20000 more (a big cluster) and
    still reads "done", every time. `producer | grep -q x` under pipefail does not: grep exits at its first match,
    the producer, still writing, dies of SIGPIPE, and the pipeline fails, so the guard reads "not done"."""
    assert Path(DISK).is_block_device(), "a block device is needed for microceph-disk.sh's check"
    state = tmp_path / "big-cluster"
    long = {"FAKE_MICROCEPH_LONG": "20000"}  # rows the fake adds to each listing: far more than a pipe holds
    cephfs = ("cephfs", "cephfs_metadata", "cephfs_data", 10)
    ok("microceph-bootstrap.sh", "10.10.1.10", 30, state=state, **long)
    (state / "members/swarm-worker1").write_text("10.10.1.11\n")  # it joined
    assert ok("microceph-disk.sh", DISK, state=state, **long).strip() == "osd"
    assert ok("cephfs-create.sh", *cephfs, state=state, **long).strip() == "cephfs"
    done = calls(state)
    assert done[1:] == [
        f"disk add {DISK} --wipe",
        "osd pool create cephfs_metadata",
        "osd pool create cephfs_data",
        "fs new cephfs cephfs_metadata cephfs_data",
    ]
    for _ in range(10):
        assert ok("microceph-add.sh", "swarm-worker1", state=state, **long) == ""
        assert ok("microceph-disk.sh", DISK, state=state, **long).strip() == "osd"
        assert ok("cephfs-create.sh", *cephfs, state=state, **long).strip() == "cephfs"
    assert calls(state) == done
    assert ok("microceph-add.sh", "swarm-worker2", state=state, **long).strip() == "token-for-swarm-worker2"


def test_microceph_add_stops_when_the_member_list_cannot_be_read(tmp_path):
    """A failing `cluster list` is not read as "not a member": no token is made."""
    state = tmp_path / "not-bootstrapped"
    result = run("microceph-add.sh", "swarm-worker1", state=state)
    assert result.returncode == 1 and "could not list the MicroCeph cluster members" in result.stderr
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
