"""The `lab` stack's configuration: hosts mode on the lab's Docker-in-Docker nodes, storage on the lab's real Ceph
cluster (storage.type: cephfs, the ceph-fuse client), the nginx stack and the kv stack (pure data, testable).

`python lab/stack_config.py > Pulumi.lab.yaml` writes it; the secrets are set separately
(`pulumi config set --secret swarm-ceph:sshPrivateKey < .lab/id_ed25519`,
`pulumi config set --secret swarm-ceph:cephClientKey < .lab/ceph/client.key`: lab/lab.sh up writes both).

The lab nodes' SSH host keys are derived the way the Proxmox VMs' are (components/host_keys.py), from a seed that
is only the lab's: lab/lab.sh gives each node its key (`python lab/stack_config.py host-key NAME`) and the stack
pins them (nodes[].hostKey), so every step the lab runs checks whom it talks to."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.host_keys import HostKey, derive_host_key  # noqa: E402

LAB_CIDR = "10.77.1.0/24"
LAB_GATEWAY = "10.77.1.1"
# Same hostnames as production, the lab's own addresses (never the production ones). Two topologies, chosen by
# LAB_SIZE (lab/lab.sh reads the same setting and starts these nodes; the first three run Ceph's MONs): the default
# one manager and two workers, or three managers (a Raft quorum that survives a manager's loss) and two workers.
LAB_TOPOLOGIES = {
    3: [
        ("swarm-master", "10.77.1.10", "manager"),
        ("swarm-worker1", "10.77.1.11", "worker"),
        ("swarm-worker2", "10.77.1.12", "worker"),
    ],
    5: [
        ("swarm-master", "10.77.1.10", "manager"),
        ("swarm-manager2", "10.77.1.13", "manager"),
        ("swarm-manager3", "10.77.1.14", "manager"),
        ("swarm-worker1", "10.77.1.11", "worker"),
        ("swarm-worker2", "10.77.1.12", "worker"),
    ],
}
LAB_NODES = LAB_TOPOLOGIES[3]
# Hosts the lab starts beside a topology's nodes but the lab stack does not list: a replacement to add by config.
LAB_SPARES = {3: [], 5: [("swarm-manager4", "10.77.1.15", "manager")]}
# Where lab/lab.sh puts the active CephFS MDS: a node the tests never stop while CephFS must answer (losing the active
# MDS together with a MON and a client stalls CephFS for about a minute here: lab/README.md).
LAB_MDS_NODE = {3: "swarm-master", 5: "swarm-manager2"}


def lab_nodes(size: int | None = None) -> list[tuple[str, str, str]]:
    """The lab's nodes for ``size`` (default: $LAB_SIZE, else 3)."""
    size = size or int(os.environ.get("LAB_SIZE") or 3)
    if size not in LAB_TOPOLOGIES:
        raise ValueError(f"LAB_SIZE={size}: the lab has {' or '.join(map(str, LAB_TOPOLOGIES))} nodes")
    return LAB_TOPOLOGIES[size]


LAB_NGINX_IMAGE = "swarm-ceph-lab/nginx"
LAB_REDIS_IMAGE = "swarm-ceph-lab/redis"
# lab/lab.sh runs the Ceph MONs on the first three nodes and makes this filesystem and this client.
LAB_CEPH_FS = "cephfs"
LAB_CEPH_CLIENT = "swarm"
LAB_STATE = Path(__file__).resolve().parent.parent / ".lab"
LAB_HOST_KEY_SEED = "swarm-ceph-lab-host-keys-not-a-secret-0123456789"  # the lab's own, public on purpose


def lab_host_key(name: str) -> HostKey:
    return derive_host_key(LAB_HOST_KEY_SEED, name)


def lab_stack_config(nodes: list[tuple[str, str, str]] | None = None, size: int | None = None) -> dict:
    """The lab stack's config for ``nodes`` (default: every node of the lab of ``size``); Ceph is the lab's whole
    cluster whatever the stack's nodes are."""
    lab = lab_nodes(size)
    nodes = lab if nodes is None else nodes
    return {
        "config": {
            "swarm-ceph:infrastructure": "hosts",
            "swarm-ceph:network": {"cidr": LAB_CIDR, "gateway": LAB_GATEWAY, "lanCidr": LAB_CIDR},
            "swarm-ceph:ssh": {"user": "root", "dialErrorLimit": 10, "perDialTimeout": 5},
            "swarm-ceph:nodes": [
                {"name": n, "ip": ip, "role": role, "hostKey": lab_host_key(n).public} for n, ip, role in nodes
            ],
            # MicroCeph is a snap and cannot run in the lab; a real Ceph cluster from Debian's packages does
            # (lab/lab.sh), and the program mounts its CephFS as it would a Proxmox host's. The host's kernel has no
            # ceph module: the lab mounts with ceph-fuse.
            "swarm-ceph:storage": {
                "type": "cephfs",
                "monitors": [ip for _, ip, _ in lab[:3]],
                "fsName": LAB_CEPH_FS,
                "clientName": LAB_CEPH_CLIENT,
                "client": "fuse",
            },
            # The lab has no registry: the images are loaded into every node, never pulled.
            "swarm-ceph:stack": {"image": LAB_NGINX_IMAGE, "resolveImage": "never", "deployTimeoutS": 120},
            "swarm-ceph:stacks": [
                {
                    "name": "kv",
                    "composeFile": "stacks/kv/docker-compose.yml",
                    "environment": {"KV_IMAGE": LAB_REDIS_IMAGE},
                    "resolveImage": "never",
                    "deployTimeoutS": 120,
                }
            ],
        }
    }


def vm_lab_stack_config() -> dict:
    """The `vmlab` stack's config: hosts mode on the VM lab's three VMs (lab/vm), booted from the sealed template
    with the program's user-data as Proxmox's clones are; the program's default SSH user (debian, through sudo),
    every host key pinned. Storage is the container lab's Ceph cluster (lab/vm/vm.sh routes the VMs to it) mounted
    with the kernel client, production's default; the web stack only."""
    from lab.vm.seed import VM_LAB_CIDR, VM_LAB_GATEWAY, VM_LAB_NODES, vm_host_key

    config = dict(lab_stack_config()["config"])
    del config["swarm-ceph:stacks"]
    cidr = str(VM_LAB_CIDR)
    config.update({
        "swarm-ceph:network": {"cidr": cidr, "gateway": str(VM_LAB_GATEWAY), "lanCidr": cidr},
        "swarm-ceph:ssh": {"dialErrorLimit": 10, "perDialTimeout": 5},
        "swarm-ceph:nodes": [
            {"name": n, "ip": ip, "role": role, "hostKey": vm_host_key(n).public} for n, ip, role in VM_LAB_NODES
        ],
        "swarm-ceph:storage": {**config["swarm-ceph:storage"], "client": "kernel"},
        "swarm-ceph:stack": {**config["swarm-ceph:stack"], "deployTimeoutS": 300},  # software-emulated VMs
    })  # fmt: skip
    return {"config": config}


@dataclass(frozen=True)
class LabMount:
    """A lab stack's CephFS mount as every node must have it (the program's own renderings, from the lab's facts):
    where, the key file, the client config and the fstab line."""

    point: str
    key_file: str
    conf_file: str
    conf: str
    fstab: str


def lab_mount(size: int | None = None, config: dict | None = None) -> LabMount:
    """The mount of the lab stack of ``size`` nodes, or of the stack ``config`` (e.g. vm_lab_stack_config())."""
    from components.cephfs import CONF_FILE, ceph_conf, fstab_line, secret_file  # (imports pulumi: not for lab.sh)
    from components.config import StorageConfig

    storage = (config or lab_stack_config(size=size))["config"]["swarm-ceph:storage"]
    point, monitors, key_file = StorageConfig().mount_point, storage["monitors"], secret_file(LAB_CEPH_CLIENT)
    return LabMount(
        point=point,
        key_file=key_file,
        conf_file=CONF_FILE,
        conf=ceph_conf(monitors, LAB_CEPH_CLIENT, LAB_CEPH_FS, key_file),
        fstab=fstab_line(storage["client"], monitors, point, LAB_CEPH_FS, LAB_CEPH_CLIENT, key_file, CONF_FILE),
    )


def lab_secrets(ssh_key: Path = LAB_STATE / "id_ed25519") -> dict[str, str]:
    """The lab stack's secrets, as lab/lab.sh up left them: the SSH key and the Ceph client's key. The vmlab stack
    logs in with the VM lab's key (ssh_key: lab/vm/seed.py LAB_KEY)."""
    return {
        "swarm-ceph:sshPrivateKey": ssh_key.read_text(),
        "swarm-ceph:cephClientKey": (LAB_STATE / "ceph/client.key").read_text().strip(),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["host-key"] and len(sys.argv) == 3:
        sys.stdout.write(lab_host_key(sys.argv[2]).private_openssh)
    elif sys.argv[1:] == ["nodes"]:  # for lab/lab.sh: "name=ip" words, the spares last
        hosts = lab_nodes() + LAB_SPARES[len(lab_nodes())]
        print(" ".join(f"{name}={ip}" for name, ip, _ in hosts))
    elif sys.argv[1:] == ["mds-node"]:  # for lab/lab.sh
        print(LAB_MDS_NODE[len(lab_nodes())])
    elif len(sys.argv) == 1:
        sys.stdout.write("# Generated by lab/stack_config.py for the local lab (hosts mode). Secrets: see README.\n")
        yaml.safe_dump(lab_stack_config(), sys.stdout, sort_keys=False)
    elif sys.argv[1:] == ["vmlab"]:
        sys.stdout.write("# Generated by lab/stack_config.py for the VM lab (hosts mode). Secrets: lab/vm/README.md.\n")
        yaml.safe_dump(vm_lab_stack_config(), sys.stdout, sort_keys=False)
    else:
        sys.exit("usage: python lab/stack_config.py [host-key NODE | nodes | mds-node | vmlab]")
