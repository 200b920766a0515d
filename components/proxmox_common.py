"""Pieces the Proxmox components share: the provider, the VM hardware every VM gets, readiness."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pulumi
import pulumi_proxmoxve as proxmoxve
from pydantic import SecretStr

from .config import NetworkConfig, ProxmoxConfig, Secrets
from .host_keys import HostKey, derive_host_key


def make_provider(name: str, pve: ProxmoxConfig, secrets: Secrets) -> proxmoxve.Provider:
    """The proxmoxve provider. SSH to the PVE node is only used to upload the cloud-init snippets."""
    assert secrets.proxmox_api_token is not None  # checked by config.check_settings
    ssh_key = secrets.proxmox_ssh_private_key
    return proxmoxve.Provider(
        name,
        endpoint=pve.endpoint,
        insecure=pve.insecure,
        api_token=pulumi.Output.secret(secrets.proxmox_api_token.get_secret_value()),
        ssh=proxmoxve.ProviderSshArgs(
            username=pve.ssh_user,
            private_key=pulumi.Output.secret(ssh_key.get_secret_value()) if ssh_key else None,
            agent=ssh_key is None,
            nodes=[
                proxmoxve.ProviderSshNodeArgs(
                    name=pve.node_name,
                    address=pve.ssh_address or pve.host,
                    # 22 is the provider's default: left unset, so that a stack made before sshPort existed sees
                    # no change of its provider
                    port=None if pve.ssh_port == 22 else pve.ssh_port,
                )
            ],
        ),
    )


def snippet_file_name(vm_name: str) -> str:
    return f"{vm_name}-user-data.yaml"


def snippet_volume(pve: ProxmoxConfig, vm_name: str) -> str:
    """The volume id of a VM's user-data snippet (the provider's id for it: DATASTORE:snippets/FILE)."""
    return f"{pve.snippet_datastore}:snippets/{snippet_file_name(vm_name)}"


def snippet(name: str, pve: ProxmoxConfig, file_name: str, data: pulumi.Input[str], opts: pulumi.ResourceOptions):
    """A cloud-init user-data snippet on the PVE node (uploaded over the provider's SSH connection). User-data that
    holds a private host key comes as a secret Output, so that the state keeps it encrypted.

    New user-data replaces the snippet (the provider cannot update one), and the new one has the old one's path and
    id: it is deleted first, since deleting the old one after the new one was uploaded would delete the file."""
    return proxmoxve.FileLegacy(
        name,
        node_name=pve.node_name,
        datastore_id=pve.snippet_datastore,
        content_type="snippets",
        source_raw=proxmoxve.FileLegacySourceRawArgs(data=data, file_name=file_name),
        file_mode=pve.snippet_file_mode,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )


def user_data_snippet(
    name: str,
    pve: ProxmoxConfig,
    vm_name: str,
    host_key_seed: SecretStr,
    render: Callable[..., str],
    opts: pulumi.ResourceOptions,
) -> tuple[proxmoxve.FileLegacy, HostKey]:
    """The VM's user-data snippet, ``render`` given the VM's derived SSH host key; secret, as it holds the private
    key. Returns the snippet and the key (whose public part the VM's remote steps pin)."""
    host_key = derive_host_key(host_key_seed.get_secret_value(), vm_name)
    data = render(host_key_private=host_key.private_openssh, host_key_public=host_key.public)
    file = snippet(f"{name}-user-data", pve, snippet_file_name(vm_name), pulumi.Output.secret(data), opts)
    return file, host_key


def initialization(
    pve: ProxmoxConfig, network: NetworkConfig, address: str, vm_name: str
) -> proxmoxve.VmLegacyInitializationArgs:
    """cloud-init drive: address (static or "dhcp"), DNS, and the VM's user-data snippet, named by its volume id (a
    value known before the snippet exists: the VM must depend on the snippet). The provider replaces a VM whose
    snippet id changes; the id stays the same when the snippet is replaced with new content, and a plan that had
    to wait for it would show every VM replaced in `pulumi preview`. cloud-init reads the user-data at a VM's first
    boot only, so new content never changes a VM made before; the template is rebuilt on purpose (template_vm.py)."""
    return proxmoxve.VmLegacyInitializationArgs(
        datastore_id=pve.disk_datastore,
        ip_configs=[ip_config(address, network)],
        dns=dns_config(network),
        user_data_file_id=snippet_volume(pve, vm_name),
    )


def ip_config(address: str, network: NetworkConfig) -> proxmoxve.VmLegacyInitializationIpConfigArgs:
    """Static address in the cluster CIDR (or "dhcp")."""
    if address == "dhcp":
        ipv4 = proxmoxve.VmLegacyInitializationIpConfigIpv4Args(address="dhcp")
    else:
        prefix = network.cidr.prefixlen
        ipv4 = proxmoxve.VmLegacyInitializationIpConfigIpv4Args(
            address=f"{ipaddress.IPv4Address(address)}/{prefix}", gateway=str(network.gateway)
        )
    return proxmoxve.VmLegacyInitializationIpConfigArgs(ipv4=ipv4)


def dns_config(network: NetworkConfig) -> proxmoxve.VmLegacyInitializationDnsArgs:
    return proxmoxve.VmLegacyInitializationDnsArgs(servers=[str(s) for s in network.dns], domain=network.search_domain)


def nic(network: NetworkConfig) -> proxmoxve.VmLegacyNetworkDeviceArgs:
    """virtio NIC on the bridge with the PVE firewall flag on (the VM's rules only apply with it)."""
    return proxmoxve.VmLegacyNetworkDeviceArgs(bridge=network.bridge, model="virtio", firewall=True)


def common_vm_args(cores: int, memory_mb: int) -> dict:
    """Hardware every VM gets: guest agent, serial console, virtio-scsi, Linux OS type."""
    return dict(
        agent=proxmoxve.VmLegacyAgentArgs(enabled=True, trim=True, timeout="15m"),
        cpu=proxmoxve.VmLegacyCpuArgs(cores=cores, type="x86-64-v2-AES"),
        memory=proxmoxve.VmLegacyMemoryArgs(dedicated=memory_mb),
        operating_system=proxmoxve.VmLegacyOperatingSystemArgs(type="l26"),
        scsi_hardware="virtio-scsi-single",
        serial_devices=[proxmoxve.VmLegacySerialDeviceArgs(device="socket")],
        vga=proxmoxve.VmLegacyVgaArgs(type="serial0"),
        stop_on_destroy=True,
    )
