"""The NoCloud seed of a VM lab node: ``user-data``, ``meta-data`` and ``network-config`` (pure functions; files
are only written by ``write_seed``).

``user-data`` is the program's own: ``cloudinit.render.node_user_data`` called the way components/nodes.py calls
it (hostname, fqdn, the SSH user, the login keys, the node's derived SSH host key), unchanged. The host key derives
from a seed that is only the VM lab's (public on purpose), as the container lab's does (lab/stack_config.py).

The template's ``user-data`` is ``cloudinit.render.template_user_data`` called as components/template_vm.py calls it
(hostname, the SSH user, the login keys, the template's derived host key, storage ``cephfs`` with the kernel client)
plus the lab's two inputs: ``docker="debian"`` (Debian's docker.io: Docker's repository is unreachable here) and
``apt_sources_list`` (the lab's local apt repository, served on the bridge by lab/vm/vm.sh, and nothing else).

``network-config`` is the lab's stand-in: on Proxmox the address comes from PVE's own cloud-init drive (the VM's
ipconfig0, which PVE renders as a network-config of its own), not from the program's user-data; here
``network_config`` renders the same facts (the NIC by its MAC, a static address, the gateway) as network-config v2.

    python lab/vm/seed.py NAME IP MAC PUBLIC_KEY_FILE OUTDIR    a node's seed: OUTDIR/{user-data,meta-data,...}
    python lab/vm/seed.py template NAME IP MAC PUBLIC_KEY_FILE OUTDIR REPO_URL    the template's seed
    python lab/vm/seed.py host-key NAME                         prints the VM's derived public host key
    python lab/vm/seed.py template-packages                     the packages the lab's template installs
    python lab/vm/seed.py script-command SCRIPT [ARG...]        the command line the program sends for SCRIPT
    python lab/vm/seed.py script-command --path-first DIR SCRIPT [ARG...]   the same, DIR first on PATH
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from cloudinit.render import node_user_data, template_packages, template_user_data  # noqa: E402
from components.config import SshConfig, StorageConfig, TemplateConfig  # noqa: E402
from components.host_keys import HostKey, derive_host_key  # noqa: E402
from components.remote import NodeHandle  # noqa: E402
from components.scripts import script_command  # noqa: E402

VM_LAB_CIDR = ipaddress.IPv4Network("10.77.2.0/24")  # the container lab owns 10.77.1.0/24
VM_LAB_GATEWAY = ipaddress.IPv4Address("10.77.2.1")  # the bridge in the lab's network namespace
VM_LAB_HOST_KEY_SEED = "swarm-ceph-vmlab-host-keys-not-a-secret-9f3c2a7d"  # the VM lab's own, public on purpose
SSH_USER = SshConfig().user  # the program's default SSH user (ssh.user)
TEMPLATE_NAME = TemplateConfig().name  # the program's default template.name
REPO_PORT = 8077  # the lab's apt repository: http://VM_LAB_GATEWAY:REPO_PORT/ (lab/vm/vm.sh VMLAB_REPO_PORT)
REPO_URL = f"http://{VM_LAB_GATEWAY}:{REPO_PORT}/"
# The lab's SSH key (lab/vm/vm.sh VMLAB_KEY): one per machine, in the cache with the templates sealed for it, so that
# a clean clone reuses them.
LAB_KEY = Path(os.environ.get("SWARM_CEPH_CACHE", Path.home() / ".cache/swarm-ceph")) / "vm" / "id_ed25519"
# The VM lab's nodes, booted from the sealed template (the lab stack `vmlab` in lab/stack_config.py lists them).
VM_LAB_NODES = [
    ("swarm-vm1", "10.77.2.11", "manager"),
    ("swarm-vm2", "10.77.2.12", "worker"),
    ("swarm-vm3", "10.77.2.13", "worker"),
]
SUITE = "bookworm"
# What the lab's template is made for: storage cephfs with the kernel client (ceph-common), Debian's docker.io.
STORAGE, CEPH_CLIENT, DOCKER = "cephfs", "kernel", "debian"


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


def apt_sources_list(repo_url: str = REPO_URL) -> str:
    """The template's only apt source: the lab's local repository (unsigned, so trusted as it is: it is built on
    this host from Debian's packages, which apt checked against Debian's keys when it downloaded them)."""
    return f"deb [trusted=yes] {repo_url} {SUITE} main\n"


def template_user_data_for(name: str, public_keys: list[str], repo_url: str = REPO_URL) -> str:
    """The template's user-data: as components/template_vm.py renders it, plus the lab's docker and apt inputs."""
    key = vm_host_key(name)
    return template_user_data(
        hostname=name,
        user=SSH_USER,
        public_keys=public_keys,
        host_key_private=key.private_openssh,
        host_key_public=key.public,
        storage=STORAGE,
        ceph_client=CEPH_CLIENT,
        docker=DOCKER,
        apt_sources_list=apt_sources_list(repo_url),
    )


def lab_template_packages() -> list[str]:
    """What the lab's template installs (the local repository holds them and what they need)."""
    return template_packages(STORAGE, CEPH_CLIENT, DOCKER)


def remote_command(script: str, *args: str) -> str:
    """The command line the program sends over SSH for ``script`` (components/remote.py run_script), as the lab's
    SSH user: through ``sudo -n`` unless that user is root, exactly as NodeHandle.sudo decides."""
    sudo = NodeHandle.sudo.fget(SimpleNamespace(ssh_user=SSH_USER))  # the program's own rule, for the lab's user
    return script_command(script, *args, sudo=sudo)


def lab_seal_args() -> list[str]:
    """template-seal.sh's arguments, as the program gives them for the lab template's storage."""
    from components.template_vm import seal_args  # (imports the Proxmox SDK: only here)

    return [str(a) for a in seal_args(StorageConfig(type=STORAGE, client=CEPH_CLIENT))]


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


def seed_files(name: str, ip: str, mac: str, public_keys: list[str], user: str | None = None) -> dict[str, str]:
    """The three seed files of VM ``name`` by file name: ``user`` data given (the template's), or the node's."""
    user = user_data(name, public_keys) if user is None else user
    network = network_config(mac, ip)
    return {"user-data": user, "meta-data": meta_data(name, user, network), "network-config": network}


def write_seed(outdir: Path, files: dict[str, str]) -> None:
    """Write the seed files (user-data holds the private host key: owner-only)."""
    outdir.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        path = outdir / file_name
        path.touch(mode=0o600)
        path.write_text(text)


def _keys(key_file: str) -> list[str]:
    return [line.strip() for line in Path(key_file).read_text().splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "host-key":
        print(vm_host_key(argv[1]).public)
    elif argv == ["template-packages"]:
        print(" ".join(lab_template_packages()))
    elif argv == ["seal-args"]:
        print(" ".join(lab_seal_args()))
    elif len(argv) >= 2 and argv[0] == "script-command":
        print(remote_command(argv[1], *argv[2:]))
    elif len(argv) == 7 and argv[0] == "template":
        name, ip, mac, key_file, outdir, repo_url = argv[1:]
        user = template_user_data_for(name, _keys(key_file), repo_url)
        write_seed(Path(outdir), seed_files(name, ip, mac, _keys(key_file), user))
    elif len(argv) == 5:
        name, ip, mac, key_file, outdir = argv
        write_seed(Path(outdir), seed_files(name, ip, mac, _keys(key_file)))
    else:
        print(__doc__.split("\n\n")[-1], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
