"""Render the cloud-config user-data of the template VM and of each node VM.

The template's first boot installs what every node needs (Docker from Docker's apt repository as the guide does,
the QEMU guest agent; with storage.type microceph the MicroCeph snap held at its version; with microceph or cephfs
the CephFS client: ceph-common for the kernel client, ceph-fuse for FUSE). A node's user-data only gives the clone
its identity: hostname, login keys and SSH host key (custom user-data replaces what PVE would set, hostname
included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import yaml

# Docker's apt repository for Debian 12 and the fingerprint of its signing key (docs.docker.com/engine/install/debian).
DOCKER_APT_SOURCE = "deb [signed-by=$KEY_FILE] https://download.docker.com/linux/debian $RELEASE stable"
DOCKER_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"

BASE_PACKAGES = ["qemu-guest-agent", "ca-certificates", "curl"]
DOCKER_PACKAGES = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin"]
# Debian's own Docker engine (no Docker apt source, no compose plugin): for a template without Docker's repository.
DEBIAN_DOCKER_PACKAGES = ["docker.io"]
Docker = Literal["docker-ce", "debian"]
# The Debian package that brings each CephFS client's mount helper, and that helper.
CEPH_CLIENT_PACKAGES = {"kernel": "ceph-common", "fuse": "ceph-fuse"}
CEPH_CLIENT_COMMANDS = {"kernel": "mount.ceph", "fuse": "ceph-fuse"}
# The MicroCeph snap's channel (storage.microcephChannel): a fixed track, so that templates built months apart run
# the same Ceph major version. Squid (Ceph 19) is the track MicroCloud's LTS pairs MicroCeph with.
DEFAULT_MICROCEPH_CHANNEL = "squid/stable"


def microceph_runcmd(channel: str) -> list[list[str]]:
    """Install the MicroCeph snap from ``channel`` and hold it (no refresh behind the cluster's back)."""
    return [
        ["snap", "wait", "system", "seed.loaded"],
        ["snap", "install", "microceph", f"--channel={channel}"],
        ["snap", "refresh", "--hold", "microceph"],
    ]


def template_packages(
    storage: str = "microceph", ceph_client: str = "kernel", docker: Docker = "docker-ce"
) -> list[str]:
    """The template's packages for a storage type (microceph, cephfs, existing), CephFS client (kernel, fuse) and
    Docker (docker-ce: Docker's packages from Docker's repository; debian: Debian's docker.io)."""
    storage_packages = ["snapd"] if storage == "microceph" else []
    if storage in ("microceph", "cephfs"):
        storage_packages.append(CEPH_CLIENT_PACKAGES[ceph_client])
    return [*BASE_PACKAGES, *storage_packages, *_docker_packages(docker)]


def template_commands(storage: str = "microceph", ceph_client: str = "kernel") -> list[str]:
    """The commands the template's first boot must have installed for a storage type and CephFS client (the seal
    checks them, components/scripts/template-seal.sh): the guest agent, curl and Docker always; the CephFS client's
    mount helper with microceph or cephfs; MicroCeph with microceph."""
    commands = ["qemu-ga", "curl", "docker"]
    if storage in ("microceph", "cephfs"):
        commands.append(CEPH_CLIENT_COMMANDS[ceph_client])
    if storage == "microceph":
        commands.append("microceph")
    return commands


def _docker_packages(docker: Docker) -> list[str]:
    if docker == "docker-ce":
        return DOCKER_PACKAGES
    if docker == "debian":
        return DEBIAN_DOCKER_PACKAGES
    raise ValueError(f"docker must be 'docker-ce' or 'debian', not {docker!r}")


def _apt(docker: Docker, apt_sources_list: str | None) -> dict[str, Any]:
    """cloud-init's apt config: Docker's repository for docker-ce; with ``apt_sources_list``, apt's sources are
    exactly those lines (the image's sources.list is replaced, not kept)."""
    apt: dict[str, Any] = {}
    if apt_sources_list is not None:
        if not apt_sources_list.strip():
            raise ValueError("apt_sources_list must hold at least one sources.list line")
        apt["preserve_sources_list"] = False
        apt["sources_list"] = apt_sources_list if apt_sources_list.endswith("\n") else apt_sources_list + "\n"
    if docker == "docker-ce":
        apt["sources"] = {"docker.list": {"source": DOCKER_APT_SOURCE, "keyid": DOCKER_KEY_FINGERPRINT}}
    return apt


def _user(name: str, public_keys: Sequence[str]) -> dict[str, Any]:
    return {
        "name": name,
        "groups": ["sudo"],
        "shell": "/bin/bash",
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "lock_passwd": True,
        "ssh_authorized_keys": list(public_keys),
    }


def _host_key(doc: dict[str, Any], private: str | None, public: str | None) -> None:
    """Give the VM this SSH host key and no other (so that a pinned key is the one its sshd offers)."""
    if private is None or public is None:
        if private is not None or public is not None:
            raise ValueError("a host key needs both its private and its public part")
        return
    doc["ssh_deletekeys"] = True
    doc["ssh_genkeytypes"] = ["ed25519"]  # generated only when missing: the given key stays the only one
    doc["ssh_keys"] = {"ed25519_private": private, "ed25519_public": public}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (keys) as literal blocks, as one would write them by hand."""


_Dumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def _dump(doc: dict[str, Any]) -> str:
    return "#cloud-config\n" + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def template_user_data(
    *,
    hostname: str,
    user: str,
    public_keys: Sequence[str],
    host_key_private: str | None = None,
    host_key_public: str | None = None,
    storage: str = "microceph",
    ceph_client: str = "kernel",
    docker: Docker = "docker-ce",
    apt_sources_list: str | None = None,
    microceph_channel: str = DEFAULT_MICROCEPH_CHANNEL,
) -> str:
    """user-data for the template's one boot: install everything, enable the agent and Docker (and, for
    ``storage`` microceph, install the MicroCeph snap from ``microceph_channel`` and hold it).

    The program passes neither ``docker`` nor ``apt_sources_list`` (the defaults give its user-data unchanged); the
    VM lab (lab/vm) passes ``docker="debian"`` (Debian's docker.io: no Docker apt source, no compose plugin) and
    ``apt_sources_list`` (sources.list lines, e.g. ``deb [trusted=yes] http://10.77.2.1:8077 bookworm main``: apt
    then uses those and nothing else, through cloud-init's ``apt: {preserve_sources_list: false, sources_list}``;
    the lines are the caller's, trust options included)."""
    doc: dict[str, Any] = {
        "hostname": hostname,
        "manage_etc_hosts": True,
        "users": ["default", _user(user, public_keys)],
        "disable_root": True,
        "ssh_pwauth": False,
        "apt": _apt(docker, apt_sources_list),
        "package_update": True,
        "package_upgrade": True,
        "packages": template_packages(storage, ceph_client, docker),
        "runcmd": [
            ["systemctl", "enable", "--now", "qemu-guest-agent", "docker"],
            *(microceph_runcmd(microceph_channel) if storage == "microceph" else []),
        ],
    }
    if not doc["apt"]:
        del doc["apt"]  # docker.io from the image's own sources: no apt config at all
    _host_key(doc, host_key_private, host_key_public)
    return _dump(doc)


def node_user_data(
    *,
    hostname: str,
    fqdn: str | None,
    user: str,
    public_keys: Sequence[str],
    host_key_private: str | None = None,
    host_key_public: str | None = None,
) -> str:
    """user-data for a clone: its own hostname (MicroCeph join tokens are bound to it), login keys and host key."""
    doc: dict[str, Any] = {
        "hostname": hostname,
        "preserve_hostname": False,
        "manage_etc_hosts": True,
        "users": ["default", _user(user, public_keys)],
        "disable_root": True,
        "ssh_pwauth": False,
        "package_update": False,
        "runcmd": [["systemctl", "enable", "--now", "qemu-guest-agent", "docker"]],
    }
    if fqdn:
        doc["fqdn"] = fqdn
    _host_key(doc, host_key_private, host_key_public)
    return _dump(doc)
