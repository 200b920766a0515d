"""The ports the platform itself uses, listed once: the security group opens them (components/security_group.py),
and the config refuses them as the stack's published port (components/config.py). Pure data, no Pulumi."""

from __future__ import annotations

# (proto, PVE port spec, what it is for): PVE writes port ranges with a colon.
SWARM_PORTS: list[tuple[str, str, str]] = [
    ("tcp", "2377", "Swarm cluster management"),
    ("tcp", "7946", "Swarm node gossip"),
    ("udp", "7946", "Swarm node gossip"),
    ("udp", "4789", "Swarm overlay network (VXLAN)"),
]
# Opened between the nodes only when they run MicroCeph (a CephFS client only connects out).
MICROCEPH_PORTS: list[tuple[str, str, str]] = [
    ("tcp", "3300", "Ceph MON (msgr2)"),
    ("tcp", "6789", "Ceph MON (msgr1)"),
    ("tcp", "6800:7300", "Ceph OSD/MDS/MGR"),
    ("tcp", "7443", "MicroCeph daemon API"),
]
CLUSTER_PORTS = SWARM_PORTS + MICROCEPH_PORTS
LAN_PORTS: list[tuple[str, str, str]] = [
    ("tcp", "22", "SSH"),
]


def platform_port_use(port: int, protocol: str | None = None) -> str | None:
    """What the platform uses ``port`` (of ``protocol``, or of any) for, e.g. ``"Swarm node gossip (tcp/udp 7946)"``;
    None when it is free."""
    uses: dict[tuple[str, str], list[str]] = {}
    for proto, spec, why in LAN_PORTS + CLUSTER_PORTS:
        low, _, high = spec.partition(":")
        if int(low) <= port <= int(high or low) and protocol in (None, proto):
            uses.setdefault((why, spec.replace(":", "-")), []).append(proto)
    return "; ".join(f"{why} ({'/'.join(protos)} {span})" for (why, span), protos in uses.items()) or None
