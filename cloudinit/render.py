"""Render the cloud-config user-data of the template VM and of each node VM.

The template's first boot installs what every node needs (Docker from Docker's apt repository as the guide does,
the MicroCeph snap held at its version, ceph-common, the QEMU guest agent). A node's user-data only gives the clone
its identity: hostname and login keys (custom user-data replaces what PVE would set, hostname included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

# Docker's apt repository for Debian 12 and the fingerprint of its signing key (docs.docker.com/engine/install/debian).
DOCKER_APT_SOURCE = "deb [signed-by=$KEY_FILE] https://download.docker.com/linux/debian $RELEASE stable"
DOCKER_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"

TEMPLATE_PACKAGES = [
    "qemu-guest-agent",
    "ca-certificates",
    "curl",
    "snapd",
    "ceph-common",
    "docker-ce",
    "docker-ce-cli",
    "containerd.io",
    "docker-compose-plugin",
]


def _user(name: str, public_keys: Sequence[str]) -> dict[str, Any]:
    return {
        "name": name,
        "groups": ["sudo"],
        "shell": "/bin/bash",
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "lock_passwd": True,
        "ssh_authorized_keys": list(public_keys),
    }


def _dump(doc: dict[str, Any]) -> str:
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)


def template_user_data(*, hostname: str, user: str, public_keys: Sequence[str]) -> str:
    """user-data for the template's one boot: install everything, enable the agent and Docker."""
    doc: dict[str, Any] = {
        "hostname": hostname,
        "manage_etc_hosts": True,
        "users": ["default", _user(user, public_keys)],
        "disable_root": True,
        "ssh_pwauth": False,
        "apt": {
            "sources": {
                "docker.list": {"source": DOCKER_APT_SOURCE, "keyid": DOCKER_KEY_FINGERPRINT},
            }
        },
        "package_update": True,
        "package_upgrade": True,
        "packages": TEMPLATE_PACKAGES,
        "runcmd": [
            ["systemctl", "enable", "--now", "qemu-guest-agent", "docker"],
            ["snap", "wait", "system", "seed.loaded"],
            ["snap", "install", "microceph"],
            ["snap", "refresh", "--hold", "microceph"],
        ],
    }
    return _dump(doc)


def node_user_data(*, hostname: str, fqdn: str | None, user: str, public_keys: Sequence[str]) -> str:
    """user-data for a clone: its own hostname (MicroCeph join tokens are bound to it) and login keys."""
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
    return _dump(doc)
