"""The hosts the platform runs on: Proxmox clones (NodeVM) or hosts you bring (ExistingHost).

Both end in a NodeHandle whose ``ready`` step (SSH answers, cloud-init done, Docker up) every platform step
depends on, so the platform components have one code path whatever made the hosts."""

from __future__ import annotations

import functools

import pulumi
import pulumi_proxmoxve as proxmoxve
from pydantic import BaseModel, ConfigDict, SecretStr

from cloudinit import node_user_data

from .config import NetworkConfig, NodeConfig, ProxmoxConfig, SshConfig
from .proxmox_common import common_vm_args, initialization, nic, user_data_snippet
from .remote import NodeHandle, run_script

READY_TIMEOUT_S = 900
CEPH_DISK_INTERFACE = "scsi1"


def _handle(node: NodeConfig, ssh: SshConfig, private_key: object) -> NodeHandle:
    return NodeHandle(
        name=node.name,
        ip=str(node.ip),
        role=node.role,
        labels=node.labels,
        ssh_user=ssh.user,
        ssh_port=node.ssh_port,
        private_key=private_key,
        dial_error_limit=ssh.dial_error_limit,
        per_dial_timeout=ssh.per_dial_timeout,
        host_key=node.host_key,
        availability=node.availability,
        lost=node.state == "lost",
    )


def _ready(component: pulumi.Resource, handle: NodeHandle, depends_on: list[pulumi.Resource]) -> NodeHandle:
    """The readiness step (bounded: SSH dial retries, then wait-ready.sh's own timeout) and the handle using it."""
    step = run_script(
        f"{handle.name}-ready", handle, "wait-ready.sh", [READY_TIMEOUT_S], parent=component, depends_on=depends_on
    )
    return handle.model_copy(update={"ready": step})


class ExistingHostArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    node: NodeConfig
    ssh: SshConfig
    private_key: object


class ExistingHost(pulumi.ComponentResource):
    """A host you brought (infrastructure: hosts): nothing is created but the readiness step."""

    def __init__(self, name: str, args: ExistingHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:ExistingHost", name, None, opts)
        if args.node.host_key is None:
            pulumi.log.warn(
                f"{name}: nodes[].hostKey is not set, so the remote steps accept any SSH host key on {args.node.ip} "
                "(and send it secrets). Fix: set it to the host's public key (ssh-keyscan -t ed25519 HOST)",
                resource=self,
            )
        self.handle = _ready(self, _handle(args.node, args.ssh, args.private_key), [])
        self.register_outputs({"ip": self.handle.ip})


class NodeVMArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    node: NodeConfig
    proxmox: ProxmoxConfig
    network: NetworkConfig
    ssh: SshConfig
    private_key: object
    template_vm_id: int
    template_ready: object  # pulumi.Resource: the template exists once it has run
    security_group: object  # pulumi.Output[str]: the security group's name
    host_key_seed: SecretStr  # the VM's SSH host key derives from it (host_keys.py)


class NodeVM(pulumi.ComponentResource):
    """A full clone of the template with its own VM id, hostname and static IP, a second disk for Ceph, the PVE
    firewall on (options: input DROP; rules: the security group), then the readiness step."""

    def __init__(self, name: str, args: NodeVMArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:NodeVM", name, None, opts)
        node, pve = args.node, args.proxmox
        assert node.vm_id is not None  # checked by config.check_settings
        child = pulumi.ResourceOptions(parent=self)

        fqdn = f"{node.name}.{args.network.search_domain}" if args.network.search_domain else None
        self.user_data, host_key = user_data_snippet(
            name,
            pve,
            node.name,
            args.host_key_seed,
            functools.partial(
                node_user_data, hostname=node.name, fqdn=fqdn, user=args.ssh.user, public_keys=args.ssh.public_keys
            ),
            child,
        )
        self.vm = proxmoxve.VmLegacy(
            name,
            node_name=pve.node_name,
            vm_id=node.vm_id,
            name=node.name,
            description=f"swarm-ceph {node.role} (managed by Pulumi)",
            tags=["swarm-ceph", node.role],
            clone=proxmoxve.VmLegacyCloneArgs(
                vm_id=args.template_vm_id,
                node_name=pve.node_name,
                datastore_id=pve.disk_datastore,
                full=True,
                retries=3,
            ),
            # Only the Ceph disk is declared: the boot disk comes from the template as it is.
            disks=[
                proxmoxve.VmLegacyDiskArgs(
                    interface=CEPH_DISK_INTERFACE,
                    datastore_id=pve.disk_datastore,
                    size=node.ceph_disk_gb,
                    file_format="raw",
                    iothread=True,
                    discard="on",
                )
            ],
            network_devices=[nic(args.network)],
            initialization=initialization(pve, args.network, str(node.ip), node.name),
            started=True,
            on_boot=True,
            timeout_clone=1800,
            **common_vm_args(node.cores, node.memory_mb),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.template_ready, self.user_data]),
        )
        vm_child = pulumi.ResourceOptions(parent=self, depends_on=[self.vm])
        self.firewall_options = proxmoxve.firewall.OptionsLegacy(
            f"{name}-firewall-options",
            node_name=pve.node_name,
            vm_id=node.vm_id,
            enabled=True,
            input_policy="DROP",
            output_policy="ACCEPT",
            opts=vm_child,
        )
        self.firewall_rules = proxmoxve.firewall.RulesLegacy(
            f"{name}-firewall-rules",
            node_name=pve.node_name,
            vm_id=node.vm_id,
            rules=[proxmoxve.firewall.RulesLegacyRuleArgs(security_group=args.security_group, iface="net0")],
            opts=vm_child,
        )
        handle = _handle(node, args.ssh, args.private_key).model_copy(update={"host_key": host_key.public})
        self.handle = _ready(self, handle, [self.vm, self.firewall_options, self.firewall_rules])
        self.register_outputs({"vm_id": node.vm_id, "ip": str(node.ip)})
