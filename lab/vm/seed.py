"""The NoCloud seed of a VM lab node: ``user-data``, ``meta-data`` and ``network-config`` (pure functions; files
are only written by ``write_seed``).

``user-data`` is the program's own: ``cloudinit.render.node_user_data`` called the way components/nodes.py calls
it (hostname, fqdn, the SSH user, the login keys, the node's derived SSH host key), unchanged. The host key derives
from a seed that is only the VM lab's (public on purpose), as the container lab's does (lab/stack_config.py).

``network-config`` is the lab's stand-in: on Proxmox the address comes from PVE's own cloud-init drive (the VM's
ipconfig0, which PVE renders as a network-config of its own), not from the program's user-data; here
``network_config`` renders the same facts (the NIC by its MAC, a static address, the gateway) as network-config v2.

    python lab/vm/seed.py NAME IP MAC PUBLIC_KEY_FILE OUTDIR    writes OUTDIR/{user-data,meta-data,network-config}
    python lab/vm/seed.py host-key NAME                         prints the node's derived public host key
"""

from __future__ import annotations

import hashlib
import ipaddress
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from cloudinit.render import node_user_data  # noqa: E402
from components.config import SshConfig  # noqa: E402
from components.host_keys import HostKey, derive_host_key  # noqa: E402

VM_LAB_CIDR = ipaddress.IPv4Network("10.77.2.0/24")  # the container lab owns 10.77.1.0/24
VM_LAB_GATEWAY = ipaddress.IPv4Address("10.77.2.1")  # the bridge in the lab's network namespace
VM_LAB_HOST_KEY_SEED = "swarm-ceph-vmlab-host-keys-not-a-secret-9f3c2a7d"  # the VM lab's own, public on purpose
SSH_USER = SshConfig().user  # the program's default SSH user (ssh.user)


def vm_host_key(name: str) -> HostKey:
    """The SSH host key the VM lab pins for node ``name``."""
    return derive_host_key(VM_LAB_HOST_KEY_SEED, name)


def user_data(name: str, public_keys: list[str], fqdn: str | None = None, user: str = SSH_USER) -> str:
    """The node's user-data, as the program renders it for a Proxmox clone."""
    key = vm_host_key(name)
    return node_user_data(
        hostname=name,
        fqdn=fqdn,
        user=user,
        public_keys=public_keys,
        host_key_private=key.private_openssh,
        host_key_public=key.public,
    )


def network_config(
    mac: str,
    ip: str,
    cidr: ipaddress.IPv4Network = VM_LAB_CIDR,
    gateway: ipaddress.IPv4Address = VM_LAB_GATEWAY,
) -> str:
    """Stand-in for PVE's cloud-init drive (ipconfig0): network-config v2, the NIC matched by its MAC, a static
    address in ``cidr`` and the default route as ``gateway4`` (a v2 ``routes:`` default renders, on Debian's
    ifupdown, as ``post-up route add``, which needs net-tools: no route would appear)."""
    address = ipaddress.IPv4Address(ip)
    if address not in cidr or address in (cidr.network_address, cidr.broadcast_address, gateway):
        raise ValueError(f"{ip} is not a host address of {cidr} (other than the gateway {gateway})")
    doc = {
        "version": 2,
        "ethernets": {
            "nic0": {
                "match": {"macaddress": mac.lower()},
                "addresses": [f"{address}/{cidr.prefixlen}"],
                "gateway4": str(gateway),
            }
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def meta_data(name: str, *documents: str) -> str:
    """meta-data: the instance id changes with the seed's content (so a changed seed is a new instance, as PVE's
    drive does), the local hostname is the node's name."""
    digest = hashlib.sha256("\0".join(documents).encode()).hexdigest()[:12]
    return yaml.safe_dump({"instance-id": f"{name}-{digest}", "local-hostname": name}, sort_keys=False)


def seed_files(name: str, ip: str, mac: str, public_keys: list[str]) -> dict[str, str]:
    """The three seed files of node ``name`` by file name."""
    user, network = user_data(name, public_keys), network_config(mac, ip)
    return {"user-data": user, "meta-data": meta_data(name, user, network), "network-config": network}


def write_seed(outdir: Path, files: dict[str, str]) -> None:
    """Write the seed files (user-data holds the private host key: owner-only)."""
    outdir.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        path = outdir / file_name
        path.touch(mode=0o600)
        path.write_text(text)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "host-key":
        print(vm_host_key(argv[1]).public)
        return 0
    if len(argv) == 5:
        name, ip, mac, key_file, outdir = argv
        keys = [line.strip() for line in Path(key_file).read_text().splitlines() if line.strip()]
        write_seed(Path(outdir), seed_files(name, ip, mac, keys))
        return 0
    print("usage: python lab/vm/seed.py NAME IP MAC PUBLIC_KEY_FILE OUTDIR | host-key NAME", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
