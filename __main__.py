"""swarm-ceph: Docker Swarm + CephFS (MicroCeph on the nodes, or an existing Ceph cluster's) + an nginx stack and
further stacks, on Proxmox VE clones or on hosts you bring."""

import gc

import pulumi

from components.cephfs import CephFSMount, CephFSMountArgs, SharedPath, SharedPathArgs
from components.config import ConfigError, PublishedPort, load_settings
from components.docker_stack import (
    DockerStack,
    DockerStackArgs,
    WebPage,
    deploy_environment,
    extra_environment,
    serving_nodes,
)
from components.microceph import MicroCephCluster, MicroCephClusterArgs, MicroCephNode
from components.nodes import ExistingHost, ExistingHostArgs, NodeVM, NodeVMArgs
from components.proxmox_common import make_provider
from components.security_group import SecurityGroup, SecurityGroupArgs, group_name
from components.swarm import SwarmCluster, SwarmClusterArgs
from components.template_vm import TemplateVM, TemplateVMArgs

# The evaluation allocates many short-lived objects (Outputs, futures and tasks for every input): with CPython's
# default thresholds the cyclic collector runs hundreds of times over the heap of the imported SDKs, about 0.3 s of
# a 30-node evaluation (bench/graph.py). Collect rarely: the process lives for one run of the program.
gc.set_threshold(100_000, 50, 100)

try:
    settings = load_settings()
except ConfigError as exc:
    raise pulumi.RunError(str(exc)) from None

private_key = pulumi.Output.secret(settings.secrets.ssh_private_key.get_secret_value())
stack_name = pulumi.get_stack()
on_proxmox = settings.infrastructure == "proxmox"  # then a PVE security group guards the nodes' ports

# 1. The hosts.
if on_proxmox:
    pve = settings.proxmox
    provider = make_provider("proxmox", pve, settings.secrets)
    on_pve = pulumi.ResourceOptions(providers=[provider])
    group = SecurityGroup(
        "security-group",
        SecurityGroupArgs(
            name=group_name(stack_name),
            network=settings.network,
            published_port=settings.stack.published_port,
            microceph=settings.storage.type == "microceph",
            stack_ports={extra.name: extra.published_ports for extra in settings.stacks if extra.published_ports},
        ),
        on_pve,
    )
    template = TemplateVM(
        "template",
        TemplateVMArgs(
            proxmox=pve,
            image=settings.image,
            template=settings.template,
            network=settings.network,
            ssh=settings.ssh,
            storage=settings.storage,
            private_key=private_key,
            api_token=pulumi.Output.secret(settings.secrets.proxmox_api_token.get_secret_value()),
            host_key_seed=settings.secrets.host_key_seed,
        ),
        on_pve,
    )
    nodes = [
        NodeVM(
            n.name,
            NodeVMArgs(
                node=n,
                proxmox=pve,
                network=settings.network,
                ssh=settings.ssh,
                private_key=private_key,
                template_vm_id=template.vm_id,
                template_ready=template.ready,
                security_group=group.name,
                host_key_seed=settings.secrets.host_key_seed,
            ),
            on_pve,
        ).handle
        for n in settings.nodes
    ]
else:
    nodes = [
        ExistingHost(n.name, ExistingHostArgs(node=n, ssh=settings.ssh, private_key=private_key)).handle
        for n in settings.nodes
    ]

# 2. The platform: one code path whatever made the hosts.
swarm = SwarmCluster("swarm", SwarmClusterArgs(nodes=nodes))
leader = swarm.leader

if settings.storage.type == "microceph":
    by_name = {n.name: n for n in settings.nodes}
    ordered = [leader, *(n for n in nodes if n is not leader)]  # bootstrap on the leader
    ceph = MicroCephCluster(
        "microceph",
        MicroCephClusterArgs(
            nodes=[MicroCephNode(handle=n, disk=settings.ceph_disk(by_name[n.name])) for n in ordered],
            storage=settings.storage,
        ),
    )
    storage = CephFSMount(
        "cephfs",
        CephFSMountArgs(
            nodes=nodes,
            storage=settings.storage,
            monitors=ceph.monitors,
            client_key=ceph.client_key,
            after=[ceph.filesystem],
        ),
    )
elif settings.storage.type == "cephfs":  # an existing cluster's CephFS (e.g. Proxmox's pveceph)
    storage = CephFSMount(
        "cephfs",
        CephFSMountArgs(
            nodes=nodes,
            storage=settings.storage,
            monitors=settings.storage.monitors,
            client_key=pulumi.Output.secret(settings.secrets.ceph_client_key.get_secret_value().strip()),
            after=[],
        ),
    )
else:
    storage = SharedPath("shared-path", SharedPathArgs(nodes=nodes, path=settings.storage.shared_root))

page = settings.stack.page_path.read_text()
after = [*swarm.ready, *storage.io_checks.values()]
app = DockerStack(
    "stack",
    DockerStackArgs(
        stack=settings.stack,
        leader=leader,
        shared_root=storage.root,
        compose_path=settings.stack.compose_path,
        environment=deploy_environment(settings.stack, storage.root),
        after=after,
        web=WebPage(page=page, nodes=serving_nodes(nodes), published_port=settings.stack.published_port),
        firewall_ports=[PublishedPort(port=settings.stack.published_port)] if on_proxmox else None,
    ),
)
# Further stacks (swarm-ceph:stacks): the same deploy step, each with its directory on the shared storage.
extra_stacks = [
    DockerStack(
        f"stack-{extra.name}",
        DockerStackArgs(
            stack=extra,
            leader=leader,
            shared_root=storage.root,
            compose_path=extra.compose_path,
            environment=extra_environment(extra, storage.root),
            after=after,
            firewall_ports=extra.published_ports if on_proxmox else None,
        ),
    )
    for extra in settings.stacks
]

pulumi.export("nodes", {n.name: n.ip for n in nodes if n.present})
pulumi.export("managerAddress", swarm.manager_address)
pulumi.export("pageUrls", app.urls)
pulumi.export("sharedPath", storage.root)
if settings.storage.type in ("microceph", "cephfs"):
    pulumi.export("cephFilesystem", settings.storage.fs_name)
