"""The VM lab (lab/vm): the program's template path, three nodes cloned from it, and the program on them under the
real Pulumi engine, on real Debian VMs (QEMU, software emulation).

The module fixture builds (or reuses) the base image, the stand-in for Debian's genericcloud image, and the local
apt repository; runs the template path for real (lab/vm/vm.sh template): a VM from the base image with the template
user-data the program renders (cloudinit.render.template_user_data, plus the lab's docker="debian" and its local
repository as the only apt source), cloud-init installs the template's packages from that repository, the program's
wait-ready.sh and template-seal.sh run as the program sends them, the VM powers off (or takes the template sealed
from the same recipe on an earlier run, from the cache: lab/vm/vm.sh template_recipe; its evidence, seal output and
disk are that run's, and any change to the recipe runs the path again); then boots three nodes together from the
sealed template, each with the program's node user-data (node_user_data, through lab/vm/seed.py). The
tests check what the template's first boot installed, the seal (on the sealed disk itself, offline), and on the
first node: the login, the pinned SSH host key, the identity and network, the guest agent, the second disk,
cloud-init's own verdict, Docker, the CephFS kernel client and the program's own readiness step; each clone's own
Docker engine ID; then `pulumi up` of the `vmlab` stack on the three (hosts mode, the kernel CephFS client on the
container lab's Ceph, which the session's lab fixture brings up), a no-op `up` and `destroy`.

Needs root, and the tools scripts/setup.sh installs (qemu-system-x86, qemu-utils, cloud-image-utils, mmdebstrap,
extlinux, syslinux-common, fdisk, dpkg-dev): a missing one fails the tests (it does not skip them).
`pytest -s tests/test_vm.py` (or -rA) shows each phase's time (`figure:` lines; bench/figures.py collects them)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudinit.render import node_user_data
from components.config import StackConfig
from components.scripts import script_command
from lab.engine import Project
from lab.program import run_program, with_secrets
from lab.stack_config import lab_mount, lab_secrets, vm_lab_stack_config
from lab.steps import assert_mounted, assert_unmounted, ceph_health, eventually, fetch, figure
from lab.vm import seed

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parent.parent
VM_DIR = REPO / "lab" / "vm"
STATE = REPO / ".vmlab"
NETNS = "swarm-ceph-vm"
NODES = seed.VM_LAB_NODES  # three VMs from the sealed template: the node tests check the first, `pulumi up` all
NAME, IP = NODES[0][:2]
TEMPLATE, TEMPLATE_IP = seed.TEMPLATE_NAME, "10.77.2.10"  # production's default template.buildIp is dhcp: no DHCP here
DATA_DISK_GIB = 4
# What the template's first boot installs (cloudinit.render.template_packages for the lab) and a file each brings.
INSTALLED_BY_TEMPLATE = {
    "docker.io": "usr/sbin/dockerd",
    "ceph-common": "sbin/mount.ceph",
    "qemu-guest-agent": "usr/sbin/qemu-ga",
    "curl": "usr/bin/curl",
}
TOOLS = [
    "qemu-system-x86_64",
    "qemu-img",
    "cloud-localds",
    "mmdebstrap",
    "extlinux",
    "sfdisk",
    "losetup",
    "ip",
    "ssh",
    "ssh-keyscan",
    "ssh-keygen",
    "dpkg-scanpackages",
    "mount",
    "umount",
]
SSH_DEADLINE_S = 420
SSH_CONNECT_TIMEOUT_S = 15
SSH_ATTEMPTS = 3
SSH_NOT_CONNECTED = re.compile(r"timed out during banner exchange|port 22: Connection timed out")
CLOUD_INIT_DEADLINE_S = 600
TEMPLATE_DEADLINE_S = 2400  # boot, the install under software emulation, seal, power-off (~7 min under load)


def _run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


def _vm_sh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VMLAB_DATA_DISK_SIZE": f"{DATA_DISK_GIB}G", "VMLAB_MAX_VMS": str(len(NODES))}
    return _run([str(VM_DIR / "vm.sh"), *args], timeout, env)


def _check(result: subprocess.CompletedProcess[str], what: str) -> str:
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr}"
    return result.stdout


@dataclass(frozen=True)
class Vm:
    """The booted VM and the ways the tests reach it (SSH from inside the lab's network namespace)."""

    name: str
    ip: str
    run_dir: Path
    known_hosts: Path  # the node's derived public host key, nothing else

    def ssh_argv(self, command: str, known_hosts: Path | None = None) -> list[str]:
        return [
            "ip", "netns", "exec", NETNS, "ssh",
            "-i", str(seed.LAB_KEY), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={SSH_CONNECT_TIMEOUT_S}", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            f"{seed.SSH_USER}@{self.ip}", command,
        ]  # fmt: skip

    def ssh(
        self, command: str, timeout: float = 60, known_hosts: Path | None = None, attempts: int = SSH_ATTEMPTS
    ) -> subprocess.CompletedProcess:
        """The command over SSH. A connection that timed out before the login (the command never ran) is tried
        again, up to ``attempts`` in all: under software emulation, with three VMs busy on two cores, sshd's banner
        has come later than ConnectTimeout once, right after `pulumi up` (a CI run)."""
        for attempt in range(1, attempts):
            result = _run(self.ssh_argv(command, known_hosts), timeout)
            if result.returncode != 255 or not SSH_NOT_CONNECTED.search(result.stderr):
                return result
            print(f"\nssh {self.name}: {result.stderr.strip().splitlines()[-1]} (attempt {attempt}), again")
        return _run(self.ssh_argv(command, known_hosts), timeout)

    def out(self, command: str, timeout: float = 60) -> str:
        return _check(self.ssh(command, timeout), f"ssh {self.name} {command!r}").strip()

    def root(self, command: str) -> str:
        """A shell command as root (sudo); its stdout, stripped."""
        return self.out(f"sudo -n sh -c {shlex.quote(command)}")


def _missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _timed(label: str, started: float) -> float:
    seconds = time.monotonic() - started
    figure(f"{label} (s)", seconds)
    return seconds


def _web_content_fs(vm: Vm) -> str:
    """The filesystem type of nginx's content directory inside the VM's web container. A task being replaced has no
    container for a moment (seen once, the machine loaded by other work: likely its health check timed out and
    Swarm replaced it): waited for, and said."""
    seen: list[str] = []
    tries = []

    def running() -> bool:
        tries.append(1)
        web = vm.out(f"sudo -n docker ps -q -f label=com.docker.swarm.service.name={SERVICE}")
        done = vm.ssh(f"sudo -n docker exec {web} stat -f -c %T /usr/share/nginx/html", 30) if web else None
        if done is not None and done.returncode == 0:
            seen.append(done.stdout.strip())
        return bool(seen)

    waited = eventually(running, 120, f"a running web container on {vm.name}", interval_s=2)
    if len(tries) > 1:
        print(f"\n{vm.name}: no running web container for {waited:.0f} s (its task was being replaced)")
    return seen[0]


def _serial_tail(run_dir: Path) -> str:
    log = run_dir / "serial.log"
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no serial log)"


def _wait_for_ssh(vm: Vm) -> None:
    deadline = time.monotonic() + SSH_DEADLINE_S
    while True:
        result = vm.ssh("true", timeout=30, attempts=1)  # this loop is the boot's wait
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"no SSH to {vm.name} within {SSH_DEADLINE_S} s: {result.stderr}\n{_serial_tail(vm.run_dir)}")
        time.sleep(2)


def _qemu_peak_memory_mib(run_dir: Path) -> float:
    pid = (run_dir / "qemu.pid").read_text().strip()
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))


def _print_template_timings(run_dir: Path) -> dict[str, int]:
    timings = {k: int(v) for k, v in (line.split() for line in (run_dir / "timings").read_text().splitlines())}
    figure("template boot to SSH (s)", timings["ssh"])
    figure("template boot to cloud-init done, wait-ready.sh (s)", timings["ready"])
    figure("template seal (s)", timings["sealed"])
    figure("template seal to power-off (s)", timings["poweroff"])
    if "qemu_vmhwm_kib" in timings:
        figure("template QEMU peak memory, VmHWM (MiB)", timings["qemu_vmhwm_kib"] / 1024)
    return timings


@pytest.fixture(scope="module")
def vms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Vm]]:
    """Build (or reuse) the base image and the apt repository, bring the lab's network up, run the template path
    (boot, cloud-init's install, wait-ready.sh, template-seal.sh, power-off), boot the three nodes from the sealed
    template with the program's node user-data, wait for SSH and for cloud-init on each; everything is taken down
    afterwards."""
    missing = _missing_tools()
    if missing:
        pytest.fail(f"the VM lab needs {', '.join(missing)}: run scripts/setup.sh")
    if os.geteuid() != 0:
        pytest.fail("the VM lab needs root (network namespace, taps, loop devices)")
    vms = []
    for name, ip, _ in NODES:
        known_hosts = tmp_path_factory.mktemp("vm") / "known_hosts"
        known_hosts.write_text(f"{ip} {seed.vm_host_key(name).public}\n")
        vms.append(Vm(name, ip, STATE / "run" / name, known_hosts))
    _check(_vm_sh("down"), "vm.sh down (before)")
    try:
        started = time.monotonic()
        image = _run(["nice", "-n", "10", str(VM_DIR / "image.sh")], timeout=1800)
        _check(image, "lab/vm/image.sh")
        _timed("image and apt repository, " + ("cached" if "cached" in image.stderr else "built"), started)
        started = time.monotonic()
        _check(_vm_sh("template", TEMPLATE, TEMPLATE_IP, timeout=TEMPLATE_DEADLINE_S), f"vm.sh template {TEMPLATE}")
        if (STATE / "run" / TEMPLATE / "cached").exists():  # sealed before from this very recipe: its figures are old
            _timed("template path, cached", started)
        else:
            _timed("template path (boot, install, seal, power-off)", started)
            _print_template_timings(STATE / "run" / TEMPLATE)
        started = time.monotonic()
        for vm in vms:
            _check(_vm_sh("boot", vm.name, vm.ip, TEMPLATE), f"vm.sh boot {vm.name} {vm.ip} {TEMPLATE}")
        for vm in vms:
            _wait_for_ssh(vm)
        _timed(f"{len(vms)} nodes (booted together) to SSH", started)
        for vm in vms:
            vm.ssh("cloud-init status --wait", timeout=CLOUD_INIT_DEADLINE_S)  # its verdict: test_cloud_init_done
        _timed(f"{len(vms)} nodes (booted together) to cloud-init done", started)
        yield vms
        for vm in vms:
            figure(f"{vm.name} QEMU peak memory, VmHWM (MiB)", _qemu_peak_memory_mib(vm.run_dir))
    finally:
        _check(_vm_sh("down"), "vm.sh down")


@pytest.fixture(scope="module")
def vm(vms: list[Vm]) -> Vm:
    """The first node: the node tests check it."""
    return vms[0]


@contextlib.contextmanager
def _mounted_read_only(disk: Path) -> Iterator[Path]:
    """The root filesystem of a lab disk (qcow2, its backing chain included), read-only: converted to a sparse raw
    copy, its partition (at 1 MiB) through a read-only loop device, mounted without journal replay."""
    with tempfile.TemporaryDirectory(prefix="vmlab-disk-") as tmp:
        raw, root, loop = Path(tmp) / "disk.raw", Path(tmp) / "root", ""
        root.mkdir()
        try:
            _check(_run(["qemu-img", "convert", "-O", "raw", str(disk), str(raw)], timeout=300), "qemu-img convert")
            loop = _check(_run(["losetup", "-f", "--show", "-r", "-o", "1MiB", str(raw)], timeout=30), "losetup")
            loop = loop.strip()
            _check(_run(["mount", "-o", "ro,noload", loop, str(root)], timeout=30), f"mount {loop}")
            yield root
        finally:
            if os.path.ismount(root):
                _run(["umount", str(root)], timeout=60)
            if loop:
                _run(["losetup", "-d", loop], timeout=30)


@pytest.fixture(scope="module")
def sealed_root(vm: Vm) -> Iterator[Path]:
    """The sealed template's root filesystem, mounted read-only (the node's disk is an overlay on it)."""
    with _mounted_read_only(STATE / "run" / TEMPLATE / "disk.qcow2") as root:
        yield root


def _template_evidence(name: str) -> str:
    return (STATE / "run" / TEMPLATE / "evidence" / name).read_text()


def test_login_with_the_lab_key_and_sudo_without_password(vm: Vm):
    assert vm.out("id -un") == seed.SSH_USER
    sudo = vm.ssh("sudo -n id -u")
    assert sudo.returncode == 0 and sudo.stdout.strip() == "0", sudo.stderr
    assert sudo.stderr == "", f"sudo complains (e.g. unable to resolve host): {sudo.stderr}"


def test_ssh_host_key_is_the_derived_one_and_the_only_one(vm: Vm, tmp_path: Path):
    derived = seed.vm_host_key(NAME).public
    assert vm.ssh("true").returncode == 0  # strict checking against a known_hosts of the derived key only
    other = tmp_path / "known_hosts"
    other.write_text(f"{IP} {seed.vm_host_key('some-other-node').public}\n")
    refused = vm.ssh("true", known_hosts=other)
    assert refused.returncode != 0 and "HOST IDENTIFICATION HAS CHANGED" in refused.stderr, refused.stderr
    scan = _run(["ip", "netns", "exec", NETNS, "ssh-keyscan", "-T", "10", IP], timeout=60)
    keys = [" ".join(line.split()[1:3]) for line in scan.stdout.splitlines() if line and not line.startswith("#")]
    assert keys == [derived], scan.stdout + scan.stderr
    files = vm.out("ls /etc/ssh/").split()
    assert sorted(f for f in files if f.startswith("ssh_host_")) == ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]
    assert vm.out("sudo -n cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2] == derived.split()


def test_hostname_address_and_default_route(vm: Vm):
    assert vm.out("hostname") == NAME
    nic = vm.out(f"ip -o link | awk '/link\\/ether {_mac()} / {{print $2}}'").rstrip(":")
    assert nic, f"no NIC with the MAC the lab gave {NAME} ({_mac()})"
    assert f"inet {IP}/24 " in vm.out(f"ip -4 -o addr show dev {nic}")
    assert vm.out("ip -4 route show default").startswith(f"default via {seed.VM_LAB_GATEWAY} dev {nic} ")


def _mac() -> str:
    """The MAC lab/vm/vm.sh gives the VM at IP."""
    return f"52:54:00:77:02:{int(IP.rsplit('.', 1)[1]):02x}"


def _qga(sock_path: Path, command: dict, timeout: float = 10) -> dict:
    """One guest agent command on its unix socket; guest-sync first so that no stale reply is taken for ours."""
    token = int(time.time() * 1000) % 2**31
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(sock_path))
        stream = sock.makefile("rwb")
        stream.write(json.dumps({"execute": "guest-sync", "arguments": {"id": token}}).encode() + b"\n")
        stream.flush()
        while json.loads(stream.readline() or b"{}").get("return") != token:
            pass
        stream.write(json.dumps(command).encode() + b"\n")
        stream.flush()
        return json.loads(stream.readline())


def test_guest_agent_answers(vm: Vm):
    deadline, reply = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        try:
            reply = _qga(vm.run_dir / "qga.sock", {"execute": "guest-ping"})
            break
        except (OSError, ValueError) as error:  # the agent may still be starting: retry until the deadline
            reply = {"error": repr(error)}
            time.sleep(2)
    assert reply == {"return": {}}
    assert _qga(vm.run_dir / "qga.sock", {"execute": "guest-get-host-name"}) == {"return": {"host-name": NAME}}


def test_second_disk_is_vdb_empty_with_its_size(vm: Vm):
    assert vm.out("lsblk -bdno SIZE,TYPE /dev/vdb").split() == [str(DATA_DISK_GIB * 1024**3), "disk"]
    assert vm.out("lsblk -no NAME /dev/vdb").split() == ["vdb"]  # no partitions
    assert vm.out("sudo -n wipefs /dev/vdb") == ""  # no signatures: an empty disk, as Ceph wants it


def test_cloud_init_done_without_errors_with_the_programs_user_data(vm: Vm):
    result = vm.ssh("cloud-init status --format json")  # exits non-zero on errors: the JSON says which
    status = json.loads(result.stdout or "{}")
    assert status.get("status") == "done" and not status.get("errors"), json.dumps(status, indent=1)
    assert not status.get("recoverable_errors"), json.dumps(status, indent=1)
    public_keys = seed.LAB_KEY.with_suffix(".pub").read_text().split("\n")[:1]
    key = seed.vm_host_key(NAME)
    rendered = node_user_data(
        hostname=NAME,
        fqdn=None,
        user=seed.SSH_USER,
        public_keys=public_keys,
        host_key_private=key.private_openssh,
        host_key_public=key.public,
    )
    assert vm.out("sudo -n cat /var/lib/cloud/instance/user-data.txt") == rendered.strip()


def test_docker_answers_and_the_runcmd_enabled_the_services(vm: Vm):
    """Docker is the template's (its first boot installed docker.io; the base image has none: see the template
    tests); the node's own runcmd enables it again."""
    assert vm.out("dpkg-query -W -f='${db:Status-Abbrev}' docker.io").strip() == "ii"
    assert vm.out("sudo -n docker info --format '{{.ServerVersion}}'")
    # The runcmd's `systemctl enable --now qemu-guest-agent docker`: Debian's agent unit is static (udev starts it
    # when its virtio port appears), so only Docker can be enabled; both must run.
    assert vm.out("systemctl is-enabled docker") == "enabled"
    assert vm.out("systemctl is-active docker qemu-guest-agent").split() == ["active", "active"]


def test_the_programs_readiness_step_passes(vm: Vm):
    """wait-ready.sh, as the program runs it on every node before any other step (components/nodes.py)."""
    result = vm.ssh(script_command("wait-ready.sh", 120, sudo=True), timeout=180)
    assert result.returncode == 0 and result.stdout.strip().endswith("ready"), result.stdout + result.stderr


def test_the_base_image_has_none_of_what_the_template_installs():
    """The base image stands in for genericcloud: what the template's first boot installs is not there before."""
    base = Path(_check(_run([str(VM_DIR / "image.sh"), "path"], timeout=60), "image.sh path").strip())
    with _mounted_read_only(base) as root:
        present = [path for path in INSTALLED_BY_TEMPLATE.values() if (root / path).exists()]
        assert (root / "usr/bin/cloud-init").exists() and (root / "usr/sbin/sshd").exists()
        locale = (root / "etc/default/locale").read_text()
    assert present == [], f"the base image has {present} already"
    assert "LANG=C.UTF-8" in locale


def test_a_new_image_prunes_the_other_recipes_images(tmp_path: Path):
    """image.sh prune (which a build runs once done): the cache directories of other recipes go, with their
    templates; this recipe's, the lab's SSH key and anything not named like a key stay."""
    env = {**os.environ, "SWARM_CEPH_CACHE": str(tmp_path)}
    current = Path(_check(_run([str(VM_DIR / "image.sh"), "path"], 60, env), "image.sh path").strip()).parent
    cache = current.parent
    old = cache / "0123456789abcdef"
    for made in (current / "templates/x", old / "templates/y", cache / "notes"):
        made.mkdir(parents=True)
    (cache / "id_ed25519").write_text("key")
    _check(_run([str(VM_DIR / "image.sh"), "prune"], 60, env), "image.sh prune")
    assert sorted(p.name for p in cache.iterdir()) == sorted([current.name, "id_ed25519", "notes"])
    assert (current / "templates/x").is_dir()


def test_template_cloud_init_installed_its_packages_from_the_local_repository(vm: Vm, sealed_root: Path):
    output = _template_evidence("cloud-init-output.log")
    repo = f"http://{seed.VM_LAB_GATEWAY}:{seed.REPO_PORT}"
    assert f"{repo} {seed.SUITE} Release" in output, output[:3000]  # apt update read the local repository
    for package, path in INSTALLED_BY_TEMPLATE.items():
        assert re.search(
            rf"^Get:\d+ {re.escape(repo)} {seed.SUITE}/main amd64 {re.escape(package)} ", output, re.M
        ), f"{package} was not fetched from the local repository:\n{output[-3000:]}"
        assert (sealed_root / path).exists(), f"{package}'s {path} is not on the sealed disk"
    log = _template_evidence("cloud-init.log")
    assert re.search(
        r"apt-install \[apt-get .* install qemu-guest-agent ca-certificates curl ceph-common docker.io\]", log
    )
    assert re.search(r"apt-update \[apt-get .* update\] took", log) and re.search(
        r"apt-upgrade \[apt-get .*\] took", log
    )
    sources = (sealed_root / "etc/apt/sources.list").read_text()
    assert [line for line in sources.splitlines() if line.strip() and not line.startswith("#")] == [
        seed.apt_sources_list().strip()
    ]
    assert not list((sealed_root / "etc/apt/sources.list.d").glob("*"))  # no Docker repository: docker="debian"


def test_template_cloud_init_finished_without_errors(vm: Vm):
    status = json.loads(_template_evidence("cloud-init-status.json") or "{}")
    assert status.get("status") == "done" and not status.get("errors"), json.dumps(status, indent=1)
    assert not status.get("recoverable_errors"), json.dumps(status, indent=1)
    public_keys = seed.LAB_KEY.with_suffix(".pub").read_text().split("\n")[:1]
    rendered = seed.template_user_data_for(TEMPLATE, public_keys)
    assert (STATE / "run" / TEMPLATE / "seed" / "user-data").read_text() == rendered  # what the template booted with


def test_the_seal_left_no_identity_on_the_template_disk(vm: Vm, sealed_root: Path):
    machine_id = sealed_root / "etc/machine-id"
    assert not machine_id.exists() or machine_id.read_text() == ""
    assert not (sealed_root / "var/lib/dbus/machine-id").exists()
    assert sorted(p.name for p in (sealed_root / "etc/ssh").glob("ssh_host_*")) == []
    # Docker's engine ID (20.10: /etc/docker/key.json), which the template's daemon had made: each clone makes its own
    assert _template_evidence("docker-engine-id").strip()
    assert not (sealed_root / "etc/docker/key.json").exists()
    assert not (sealed_root / "var/lib/docker/engine-id").exists()
    cloud = sealed_root / "var/lib/cloud"
    leftovers = [p.name for p in cloud.iterdir()] if cloud.exists() else []
    assert set(leftovers) <= {"seed"}, f"cloud-init clean left {leftovers}"  # instance, instances, data, sem: gone
    assert list((sealed_root / "var/log").glob("cloud-init*")) == []  # clean --logs


def test_the_programs_seal_checks_what_a_cephfs_template_installs_and_seals_it():
    """template-seal.sh with the arguments components/template_vm.py gives it for storage cephfs and the kernel
    client: no snap to find held, the kernel client's mount.ceph among the commands (an earlier seal required
    MicroCeph whatever the storage type, found by this lab)."""
    assert seed.lab_seal_args()[1:] == ["-", "qemu-ga", "curl", "docker", "mount.ceph"]
    assert (STATE / "run" / TEMPLATE / "seal.out").read_text().strip() == "sealed"


def test_the_node_is_a_new_machine_not_the_template(vm: Vm):
    machine_id = vm.out("cat /etc/machine-id")
    assert re.fullmatch(r"[0-9a-f]{32}", machine_id), machine_id
    assert machine_id != _template_evidence("machine-id").strip()
    assert vm.out("hostname") == NAME and vm.out("hostname") != TEMPLATE
    served = vm.out("sudo -n cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2]
    assert served == seed.vm_host_key(NAME).public.split()
    assert served != seed.vm_host_key(TEMPLATE).public.split()
    info = _run(["qemu-img", "info", "-U", "--output=json", str(vm.run_dir / "disk.qcow2")], 30)  # -U: QEMU has it
    disk = json.loads(_check(info, "qemu-img info"))
    assert disk["backing-filename"] == str(STATE / "run" / TEMPLATE / "disk.qcow2")  # a clone of the sealed template


def test_each_clone_has_its_own_docker_engine_id(vms: list[Vm]):
    """Not the template's (which every clone would share without the seal's removal of it), nor another clone's."""
    ids = [vm.out("sudo -n docker info --format '{{.ID}}'") for vm in vms]
    assert all(ids) and len(set(ids)) == len(vms), ids
    assert _template_evidence("docker-engine-id").strip() not in ids


def test_the_kernel_cephfs_client_is_there(vm: Vm):
    """What a kernel CephFS mount needs on the node (a real mount needs a Ceph cluster: phase 3)."""
    assert vm.ssh("test -x /sbin/mount.ceph").returncode == 0
    modprobe = vm.ssh("sudo -n modprobe ceph")
    assert modprobe.returncode == 0, modprobe.stderr
    assert "ceph" in vm.out("lsmod").split()


# ------------------------------------------------------------------------------------------- the program on VMs --
PORT = StackConfig().published_port
SERVICE = f"{StackConfig().name}_web"


@pytest.mark.engine
def test_pulumi_up_on_the_vms_serves_the_page_from_kernel_cephfs_and_destroy_is_clean(vms, lab_nodes, tmp_path):
    """The real engine runs the program in hosts mode on the three VMs (the `vmlab` stack): the program's default
    SSH user through sudo, every host key pinned, the readiness step, Swarm, the kernel CephFS mount of the
    container lab's Ceph cluster (production's fstab line, through systemd's automount), the page on every VM; a
    no-op `up`; `destroy` leaves the VMs as they booted."""
    config = vm_lab_stack_config()
    mount = lab_mount(config=config)
    secrets = lab_secrets(ssh_key=seed.LAB_KEY)
    private_key, ceph_key = secrets["swarm-ceph:sshPrivateKey"], secrets["swarm-ceph:cephClientKey"]
    assert ceph_health(lab_nodes[0][1]) == "HEALTH_OK"
    _check(_vm_sh("net-up"), "vm.sh net-up")  # again, now that the container lab runs: the labs' routes
    started = time.monotonic()
    _check(_vm_sh("images", *(vm.name for vm in vms), timeout=900), "vm.sh images")
    _timed("lab images loaded into the VMs", started)
    project = Project(tmp_path)
    project.stack("vmlab", config["config"], secrets)
    page = (project.root / "stacks/nginx/html/index.html").read_text()

    started = time.monotonic()
    ran = project.up()
    _timed(f"pulumi up on {len(vms)} VMs to the page served", started)
    expected = run_program(*with_secrets(config["config"]), stack="vmlab").resources
    assert list(ran) == ["create"] and len(ran["create"]) == len(expected) + 1  # and the Stack
    nodes = vms[0].out("sudo -n docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'")
    assert sorted(line.split() for line in nodes.splitlines()) == [
        ["swarm-vm1", "Ready", "Leader"],
        ["swarm-vm2", "Ready"],
        ["swarm-vm3", "Ready"],
    ]
    for vm in vms:
        assert fetch(vm.ip, PORT, timeout=10) == page, vm.name
        assert_mounted(vm.root, mount, ceph_key, "ceph")  # the kernel client, not ceph-fuse
        assert vm.out(f"ls {mount.point}/.swarm-ceph/io").split() == [n for n, _, _ in NODES], vm.name
        assert _web_content_fs(vm) == "ceph", vm.name

    assert list(project.up("--expect-no-changes")) == ["same"]

    started = time.monotonic()
    ran = project.destroy()
    _timed(f"pulumi destroy on {len(vms)} VMs", started)
    assert list(ran) == ["delete"] and len(ran["delete"]) == len(expected) + 1
    for vm in vms:
        assert vm.root("docker info --format '{{.Swarm.LocalNodeState}}'") == "inactive", vm.name
        with pytest.raises(OSError):
            fetch(vm.ip, PORT, timeout=2)
        assert_unmounted(vm.root, mount, "ceph")
    assert [r["type"] for r in project.resources()] == []
    key_body = private_key.strip().splitlines()[1]  # a line of the key's base64
    for secret in (key_body, ceph_key):
        assert project.leaks(secret) == []
