"""CephFSMount (a CephFS, MicroCeph's or an existing cluster's, mounted on every node) and SharedPath (storage you
already share), and the cross-node IO check both end with."""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict

from .config import StorageConfig
from .remote import NodeHandle, run_script

IO_CHECK_TIMEOUT_S = 60
# The client side of the mounts: one config file (the monitors, the key file, the filesystem), rendered from data
# and owned by this program, beside whatever else /etc/ceph holds (e.g. a Ceph host's own ceph.conf).
CONF_FILE = "/etc/ceph/swarm-ceph.conf"


def secret_file(client_name: str) -> str:
    """The file holding the key of client.<client_name> (0600; the key is never inline in fstab or a command)."""
    return f"/etc/ceph/swarm-ceph.client.{client_name}.secret"


def ceph_conf(monitors: list[str], client_name: str, fs_name: str, secret_file: str) -> str:
    """The Ceph client config (ceph-fuse reads it; the kernel client takes the same facts from its fstab line)."""
    return (
        f"# Written by swarm-ceph (CephFSMount): the client side of CephFS {fs_name}. Local edits are overwritten.\n"
        "[global]\n"
        f"mon_host = {','.join(monitors)}\n"
        f"[client.{client_name}]\n"
        f"keyfile = {secret_file}\n"
        f"client_fs = {fs_name}\n"
    )


def fstab_line(
    client: str,
    monitors: list[str],
    mount_point: str,
    fs_name: str,
    client_name: str,
    secret_file: str,
    conf_file: str,
) -> str:
    """The fstab line for CephFS, mounted on demand (systemd automount) once the network is up.

    kernel: the legacy device syntax that every mount.ceph understands, the key in a 0600 file (never inline).
    fuse: ceph-fuse with our config file, which names the monitors, the key file and the filesystem."""
    tail = ["noatime", "_netdev", "x-systemd.automount"]
    if client == "kernel":
        options = [f"name={client_name}", f"secretfile={secret_file}", f"fs={fs_name}", *tail]
        return f"{','.join(monitors)}:/ {mount_point} ceph {','.join(options)} 0 0"
    if client == "fuse":
        options = [f"ceph.id={client_name}", f"ceph.conf={conf_file}", *tail]
        return f"none {mount_point} fuse.ceph {','.join(options)} 0 0"
    raise ValueError(f"unknown CephFS client {client!r} (kernel or fuse)")


def _io_checks(component: pulumi.Resource, name: str, nodes: list[NodeHandle], root: str, marks: list) -> dict:
    """Every node reads every node's marker (each written by that node's mount step).

    The first node's check waits for every mount; the other checks wait for that one (so for every mount too) and
    then run in parallel. Same order as making each wait for every mount, with n instead of n*n dependencies. A lost
    node (nodes[].state: lost) is neither checked nor expected."""
    present = [n for n in nodes if n.present]
    names = sorted(n.name for n in present)  # the config's order is no input: reordering nodes changes nothing
    checks: dict[str, pulumi.Resource] = {}
    for node in present:
        checks[node.name] = run_script(
            f"{name}-{node.name}-io-check",
            node,
            "io-check.sh",
            [root, IO_CHECK_TIMEOUT_S, *names],
            parent=component,
            depends_on=marks if not checks else [checks[present[0].name]],
        )
    return checks


class CephFSMountArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    nodes: list[NodeHandle]
    storage: StorageConfig
    monitors: list[str]
    client_key: object  # pulumi.Output[str], secret: the key of client.<storage.client_name>
    after: list  # pulumi.Resource: what the mounts wait for (e.g. the MicroCeph filesystem and its client)


class CephFSMount(pulumi.ComponentResource):
    """A CephFS mounted on every node, whoever runs the cluster (MicroCeph on the nodes, or an existing cluster):
    the client package, the key in a 0600 file (on stdin, never in a command line), the client config, one fstab
    line, mounted; then the cross-node IO check. Delete: unmounted, the fstab line and both files removed."""

    def __init__(self, name: str, args: CephFSMountArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:CephFSMount", name, None, opts)
        s = args.storage
        key_file = secret_file(s.client_name)
        conf = ceph_conf(args.monitors, s.client_name, s.fs_name, key_file)
        line = fstab_line(s.client, args.monitors, s.mount_point, s.fs_name, s.client_name, key_file, CONF_FILE)
        self.fstab_line = line
        self.mounts = {
            n.name: run_script(
                f"{name}-{n.name}-mount",
                n,
                "cephfs-mount.sh",
                [s.mount_point, s.client, key_file, CONF_FILE, conf, line],
                parent=self,
                stdin=args.client_key,
                secret=True,
                depends_on=args.after,
                delete=("cephfs-umount.sh", [s.mount_point, key_file, CONF_FILE]),
            )
            for n in args.nodes
        }
        self.io_checks = _io_checks(self, name, args.nodes, s.mount_point, list(self.mounts.values()))
        self.root = s.mount_point
        self.register_outputs({"fs_name": s.fs_name, "mount_point": s.mount_point})


class SharedPathArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    nodes: list[NodeHandle]
    path: str


class SharedPath(pulumi.ComponentResource):
    """storage.type existing: the directory is already shared; check it on every node, then the IO check (delete:
    each node's IO marker removed)."""

    def __init__(self, name: str, args: SharedPathArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:SharedPath", name, None, opts)
        self.mounts = {
            n.name: run_script(
                f"{name}-{n.name}-check",
                n,
                "shared-path.sh",
                ["check", args.path],
                parent=self,
                delete=("shared-path.sh", ["remove", args.path]),
            )
            for n in args.nodes
        }
        self.io_checks = _io_checks(self, name, args.nodes, args.path, list(self.mounts.values()))
        self.root = args.path
        self.register_outputs({"path": args.path})
