"""Pure rendering: cloud-config (validated by the real `cloud-init schema`), node-side scripts (Debian's
shellcheck; run for real where they need no Docker/Ceph), fstab line, firewall rules, command lines."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cloudinit import node_user_data, template_user_data
from components.cephfs import CONF_FILE, ceph_conf, fstab_line, secret_file
from components.compose import shipped_files
from components.config import ExtraStackConfig, NetworkConfig, PublishedPort, StackConfig
from components.docker_stack import (
    compose_published_ports,
    data_dir,
    deploy_environment,
    extra_environment,
    html_dir,
    interpolate,
    page_sha256,
)
from components.host_keys import derive_host_key
from components.scripts import SCRIPTS_DIR, script_command, script_text
from components.security_group import group_name, security_group_rules

SCRIPTS = sorted(p.name for p in SCRIPTS_DIR.glob("*.sh") if not p.name.startswith("lib"))
KEYS = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqv0yzfJ9E8n2o1Cq1nVh8vX0xW4m9m0m4V7L3s3a9X op@example"]
HOST_KEY = derive_host_key("a-seed-of-at-least-32-characters-0123456789", "swarm-worker1")
NODE_WITH_HOST_KEY = node_user_data(
    hostname="swarm-worker1",
    fqdn=None,
    user="debian",
    public_keys=KEYS,
    host_key_private=HOST_KEY.private_openssh,
    host_key_public=HOST_KEY.public,
)


LAB_SOURCES = "deb [trusted=yes] http://10.77.2.1:8077 bookworm main"  # what the VM lab passes (lab/vm/seed.py)


def require(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is required for these tests (.ci/run installs it: apt-get install {tool})"
    return path


@pytest.mark.parametrize(
    "document",
    [
        template_user_data(hostname="debian12-swarm-template", user="debian", public_keys=KEYS),
        node_user_data(hostname="swarm-worker1", fqdn=None, user="debian", public_keys=KEYS),
        node_user_data(hostname="swarm-prod-m1", fqdn="swarm-prod-m1.prod.lan", user="ops", public_keys=KEYS * 2),
        NODE_WITH_HOST_KEY,
        template_user_data(
            hostname="debian12-swarm-template",
            user="debian",
            public_keys=KEYS,
            host_key_private=HOST_KEY.private_openssh,
            host_key_public=HOST_KEY.public,
        ),
        template_user_data(hostname="t", user="debian", public_keys=KEYS, storage="cephfs", ceph_client="fuse"),
        template_user_data(hostname="t", user="debian", public_keys=KEYS, storage="existing"),
        template_user_data(
            hostname="t",
            user="debian",
            public_keys=KEYS,
            host_key_private=HOST_KEY.private_openssh,
            host_key_public=HOST_KEY.public,
            storage="cephfs",
            docker="debian",
            apt_sources_list=LAB_SOURCES,
        ),
        template_user_data(hostname="t", user="debian", public_keys=KEYS, docker="debian"),
        template_user_data(hostname="t", user="debian", public_keys=KEYS, apt_sources_list=LAB_SOURCES),
    ],
    ids=[
        "template",
        "node",
        "node-fqdn",
        "node-host-key",
        "template-host-key",
        "template-cephfs",
        "template-existing",
        "template-vm-lab",
        "template-debian-docker",
        "template-apt-sources",
    ],
)
def test_cloud_config_passes_cloud_init_schema(document, tmp_path):
    require("cloud-init")
    path = tmp_path / "user-data.yaml"
    path.write_text(document)
    result = subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid" in result.stdout + result.stderr


def test_cloud_config_schema_check_can_fail(tmp_path):
    """The schema check above is real: a wrong document is refused."""
    require("cloud-init")
    path = tmp_path / "bad.yaml"
    path.write_text("#cloud-config\npackages: 42\nruncmd: {not: a list}\n")
    result = subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert result.returncode != 0


def test_template_user_data_installs_what_nodes_need():
    doc = yaml.safe_load(template_user_data(hostname="t", user="debian", public_keys=KEYS))
    assert {"docker-ce", "ceph-common", "qemu-guest-agent", "snapd", "curl"} <= set(doc["packages"])
    assert "download.docker.com/linux/debian" in doc["apt"]["sources"]["docker.list"]["source"]
    assert ["snap", "refresh", "--hold", "microceph"] in doc["runcmd"]
    assert doc["users"][1]["ssh_authorized_keys"] == KEYS and doc["ssh_pwauth"] is False


@pytest.mark.parametrize(
    "storage, client, ceph_packages",
    [
        ("microceph", "fuse", {"snapd", "ceph-fuse"}),
        ("cephfs", "kernel", {"ceph-common"}),
        ("cephfs", "fuse", {"ceph-fuse"}),
        ("existing", "kernel", set()),
    ],
)
def test_template_installs_microceph_only_for_microceph(storage, client, ceph_packages):
    doc = yaml.safe_load(
        template_user_data(hostname="t", user="debian", public_keys=KEYS, storage=storage, ceph_client=client)
    )
    packages = set(doc["packages"])
    assert packages & {"snapd", "ceph-common", "ceph-fuse"} == ceph_packages
    assert {"docker-ce", "qemu-guest-agent"} <= packages
    assert bool([c for c in doc["runcmd"] if c[0] == "snap"]) is (storage == "microceph")


# sha256 of template_user_data's output before it had the docker and apt_sources_list parameters (phase 1 of the VM
# lab): the program passes neither, so its template user-data must stay byte for byte what it was. The MicroCeph
# templates changed once since, on purpose: `snap install microceph` gained `--channel=squid/stable` (its only diff).
TEMPLATE_GOLDEN = {
    "microceph": "a97c3e510c6f0d8c1588421ec87190778c647336409c6403dfb11325e5ce9c0a",
    "host-key": "2289280e9dba91bf90c2d50966792290833ca6ce05e5c4d901648c90c9b47d6f",
    "cephfs-kernel": "4c608dc35127338da5146b9aef958c40899c2d051e0451c3a8e2016ccb5c390c",
    "cephfs-fuse": "0623b666e1a9a7fb4f082a4e3e0bdfc9a739d540bc5757cbb77c48ff289874fa",
    "existing": "919e80dd424d7528da800db63cd724c1b8702063e2f6a0758022979cf8831e25",
}
TEMPLATE_GOLDEN_ARGS: dict[str, dict] = {
    "microceph": dict(hostname="debian12-swarm-template", user="debian", public_keys=KEYS),
    "host-key": dict(
        hostname="debian12-swarm-template",
        user="debian",
        public_keys=KEYS,
        host_key_private=HOST_KEY.private_openssh,
        host_key_public=HOST_KEY.public,
    ),
    "cephfs-kernel": dict(hostname="t", user="debian", public_keys=KEYS, storage="cephfs", ceph_client="kernel"),
    "cephfs-fuse": dict(hostname="t", user="debian", public_keys=KEYS, storage="cephfs", ceph_client="fuse"),
    "existing": dict(hostname="t", user="ops", public_keys=KEYS * 2, storage="existing"),
}


@pytest.mark.parametrize("case", sorted(TEMPLATE_GOLDEN))
def test_template_user_data_with_default_arguments_is_byte_identical_to_before(case):
    args = TEMPLATE_GOLDEN_ARGS[case]
    rendered = template_user_data(**args)
    assert hashlib.sha256(rendered.encode()).hexdigest() == TEMPLATE_GOLDEN[case], rendered
    assert template_user_data(**args, docker="docker-ce", apt_sources_list=None) == rendered


def test_template_user_data_for_the_vm_lab_uses_debian_docker_and_only_the_given_sources():
    doc = yaml.safe_load(
        template_user_data(
            hostname="t",
            user="debian",
            public_keys=KEYS,
            storage="cephfs",
            docker="debian",
            apt_sources_list=LAB_SOURCES,
        )
    )
    assert doc["apt"] == {"preserve_sources_list": False, "sources_list": LAB_SOURCES + "\n"}  # no docker.list
    assert doc["packages"] == ["qemu-guest-agent", "ca-certificates", "curl", "ceph-common", "docker.io"]
    assert doc["package_update"] is True and doc["package_upgrade"] is True
    assert ["systemctl", "enable", "--now", "qemu-guest-agent", "docker"] in doc["runcmd"]
    debian_only = yaml.safe_load(template_user_data(hostname="t", user="debian", public_keys=KEYS, docker="debian"))
    assert "apt" not in debian_only and "docker-ce" not in debian_only["packages"]
    mirror_only = yaml.safe_load(
        template_user_data(hostname="t", user="debian", public_keys=KEYS, apt_sources_list=LAB_SOURCES + "\n")
    )
    assert mirror_only["apt"]["sources_list"] == LAB_SOURCES + "\n" and "docker.list" in mirror_only["apt"]["sources"]
    assert "docker-compose-plugin" in mirror_only["packages"]


@pytest.mark.parametrize("bad", [dict(docker="podman"), dict(apt_sources_list=" \n")])
def test_template_user_data_refuses_bad_lab_arguments(bad):
    with pytest.raises(ValueError):
        template_user_data(hostname="t", user="debian", public_keys=KEYS, **bad)


def test_node_user_data_sets_the_hostname():
    doc = yaml.safe_load(node_user_data(hostname="swarm-worker2", fqdn=None, user="debian", public_keys=KEYS))
    assert doc["hostname"] == "swarm-worker2" and doc["preserve_hostname"] is False
    assert doc["users"][1]["name"] == "debian" and "fqdn" not in doc


PROJECT = Path(__file__).resolve().parent.parent
ALL_SHELL = sorted(
    str(p.relative_to(PROJECT))
    for pattern in (
        "components/scripts/*.sh",
        "lab/*.sh",
        "lab/images/*/*.sh",
        "scripts/*.sh",
        ".ci/*",
        "tests/fakes/*",
        "tests/fakes/engine/*",
    )
    for p in PROJECT.glob(pattern)
    if p.is_file()
)


def test_every_shell_file_is_found():
    assert {
        "components/scripts/lib.sh",
        "lab/lab.sh",
        ".ci/run",
        "scripts/engine.sh",
        "scripts/test.sh",
        "tests/fakes/engine/pulumi",
    } <= set(ALL_SHELL)


@pytest.mark.parametrize("path", ALL_SHELL)
def test_shell_passes_shellcheck(path):
    result = subprocess.run(
        [require("shellcheck"), "-x", "-S", "style", path.rsplit("/", 1)[-1]],
        cwd=PROJECT / path.rsplit("/", 1)[0],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_shellcheck_can_fail(tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\necho $1\n")
    assert subprocess.run([require("shellcheck"), str(bad)], capture_output=True).returncode != 0


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_strict_and_self_contained(script):
    text = script_text(script)
    assert "set -euo pipefail" in text
    assert "lib.sh" not in text.split("# shellcheck source=lib.sh")[-1].splitlines()[1]  # the source line is inlined
    assert "retry()" in text


def test_script_command_runs_for_real_with_stdin(tmp_path):
    """The command line we send over SSH, run locally: args quoted, page on stdin, idempotent."""
    target = tmp_path / "html"
    page = '<p>it\'s "quoted" $HOME `x`</p>\n'
    for _ in range(2):
        out = subprocess.run(
            ["sh", "-c", script_command("stack-page.sh", "put", target)],
            input=page,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == page_sha256(page)
    assert (target / "index.html").read_text() == page
    assert sorted(p.name for p in target.iterdir()) == ["index.html"]
    subprocess.run(["sh", "-c", script_command("stack-page.sh", "remove", target)], check=True, capture_output=True)
    assert not target.exists()


def test_io_check_sees_every_node_and_fails_when_one_is_missing(tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    run = lambda *args: subprocess.run(["sh", "-c", script_command(*args)], capture_output=True, text=True)  # noqa: E731
    (root / "user-data").write_text("kept")
    assert run("shared-path.sh", "check", root).returncode == 0
    assert run("shared-path.sh", "check", root).returncode == 0  # twice: same result
    me = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
    assert (root / ".swarm-ceph/io" / me).read_text().strip() == me
    assert run("io-check.sh", root, 2, me).returncode == 0
    failed = run("io-check.sh", root, 1, me, "swarm-worker9")
    assert failed.returncode == 1 and "swarm-worker9" in failed.stderr
    assert run("shared-path.sh", "check", tmp_path / "absent").returncode == 1
    # The delete: this node's marker goes, and the marker directories with the last one; the user's files stay.
    (root / ".swarm-ceph/io/swarm-worker9").write_text("swarm-worker9")
    assert run("shared-path.sh", "remove", root).returncode == 0
    assert sorted(p.name for p in (root / ".swarm-ceph/io").iterdir()) == ["swarm-worker9"]
    (root / ".swarm-ceph/io/swarm-worker9").unlink()
    for _ in range(2):  # twice: same result
        assert run("shared-path.sh", "remove", root).returncode == 0
        assert sorted(p.name for p in root.iterdir()) == ["user-data"]
    assert run("shared-path.sh", "remove", tmp_path / "absent").returncode == 0


def test_sudo_prefix_only_for_non_root():
    assert script_command("wait-ready.sh", 5, sudo=True).startswith("sudo -n bash -c ")
    assert script_command("wait-ready.sh", 5).startswith("bash -c ")


MONS = ["10.10.1.10", "10.10.1.11", "10.10.1.12"]


def test_fstab_line_kernel():
    line = fstab_line("kernel", MONS, "/mnt/cephfs", "cephfs", "swarm", secret_file("swarm"), CONF_FILE)
    assert line == (
        "10.10.1.10,10.10.1.11,10.10.1.12:/ /mnt/cephfs ceph "
        "name=swarm,secretfile=/etc/ceph/swarm-ceph.client.swarm.secret,fs=cephfs,noatime,_netdev,x-systemd.automount"
        " 0 0"
    )
    assert len(line.split()) == 6
    with_ports = fstab_line("kernel", ["10.0.0.1:6789", "[fd00::1]:3300"], "/mnt/x", "fs", "c", "/k", CONF_FILE)
    assert with_ports.startswith("10.0.0.1:6789,[fd00::1]:3300:/ /mnt/x ceph name=c,secretfile=/k,fs=fs,")


def test_fstab_line_fuse():
    line = fstab_line("fuse", MONS, "/mnt/cephfs", "cephfs", "swarm", secret_file("swarm"), CONF_FILE)
    assert line == (
        "none /mnt/cephfs fuse.ceph ceph.id=swarm,ceph.conf=/etc/ceph/swarm-ceph.conf,noatime,_netdev,"
        "x-systemd.automount 0 0"
    )
    assert len(line.split()) == 6
    with pytest.raises(ValueError):
        fstab_line("nfs", MONS, "/mnt/cephfs", "cephfs", "swarm", secret_file("swarm"), CONF_FILE)


def test_ceph_conf():
    assert CONF_FILE == "/etc/ceph/swarm-ceph.conf"
    assert secret_file("k8s.swarm") == "/etc/ceph/swarm-ceph.client.k8s.swarm.secret"
    assert ceph_conf(MONS, "swarm", "cephfs", secret_file("swarm")) == (
        "# Written by swarm-ceph (CephFSMount): the client side of CephFS cephfs. Local edits are overwritten.\n"
        "[global]\n"
        "mon_host = 10.10.1.10,10.10.1.11,10.10.1.12\n"
        "[client.swarm]\n"
        "keyfile = /etc/ceph/swarm-ceph.client.swarm.secret\n"
        "client_fs = cephfs\n"
    )


def test_security_rules_use_pve_port_ranges():
    rules = security_group_rules(NetworkConfig(), 8080)
    assert ("tcp", "6800:7300") in {(r.proto, r.dport) for r in rules}
    assert all(r.source in ("10.10.1.0/24", "192.168.0.0/24") for r in rules)
    assert {r.dport for r in rules if r.source == "192.168.0.0/24"} == {"22", "8080"}
    # the nodes run no Ceph daemon unless they run MicroCeph: only the Swarm's ports between them
    cluster = {(r.proto, r.dport) for r in security_group_rules(NetworkConfig(), 8080, microceph=False)}
    assert cluster == {
        ("tcp", "2377"),
        ("tcp", "7946"),
        ("udp", "7946"),
        ("udp", "4789"),
        ("tcp", "22"),
        ("tcp", "8080"),
    }


def test_security_rules_open_the_further_stacks_ports_to_the_lan_only():
    ports = {"dns": [PublishedPort(port=5353, protocol="udp"), PublishedPort(port=9000)]}
    rules = security_group_rules(NetworkConfig(), 8080, stack_ports=ports)
    assert [(r.proto, r.dport, r.source, r.comment) for r in rules[-2:]] == [
        ("udp", "5353", "192.168.0.0/24", "stack dns"),
        ("tcp", "9000", "192.168.0.0/24", "stack dns"),
    ]
    assert rules[:-2] == security_group_rules(NetworkConfig(), 8080)


def test_interpolate_fills_variables_as_stack_deploy_does():
    env = ["A=1", "EMPTY="]
    assert interpolate("$A ${A} ${A:-2} ${B:-2} ${B-3} $$A", env) == "1 1 1 2 3 $A"
    assert interpolate("${EMPTY:-x}|${EMPTY-x}|${EMPTY}", env) == "x||"
    assert interpolate("${B}", env) is None and interpolate("${B:?needed}", env) is None


def test_compose_published_ports_reads_both_syntaxes():
    compose = """
services:
  a:
    ports:
      - 80                                  # a random published port: not known before the deploy
      - "8081:80"
      - 2222:22                             # unquoted: YAML 1.1 would read a base-60 number, Docker a string
      - "127.0.0.1:9000-9002:90-92/udp"
      - "[::1]:7000:70"
      - "127.0.0.1::80"
      - "${UNSET}:81"
      - "${ADMIN:-9100}:82"
      - {target: 80, published: "${P}", mode: host}
      - {target: 53, published: 5353, protocol: udp}
      - {target: 54}
  b: {}
  c:
    ports: ["8081:80"]
"""
    assert [str(p) for p in compose_published_ports(compose, ["P=8090"])] == [
        "8081/tcp",
        "2222/tcp",
        "9000/udp",
        "9001/udp",
        "9002/udp",
        "7000/tcp",
        "9100/tcp",
        "8090/tcp",
        "5353/udp",
    ]
    root = Path(__file__).parent.parent
    web = (root / "stacks/nginx/docker-compose.yml").read_text()
    assert compose_published_ports(web, deploy_environment(StackConfig(published_port=8443), "/mnt/cephfs")) == [
        PublishedPort(port=8443)
    ]
    assert compose_published_ports((root / "stacks/kv/docker-compose.yml").read_text(), []) == []


def test_deploy_environment_feeds_the_compose_file():
    compose = (Path(__file__).parent.parent / "stacks/nginx/docker-compose.yml").read_text()
    env = deploy_environment(StackConfig(), "/mnt/cephfs")
    assert env == ["STACK_NAME=mystack", "NGINX_IMAGE=nginx:1.27", "PUBLISHED_PORT=8080", "HTML_DIR=/mnt/cephfs/html"]
    _, digests = shipped_files(compose, WEB_DIR)
    for item in env + digests:
        assert "${" + item.split("=")[0] in compose
    doc = yaml.safe_load(compose)
    web = doc["services"]["web"]
    assert web["deploy"]["mode"] == "global" and web["ports"][0]["mode"] == "host"
    assert web["volumes"][0]["read_only"] is True and web["volumes"][0]["target"] == "/usr/share/nginx/html"
    assert web["configs"] == [{"source": "web_conf", "target": "/etc/nginx/conf.d/default.conf"}]
    assert html_dir("/mnt/cephfs/") == "/mnt/cephfs/html"


WEB_DIR = Path(__file__).parent.parent / "stacks/nginx"


def test_the_files_the_configs_are_made_from_and_their_digests(tmp_path):
    """Each config's file, read beside the compose file; its digest variable follows its content, so that a changed
    file is a new Swarm config (configs cannot change) and an unchanged one is not."""
    compose = (WEB_DIR / "docker-compose.yml").read_text()
    conf = (WEB_DIR / "default.conf").read_text()
    files, digests = shipped_files(compose, WEB_DIR)
    assert files == {"default.conf": conf}
    (digest,) = digests
    assert re.fullmatch(r"WEB_CONF_DIGEST=[0-9a-f]{16}", digest) and shipped_files(compose, WEB_DIR)[1] == digests
    (tmp_path / "default.conf").write_text(conf + "# edited\n")
    edited_files, (edited,) = shipped_files(compose, tmp_path)
    assert (
        edited.startswith("WEB_CONF_DIGEST=")
        and edited != digest
        and edited_files["default.conf"].endswith("# edited\n")
    )
    assert shipped_files("services: {}\n", tmp_path) == ({}, [])


def test_the_page_server_keeps_its_files_open_for_an_hour():
    """nginx's open-file cache is what keeps a stalled CephFS away from the page's requests (issue 18)."""
    conf = (WEB_DIR / "default.conf").read_text()
    for directive in (
        "open_file_cache max=1000 inactive=1h;",
        "open_file_cache_valid 1h;",
        "root /usr/share/nginx/html;",
    ):
        assert re.search(r"^\s*" + re.escape(directive).replace(r"\ ", r"\s+") + "$", conf, re.M), directive


def _health_check(stack: str) -> dict:
    doc = yaml.safe_load((Path(__file__).parent.parent / f"stacks/{stack}/docker-compose.yml").read_text())
    (service,) = doc["services"].values()
    return service["healthcheck"]


def _run_check(stack: str, bin_dir: Path, html: Path | None = None) -> int:
    """Run a stack's health check as its container would (compose's `$$` unescaped), the stand-ins in ``bin_dir``
    first on PATH, nginx's content directory at ``html``."""
    kind, command = _health_check(stack)["test"]
    assert kind == "CMD-SHELL"
    command = command.replace("$$", "$").replace("/usr/share/nginx/html", str(html))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, timeout=30).returncode


def _stand_in(bin_dir: Path, name: str, body: str) -> Path:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
    (bin_dir / name).chmod(0o755)
    return bin_dir


# `timeout` as the check calls it, as it ends when the command hangs: killed after 5 s
STALLED = '[ "$1 $2 $3" = "-s KILL 5" ] || exit 2; exit 137'


@pytest.mark.parametrize("stack", ["nginx", "kv"])
def test_health_checks_leave_their_own_bound_to_docker(stack):
    check = _health_check(stack)
    assert "timeout -s KILL 5 " in check["test"][1]
    assert check["timeout"] == "30s" and check["retries"] == 3  # Docker's own bound: far above the check's 5 s


def test_nginx_health_check_fails_on_a_missing_page_and_never_on_a_stalled_filesystem(tmp_path):
    """Unhealthy (a new container) only on a definite answer; a stat that hangs (a CephFS failing over) is killed
    after 5 s and counted healthy, so a stall never replaces every node's task at once. The hang itself is real in
    tests/test_lab.py (ceph-fuse frozen); here a stand-in `timeout` reports the kill it would have done."""
    real = tmp_path / "real-bin"
    real.mkdir()
    assert _run_check("nginx", real, tmp_path) == 1  # no page: unhealthy
    (tmp_path / "index.html").write_text("page")
    assert _run_check("nginx", real, tmp_path) == 0
    assert _run_check("nginx", _stand_in(tmp_path / "stalled", "timeout", STALLED), tmp_path / "gone") == 0
    # no `timeout` in the image: not silently healthy
    assert _run_check("nginx", _stand_in(tmp_path / "broken", "timeout", "exit 127"), tmp_path) == 1


def test_kv_health_check_fails_when_redis_refuses_and_never_while_it_waits(tmp_path):
    """Refused (no Redis): unhealthy. A PING that waits (Redis in an fsync on a stalled CephFS): healthy."""
    up = _stand_in(tmp_path / "up", "redis-cli", '[ "$1" = ping ] && echo PONG')
    down = _stand_in(tmp_path / "down", "redis-cli", "echo 'Could not connect to Redis at 127.0.0.1:6379' >&2; exit 1")
    assert _run_check("kv", up) == 0
    assert _run_check("kv", down) == 1
    assert _run_check("kv", _stand_in(tmp_path / "stalled", "timeout", STALLED)) == 0


def test_extra_environment_feeds_the_kv_compose_file():
    compose = (Path(__file__).parent.parent / "stacks/kv/docker-compose.yml").read_text()
    kv = ExtraStackConfig(
        name="kv", compose_file="stacks/kv/docker-compose.yml", environment={"KV_IMAGE": "redis:7.2", "A_B": "x y"}
    )
    env = extra_environment(kv, "/mnt/cephfs/")
    assert env == ["DATA_DIR=/mnt/cephfs/kv", "A_B=x y", "KV_IMAGE=redis:7.2"]
    assert data_dir("/mnt/cephfs", "kv") == "/mnt/cephfs/kv"
    for name in ("DATA_DIR", "KV_IMAGE"):
        assert "${" + name in compose
    doc = yaml.safe_load(compose)
    (name,) = doc["services"]
    service = doc["services"]["kv"]
    assert service["image"] == "${KV_IMAGE:-redis:7.2}" and "ports" not in service
    assert service["command"] == ["redis-server", "--appendonly", "yes", "--appendfsync", "always", "--dir", "/data"]
    assert service["volumes"] == [{"type": "bind", "source": "${DATA_DIR}", "target": "/data"}]
    deploy = service["deploy"]
    assert deploy.get("mode", "replicated") == "replicated" and deploy["replicas"] == 1
    assert deploy["restart_policy"]["condition"] == "any" and deploy["update_config"]["order"] == "stop-first"
    assert deploy["placement"]["constraints"] == ["node.role == worker"]
    assert "redis-cli ping" in service["healthcheck"]["test"][1]


def test_security_group_name_fits_pve_rules():
    assert group_name("dev") == "swarm-dev"
    assert group_name("team.prod-eu-west-1") == "swarm-team-prod-eu"
    assert len(group_name("x" * 40)) == 18


def test_host_keys_derive_per_host_and_seed_and_stay_the_same():
    again = derive_host_key("a-seed-of-at-least-32-characters-0123456789", "swarm-worker1")
    other_host = derive_host_key("a-seed-of-at-least-32-characters-0123456789", "swarm-worker2")
    other_seed = derive_host_key("another-seed-of-at-least-32-characters-012", "swarm-worker1")
    assert again == HOST_KEY  # no randomness: the user-data is the same on every run
    assert len({HOST_KEY.public, other_host.public, other_seed.public}) == 3
    assert HOST_KEY.public.startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA") and len(HOST_KEY.public.split()) == 2


def test_openssh_reads_the_host_private_key(tmp_path):
    """The real ssh-keygen parses our OpenSSH encoding and finds the public key we pin."""
    path = tmp_path / "ssh_host_ed25519_key"
    path.write_text(HOST_KEY.private_openssh)
    path.chmod(0o600)
    result = subprocess.run([require("ssh-keygen"), "-y", "-f", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == HOST_KEY.public.split()
    broken = tmp_path / "broken"
    broken.write_text(HOST_KEY.private_openssh.replace("b3BlbnNzaC1rZXktdjE", "b3BlbnNzaC1rZXktdjI"))
    broken.chmod(0o600)
    assert subprocess.run([require("ssh-keygen"), "-y", "-f", str(broken)], capture_output=True).returncode != 0


def test_node_user_data_carries_the_host_key_and_no_other():
    doc = yaml.safe_load(NODE_WITH_HOST_KEY)
    assert doc["ssh_keys"] == {"ed25519_private": HOST_KEY.private_openssh, "ed25519_public": HOST_KEY.public}
    assert doc["ssh_deletekeys"] is True and doc["ssh_genkeytypes"] == ["ed25519"]
    with pytest.raises(ValueError):
        node_user_data(hostname="n", fqdn=None, user="debian", public_keys=KEYS, host_key_public=HOST_KEY.public)


def test_template_installs_microceph_from_a_fixed_channel():
    doc = yaml.safe_load(template_user_data(hostname="t", user="debian", public_keys=KEYS))
    assert ["snap", "install", "microceph", "--channel=squid/stable"] in doc["runcmd"]
    reef = yaml.safe_load(
        template_user_data(hostname="t", user="debian", public_keys=KEYS, microceph_channel="reef/stable")
    )
    snaps = [c for c in reef["runcmd"] if c[0] == "snap"]
    assert snaps == [
        ["snap", "wait", "system", "seed.loaded"],
        ["snap", "install", "microceph", "--channel=reef/stable"],
        ["snap", "refresh", "--hold", "microceph"],  # held after the install
    ]
