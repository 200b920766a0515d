"""MicroCephCluster: bootstrap, add/join every node (one at a time), one OSD per node, wait for HEALTH_OK, then a
shorter MDS failover (two options in Ceph's configuration), the pools, the CephFS filesystem and the client the mounts
use (its key a secret output)."""

from __future__ import annotations

import ipaddress

import pulumi
from pydantic import BaseModel, ConfigDict

from .config import StorageConfig
from .remote import NodeHandle, run_script

BOOTSTRAP_TIMEOUT_S = 300
FS_TIMEOUT_S = 300


class MicroCephNode(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    handle: NodeHandle
    disk: str


class MicroCephClusterArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    nodes: list[MicroCephNode]
    storage: StorageConfig


class MicroCephCluster(pulumi.ComponentResource):
    """Nothing here deletes Ceph state: destroying the VMs removes it, and on hosts you brought, removing OSDs or
    members automatically could lose data; scale-down is a documented manual step."""

    def __init__(self, name: str, args: MicroCephClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:MicroCephCluster", name, None, opts)
        first, *others = args.nodes
        self.bootstrap_node = first.handle
        self.bootstrap = run_script(
            f"{name}-bootstrap",
            first.handle,
            "microceph-bootstrap.sh",
            [first.handle.ip, BOOTSTRAP_TIMEOUT_S],
            parent=self,
        )
        self.adds: dict[str, pulumi.Resource] = {}
        self.joins: dict[str, pulumi.Resource] = {first.handle.name: self.bootstrap}
        previous: pulumi.Resource = self.bootstrap
        for member in others:
            node = member.handle
            # Serialized on purpose: a MicroCeph (microcluster/dqlite) leader reliably admits one joining member
            # at a time; concurrent joins fail intermittently (canonical/microcloud#156 made its joins sequential).
            add = run_script(
                f"{name}-{node.name}-add",
                first.handle,
                "microceph-add.sh",
                [node.name],
                parent=self,
                secret=True,
                depends_on=[previous],
            )
            join = run_script(
                f"{name}-{node.name}-join",
                node,
                "microceph-join.sh",
                parent=self,
                stdin=pulumi.Output.secret(add.stdout),
                secret=True,
            )
            self.adds[node.name] = add
            self.joins[node.name] = join
            previous = join
        self.disks = {
            m.handle.name: run_script(
                f"{name}-{m.handle.name}-disk",
                m.handle,
                "microceph-disk.sh",
                [m.disk],
                parent=self,
                depends_on=[self.joins[m.handle.name]],
            )
            for m in args.nodes
        }
        self.health = run_script(
            f"{name}-health",
            first.handle,
            "ceph-health.sh",
            [len(args.nodes), args.storage.health_timeout_s, *args.storage.health_accept],
            parent=self,
            depends_on=list(self.disks.values()),
        )
        st = args.storage
        # A shorter MDS failover (storage.mdsBeaconMonDownGraceS, mdsReconnectTimeoutS): one step per option. A
        # destroy takes each back to Ceph's default, unless it was changed by hand since.
        self.tuning = {
            step: run_script(
                f"{name}-{step}",
                first.handle,
                "ceph-config.sh",
                ["set", *setting],
                parent=self,
                delete=("ceph-config.sh", ["rm", *setting]),
                depends_on=[self.health],
            )
            for step, setting in st.ceph_tuning().items()
        }
        # Pools, filesystem and client.<clientName> (authorized rw on it), each only if missing; the step prints the
        # client's key, so it is a secret step and its stdout a secret.
        self.filesystem = run_script(
            f"{name}-filesystem",
            first.handle,
            "cephfs-create.sh",
            [st.fs_name, st.metadata_pool, st.data_pool, FS_TIMEOUT_S, st.client_name],
            parent=self,
            secret=True,
            depends_on=[self.health],
        )
        self.client_key = pulumi.Output.secret(self.filesystem.stdout.apply(lambda out: out.strip()))
        for lost in (m.handle.name for m in args.nodes if m.handle.lost):
            # Removing a member's OSD automatically could lose data if another copy is also gone: said, not done.
            pulumi.log.warn(
                f"{lost} is marked lost: its OSD and its MON (if it ran one) stay in MicroCeph. On a surviving "
                f"node, find its OSD number N with `microceph disk list`, then run `microceph.ceph osd out N`, "
                f"`microceph.ceph osd purge N --yes-i-really-mean-it` and `microceph cluster remove {lost} --force`",
                resource=self,
            )
        # MicroCeph places MONs on the first three members (listed by address: the config's order is no input).
        self.monitors = sorted((m.handle.ip for m in args.nodes[:3]), key=ipaddress.ip_address)
        self.register_outputs({"monitors": self.monitors})
