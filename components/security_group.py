"""SecurityGroup: the PVE cluster firewall security group the node VMs use."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_proxmoxve as proxmoxve
from pydantic import BaseModel, ConfigDict

from .config import NetworkConfig, PublishedPort
from .ports import LAN_PORTS, MICROCEPH_PORTS, SWARM_PORTS


def group_name(stack: str) -> str:
    """The group's PVE name for a stack: PVE allows [A-Za-z][A-Za-z0-9_-]+, at most 18 characters."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"swarm-{stack}")[:18]


@dataclass(frozen=True)
class Rule:
    proto: str | None
    dport: str | None
    source: str
    comment: str
    action: str = "ACCEPT"
    type: str = "in"


def security_group_rules(
    network: NetworkConfig,
    published_port: int,
    microceph: bool = True,
    stack_ports: dict[str, list[PublishedPort]] | None = None,
) -> list[Rule]:
    """The inbound rules of the group: cluster ports (Swarm's, and MicroCeph's when the nodes run it) from the
    cluster CIDR only (or everything from it, if allowIntraCluster), SSH, the published page and the further stacks'
    published ports (``stack_ports``: stack name to its ports) from the LAN CIDR only."""
    cluster, lan = str(network.cidr), str(network.lan_cidr)
    if network.allow_intra_cluster:
        rules = [Rule(None, None, cluster, "all traffic between cluster nodes")]
    else:
        ports = SWARM_PORTS + (MICROCEPH_PORTS if microceph else [])
        rules = [Rule(proto, port, cluster, why) for proto, port, why in ports]
    rules += [Rule(proto, port, lan, why) for proto, port, why in LAN_PORTS]
    rules.append(Rule("tcp", str(published_port), lan, "the published web page"))
    for stack, ports in (stack_ports or {}).items():
        rules += [Rule(p.protocol, str(p.port), lan, f"stack {stack}") for p in ports]
    return rules


class SecurityGroupArgs(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    network: NetworkConfig
    published_port: int
    microceph: bool  # the nodes run MicroCeph (storage.type microceph): its ports are open between them
    stack_ports: dict[str, list[PublishedPort]] = {}  # the further stacks' publishedPorts, by stack name


class SecurityGroup(pulumi.ComponentResource):
    """A PVE cluster-level security group (and, only if asked, the datacenter firewall switch)."""

    def __init__(self, name: str, args: SecurityGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:SecurityGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.group = proxmoxve.cluster.firewall.security.GroupLegacy(
            name,
            name=args.name,
            comment="swarm-ceph: Docker Swarm + MicroCeph nodes",
            rules=[
                proxmoxve.cluster.firewall.security.GroupLegacyRuleArgs(
                    type=r.type, action=r.action, proto=r.proto, dport=r.dport, source=r.source, comment=r.comment
                )
                for r in security_group_rules(args.network, args.published_port, args.microceph, args.stack_ports)
            ],
            opts=child,
        )
        if args.network.enable_datacenter_firewall:
            # Also filters the PVE hosts themselves; input stays ACCEPT at datacenter level so the PVE UI/API
            # keep working: the VMs get their own DROP policy.
            proxmoxve.cluster.FirewallLegacy(
                f"{name}-datacenter", enabled=True, input_policy="ACCEPT", output_policy="ACCEPT", opts=child
            )
        self.name = self.group.name
        self.register_outputs({"name": self.name})
