"""TemplateVM: the Debian 12 cloud image, booted once to install Docker and MicroCeph, sealed, made a template."""

from __future__ import annotations

import functools

import pulumi
import pulumi_command as command
import pulumi_proxmoxve as proxmoxve
from pydantic import BaseModel, ConfigDict, SecretStr

from cloudinit import template_commands, template_user_data

from .config import ImageConfig, NetworkConfig, ProxmoxConfig, SshConfig, StorageConfig, TemplateConfig
from .proxmox_common import common_vm_args, initialization, nic, user_data_snippet
from .remote import NodeHandle, run_script
from .scripts import script_command

SEAL_TIMEOUT_S = 1800
# The image's type before download.File: the provider's former name for the same resource (same inputs and state).
LEGACY_IMAGE_TYPE = "proxmoxve:download/fileLegacy:FileLegacy"


class TemplateVMArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    proxmox: ProxmoxConfig
    image: ImageConfig
    template: TemplateConfig
    network: NetworkConfig
    ssh: SshConfig
    storage: StorageConfig  # what the template installs for it (MicroCeph, a CephFS client, or neither)
    private_key: object  # pulumi.Output[str], secret
    api_token: object  # pulumi.Output[str], secret
    host_key_seed: SecretStr  # the build VM's SSH host key derives from it (host_keys.py)


class TemplateVM(pulumi.ComponentResource):
    """Image download -> cloud-config snippet -> VM from the imported disk -> first boot (cloud-init installs
    everything) -> seal and power off -> convert to a template; clones must depend on ``ready``."""

    def __init__(self, name: str, args: TemplateVMArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:TemplateVM", name, None, opts)
        pve, t = args.proxmox, args.template
        child = pulumi.ResourceOptions(parent=self)

        # A stack made with download.FileLegacy keeps its image: the alias matches the old state to this resource,
        # whose provider then finds nothing to change. (Without it, the new resource would download the same file
        # while the old one still owns it, and deleting the old one would delete the file.)
        self.image = proxmoxve.download.File(
            f"{name}-image",
            node_name=pve.node_name,
            datastore_id=pve.image_datastore,
            content_type=args.image.import_method,
            url=args.image.url,
            file_name=args.image.volume_file_name,
            checksum=args.image.checksum,
            checksum_algorithm=args.image.checksum_algorithm,
            upload_timeout=1800,
            # A new image keeps its file name, so its volume id: the old one is deleted first (the provider refuses
            # to download over a file it does not manage, and deleting the old one afterwards would delete it).
            opts=pulumi.ResourceOptions(
                parent=self, aliases=[pulumi.Alias(type_=LEGACY_IMAGE_TYPE)], delete_before_replace=True
            ),
        )
        self.user_data, host_key = user_data_snippet(
            name,
            pve,
            t.name,
            args.host_key_seed,
            functools.partial(
                template_user_data,
                hostname=t.name,
                user=args.ssh.user,
                public_keys=args.ssh.public_keys,
                storage=args.storage.type,
                ceph_client=args.storage.client,
                microceph_channel=args.storage.microceph_channel,
            ),
            child,
        )
        self.vm = proxmoxve.VmLegacy(
            name,
            node_name=pve.node_name,
            vm_id=t.vm_id,
            name=t.name,
            description="swarm-ceph template: Debian 12 + Docker + MicroCeph (managed by Pulumi)",
            tags=["swarm-ceph", "template"],
            disks=[
                proxmoxve.VmLegacyDiskArgs(
                    interface="scsi0",
                    datastore_id=pve.disk_datastore,
                    **_disk_source(args.image, self.image.id),
                    size=t.disk_size_gb,
                    discard="on",
                    iothread=True,
                    ssd=True,
                )
            ],
            boot_orders=["scsi0"],
            network_devices=[nic(args.network)],
            initialization=initialization(pve, args.network, t.build_ip, t.name),
            started=True,
            on_boot=False,
            **common_vm_args(t.cores, t.memory_mb),
            # The seal step powers the VM off and the convert step makes it a template: both are intended, so a
            # refresh must not turn them into a diff. New user-data (e.g. storage.microcephChannel) or a new image
            # makes a new template: the VM is replaced (then sealed and converted again), deleted first as its VM
            # id stays the same. Full clones do not need their template: the nodes keep theirs.
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["started", "template"],
                depends_on=[self.user_data],
                replace_with=[self.user_data, self.image],
                delete_before_replace=True,
            ),
        )

        if t.build_ip == "dhcp":
            build_ip = self.vm.ipv4_addresses.apply(_first_global_ipv4)
        else:
            build_ip = t.build_ip
        host = NodeHandle(
            name=t.name,
            ip=build_ip,
            role="worker",
            labels={},
            ssh_user=args.ssh.user,
            ssh_port=22,
            private_key=args.private_key,
            dial_error_limit=args.ssh.dial_error_limit,
            per_dial_timeout=args.ssh.per_dial_timeout,
            host_key=host_key.public,
        )
        # Sealed once per VM: a later program's seal (other checks, other text) must not try to reach the sealed,
        # stopped template; a new template VM is sealed again.
        self.seal = run_script(
            f"{name}-seal",
            host,
            "template-seal.sh",
            seal_args(args.storage),
            parent=self,
            depends_on=[self.vm],
            once_per=self.vm,
        )
        self.convert = command.local.Command(
            f"{name}-convert",
            create=script_command(
                "template-convert.sh", pve.endpoint, pve.node_name, t.vm_id, str(pve.insecure).lower(), 600
            ),
            stdin=args.api_token,
            logging=command.local.Logging.NONE,
            add_previous_output_in_env=False,
            # a new template VM (sealed again) is converted again
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.seal], replace_with=[self.seal]),
        )
        self.vm_id = t.vm_id
        # Clones depend on this: the template exists only once the conversion has run.
        self.ready = self.convert
        self.register_outputs({"vm_id": self.vm_id})


def _disk_source(image: ImageConfig, volume: pulumi.Output[str]) -> dict[str, pulumi.Output[str]]:
    """The template disk's source: import-from an `import` volume (PVE 8.4+), or an `iso` volume the provider imports
    over SSH (`qm disk import`: older PVE)."""
    return {"import_from": volume} if image.import_method == "import" else {"file_id": volume}


def seal_args(storage: StorageConfig) -> list[object]:
    """template-seal.sh's arguments: how long to wait for cloud-init, the snap that must be installed and held ("-"
    for none: only MicroCeph is a snap) and the commands the template's packages must have brought."""
    held_snap = "microceph" if storage.type == "microceph" else "-"
    return [SEAL_TIMEOUT_S, held_snap, *template_commands(storage.type, storage.client)]


def _first_global_ipv4(per_nic: list[list[str]] | None) -> str:
    for addresses in per_nic or []:
        for address in addresses:
            if not address.startswith("127."):
                return address
    raise ValueError("the QEMU guest agent reported no IPv4 address for the template VM (template.buildIp: dhcp)")
