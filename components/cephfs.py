"""CephFSMount (the filesystem, mounted on every node) and SharedPath (storage you already share), and the
cross-node IO check both end with."""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict

from .config import StorageConfig
from .remote import NodeHandle, run_script

IO_CHECK_TIMEOUT_S = 60
FS_TIMEOUT_S = 300


def fstab_line(monitors: list[str], mount_point: str, fs_name: str, secret_file: str) -> str:
    """The fstab line for CephFS (kernel client, legacy device syntax that every client version understands). The
    key stays in a 0600 file, never inline."""
    options = ",".join(
        ["name=admin", f"secretfile={secret_file}", f"fs={fs_name}", "noatime", "_netdev", "x-systemd.automount"]
    )
    return f"{','.join(monitors)}:/ {mount_point} ceph {options} 0 0"


def secret_file(fs_name: str) -> str:
    return f"/etc/ceph/{fs_name}.admin.secret"


def _io_checks(component: pulumi.Resource, name: str, nodes: list[NodeHandle], root: str, marks: list) -> dict:
    """Every node reads every node's marker (each written by that node's mount step).

    The first node's check waits for every mount; the other checks wait for that one (so for every mount too) and
    then run in parallel. Same order as making each wait for every mount, with n instead of n*n dependencies."""
    names = [n.name for n in nodes]
    checks: dict[str, pulumi.Resource] = {}
    for node in nodes:
        checks[node.name] = run_script(
            f"{name}-{node.name}-io-check",
            node,
            "io-check.sh",
            [root, IO_CHECK_TIMEOUT_S, *names],
            parent=component,
            depends_on=marks if not checks else [checks[names[0]]],
        )
    return checks


class CephFSMountArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    nodes: list[NodeHandle]
    storage: StorageConfig
    bootstrap_node: NodeHandle
    monitors: list[str]
    ceph_ready: object  # pulumi.Resource: Ceph is healthy with all OSDs


class CephFSMount(pulumi.ComponentResource):
    """Pools + filesystem once (guarded), then the mount on every node (delete: unmount, fstab line removed)."""

    def __init__(self, name: str, args: CephFSMountArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:CephFSMount", name, None, opts)
        s = args.storage
        self.filesystem = run_script(
            f"{name}-filesystem",
            args.bootstrap_node,
            "cephfs-create.sh",
            [s.fs_name, s.metadata_pool, s.data_pool, FS_TIMEOUT_S],
            parent=self,
            depends_on=[args.ceph_ready],
        )
        line = fstab_line(args.monitors, s.mount_point, s.fs_name, secret_file(s.fs_name))
        self.fstab_line = line
        self.mounts = {
            n.name: run_script(
                f"{name}-{n.name}-mount",
                n,
                "cephfs-mount.sh",
                [s.mount_point, s.fs_name, line],
                parent=self,
                depends_on=[self.filesystem],
                delete=("cephfs-umount.sh", [s.mount_point, s.fs_name]),
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
