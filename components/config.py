"""Typed stack configuration.

Everything the program needs is read from the stack's config (namespace ``swarm-ceph``), parsed into pydantic
models and cross-checked *before* any resource is created.  Every problem is reported with the config key it comes
from and how to fix it; all problems are reported at once.

The loader is a plain function over a ``{key: raw value}`` mapping so it can be tested without Pulumi.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from cloudinit import DEFAULT_MICROCEPH_CHANNEL

from .compose import check_config_files
from .ports import platform_port_use

NAMESPACE = "swarm-ceph"
# The Pulumi project's directory: relative paths in the config (stack.composeFile, stack.pageFile) start here.
PROJECT_DIR = Path(__file__).resolve().parent.parent
MAX_MANAGERS = 7
MIN_CEPH_NODES = 3
MIN_SEED_CHARS = 32
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
API_TOKEN = re.compile(r"^[^@\s]+@[^!\s]+![^=\s]+=[0-9a-fA-F-]{36}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# A Ceph secret as `ceph auth get-key` prints it: the base64 of Ceph's encoded CryptoKey, 28 bytes (u16 type, 1 for
# AES; 8 bytes of creation time; u16 length, 16; the 16 bytes of the key), so 40 characters starting with "AQ".
CEPH_KEY_BYTES = 28
# The variable every extra stack gets (its directory on the shared storage): not settable in stacks[].environment.
DATA_DIR_VAR = "DATA_DIR"

# Keys that hold secrets: they are not part of the models below and must be set with `--secret`.
SECRET_KEYS = {
    "proxmoxApiToken": "pulumi config set --secret swarm-ceph:proxmoxApiToken 'root@pam!pulumi=<uuid>'",
    "sshPrivateKey": "pulumi config set --secret swarm-ceph:sshPrivateKey < ~/.ssh/id_ed25519",
    "proxmoxSshPrivateKey": "pulumi config set --secret swarm-ceph:proxmoxSshPrivateKey < ~/.ssh/id_pve",
    "hostKeySeed": 'pulumi config set --secret swarm-ceph:hostKeySeed "$(openssl rand -hex 32)"',
    "cephClientKey": (
        'pulumi config set --secret swarm-ceph:cephClientKey "$(ssh root@<pve-host> ceph auth get-key client.swarm)"'
    ),
}


class ConfigError(Exception):
    """Invalid configuration; ``problems`` holds one line per problem, each naming its key and the fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid swarm-ceph configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


Port = int


class ProxmoxConfig(Model):
    endpoint: str = Field(pattern=r"^https://[^/\s]+(:\d+)?/?$")
    node_name: str
    insecure: bool = False
    ssh_user: str = "root"
    ssh_address: str | None = None  # address of the PVE node for snippet uploads; defaults to the endpoint's host
    ssh_port: int = Field(default=22, ge=1, le=65535)  # its sshd's port (a jump port, a non-22 sshd)
    disk_datastore: str = "local-lvm"
    snippet_datastore: str = "local"
    # The snippets hold the VMs' private SSH host keys. The provider sets a mode only for a root@pam login.
    snippet_file_mode: str | None = Field(default=None, pattern=r"^0?[0-7]{3}$")
    image_datastore: str = "local"

    @property
    def host(self) -> str:
        return self.endpoint.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]


# The file name suffix PVE accepts for each image import method (import: a disk image; iso: .iso or .img only).
IMAGE_SUFFIX = {"import": "qcow2", "iso": "img"}


class ImageConfig(Model):
    url: str = Field(pattern=r"^https?://\S+$")
    checksum: str = Field(pattern=r"^[0-9a-f]{32,128}$")
    checksum_algorithm: Literal["md5", "sha1", "sha224", "sha256", "sha384", "sha512"] = "sha512"
    # How PVE takes the image. import (PVE 8.4 and later): downloaded as an `import` volume (.qcow2), the template's
    # disk made from it with import-from. iso (PVE 8.0 to 8.3, whose download API refuses disk images as `import`):
    # downloaded as an `iso` volume named .img, the disk imported by the provider over SSH (`qm disk import`).
    import_method: Literal["import", "iso"] = "import"
    file_name: str | None = Field(default=None, pattern=r"^[\w.-]+\.(qcow2|img)$")

    @property
    def volume_file_name(self) -> str:
        """The image's file name on the datastore: file_name, or the genericcloud image's with the method's suffix."""
        return self.file_name or f"debian-12-genericcloud-amd64.{IMAGE_SUFFIX[self.import_method]}"


class TemplateConfig(Model):
    vm_id: int = Field(default=9000, ge=100, le=999_999_999)
    name: str = "debian12-swarm-template"
    disk_size_gb: int = Field(default=20, ge=4)
    cores: int = Field(default=2, ge=1)
    memory_mb: int = Field(default=2048, ge=512)
    # Address used while the template boots once to install Docker/MicroCeph: an IP in network.cidr, or "dhcp"
    # (then the address comes from the QEMU guest agent).
    build_ip: str = "dhcp"


class NetworkConfig(Model):
    bridge: str = "vmbr0"
    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.10.1.0/24")
    gateway: ipaddress.IPv4Address = ipaddress.IPv4Address("10.10.1.1")
    dns: list[ipaddress.IPv4Address] = Field(default_factory=lambda: [ipaddress.IPv4Address("1.1.1.1")])
    search_domain: str | None = None
    lan_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("192.168.0.0/24")
    # The guide's alternative to the port list: accept everything from the cluster CIDR.
    allow_intra_cluster: bool = False
    # Turning on the datacenter firewall also filters the PVE hosts themselves: opt-in only.
    enable_datacenter_firewall: bool = False


class NodeConfig(Model):
    name: str
    ip: ipaddress.IPv4Address
    role: Literal["manager", "worker"] = "worker"
    vm_id: int | None = Field(default=None, ge=100, le=999_999_999)
    labels: dict[str, str] = Field(default_factory=dict)
    ceph_disk_gb: int = Field(default=50, ge=10)
    # Device given to `microceph disk add`; defaults to the second SCSI disk of the Proxmox VM.
    ceph_disk: str | None = None
    cores: int = Field(default=2, ge=1)
    memory_mb: int = Field(default=4096, ge=1024)
    ssh_port: Port = Field(default=22, ge=1, le=65535)
    # infrastructure: hosts only: the host's SSH public key ("ssh-ed25519 AAAA..."), verified on every connection.
    # Without it, remote steps accept any host key (pulumi-command's default).
    host_key: str | None = Field(default=None, pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+$")
    # The node's Swarm availability (`docker node update --availability`): drain it before maintenance (its tasks
    # move elsewhere, the web stack's page is not checked or listed on it; it stays in the Swarm with its mount),
    # pause it to keep its running tasks but schedule no new ones (a node paused before its first deploy gets no
    # web task, so its page check would fail: deploy with it active first).
    availability: Literal["active", "pause", "drain"] = "active"
    # lost: the node is gone for good (its VM or its disk died). `pulumi up` removes it from the Swarm and never
    # connects to it again; its steps' records stay (never run again) until the node is removed from nodes, which
    # then drops them without connecting either. See README, "Day 2".
    state: Literal["present", "lost"] = "present"


class SshConfig(Model):
    user: str = Field(default="debian", pattern=r"^[a-z_][a-z0-9_-]*$")
    public_keys: list[str] = Field(default_factory=list)
    # Bounded waits for SSH while hosts boot.
    dial_error_limit: int = Field(default=60, ge=1)
    per_dial_timeout: int = Field(default=10, ge=1)


# microceph: the options the program sets in Ceph's central configuration, by step name: (StorageConfig field, who,
# Ceph option). Each is a guarded step (ceph-config.sh) on the bootstrap node once the cluster is healthy.
CEPH_TUNING = {
    "mds-grace": ("mds_beacon_mon_down_grace_s", "mon", "mds_beacon_mon_down_grace"),
    "mds-reconnect": ("mds_reconnect_timeout_s", "mds", "mds_reconnect_timeout"),
}


class StorageConfig(Model):
    # microceph: a MicroCeph cluster on the nodes, its CephFS mounted on every node. cephfs: the CephFS of a Ceph
    # cluster that already exists (e.g. Proxmox's pveceph), mounted on every node. existing: a directory already
    # shared by every node.
    type: Literal["microceph", "cephfs", "existing"] = "microceph"
    # microceph, cephfs: where CephFS is mounted on every node.  existing: a directory already shared by every node.
    mount_point: str = Field(default="/mnt/cephfs", pattern=r"^/[\w./-]*$")
    path: str | None = Field(default=None, pattern=r"^/[\w./-]*$")
    fs_name: str = Field(default="cephfs", pattern=r"^[A-Za-z0-9_.-]+$")
    data_pool: str = Field(default="cephfs_data", pattern=r"^[A-Za-z0-9_.-]+$")
    metadata_pool: str = Field(default="cephfs_metadata", pattern=r"^[A-Za-z0-9_.-]+$")
    health_timeout_s: int = Field(default=600, ge=30)
    # microceph: the health warnings the health step accepts (Ceph's check codes); any other warning or an error is
    # waited out. A fresh cluster on small disks warns MON_DISK_LOW (under 30% free; MON_DISK_CRIT is not accepted),
    # and a Ceph build whose ceph-mgr cannot load some Python modules (Debian 13's) MGR_MODULE_DEPENDENCY, for good.
    health_accept: list[Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]] = Field(
        default_factory=lambda: ["MON_DISK_LOW", "MGR_MODULE_DEPENDENCY"]
    )
    # cephfs: the existing cluster's monitors (IPv4, IPv4:port, [IPv6], [IPv6]:port); checked in check_settings.
    monitors: list[str] = Field(default_factory=list)
    # The CephFS client the mounts use (microceph and cephfs): the kernel's, or ceph-fuse.
    client: Literal["kernel", "fuse"] = "kernel"
    # The Ceph client id the mounts authenticate as, without "client." (microceph: authorized by the program;
    # cephfs: its key is swarm-ceph:cephClientKey).
    client_name: str = Field(default="swarm", pattern=r"^[A-Za-z0-9_.-]+$")
    # microceph on Proxmox: the snap channel the template installs MicroCeph from (TRACK/RISK[/BRANCH]), held there.
    microceph_channel: str = Field(
        default=DEFAULT_MICROCEPH_CHANNEL, pattern=r"^[a-z0-9][a-z0-9.-]*/(stable|candidate|beta|edge)(/[a-z0-9.-]+)?$"
    )
    # microceph: how long the MONs let an MDS stay silent, while a MON is down or their quorum is new, before a standby
    # replaces it (Ceph's mds_beacon_mon_down_grace, default 60 s). Every node runs a MON, so the node of the active
    # MDS takes a MON with it: at 60 s this wait is most of the CephFS stall of its power loss (see the README).
    mds_beacon_mon_down_grace_s: int = Field(default=10, ge=5, le=600)
    # microceph: how long a new active MDS waits for the clients of the one it replaces to reconnect (Ceph's
    # mds_reconnect_timeout, default 45 s). Every node mounts CephFS, so the active MDS's node takes a client with it,
    # whose reconnect never comes: the whole wait is stall. A live client slower than this is evicted.
    mds_reconnect_timeout_s: int = Field(default=15, ge=5, le=300)

    def ceph_tuning(self) -> dict[str, tuple[str, str, int]]:
        """microceph: the options the program sets in Ceph's central configuration, by step name: (who, option,
        value). storage.mdsBeaconMonDownGraceS and mdsReconnectTimeoutS, for a shorter MDS failover."""
        return {step: (who, option, getattr(self, field)) for step, (field, who, option) in CEPH_TUNING.items()}

    @property
    def shared_root(self) -> str:
        return self.path if self.type == "existing" and self.path else self.mount_point


class StackConfig(Model):
    name: str = Field(default="mystack", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    compose_file: str = "stacks/nginx/docker-compose.yml"
    page_file: str = "stacks/nginx/html/index.html"
    image: str = "nginx:1.27"
    published_port: Port = Field(default=8080, ge=1, le=65535)
    resolve_image: Literal["always", "changed", "never"] = "always"
    deploy_timeout_s: int = Field(default=300, ge=10)

    @property
    def compose_path(self) -> Path:
        return PROJECT_DIR / self.compose_file  # an absolute compose_file stays as it is

    @property
    def page_path(self) -> Path:
        return PROJECT_DIR / self.page_file


class PublishedPort(Model):
    """A port a stack publishes on the nodes, opened to the LAN in the PVE security group."""

    port: Port = Field(ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}"


PUBLISHED_PORT = re.compile(r"^(\d+)(?:/(tcp|udp))?$")


class ExtraStackConfig(Model):
    """A further stack (swarm-ceph:stacks[]), e.g. a stateful service: deployed like the web stack, with
    DATA_DIR=<shared root>/<name> (its data on the shared storage, kept when the stack is destroyed) and its
    ``environment`` for the compose file's interpolation (plain values, visible on the manager: no secrets).
    ``published_ports`` are opened to the LAN in the PVE security group, as the web stack's port is."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    compose_file: str
    environment: dict[str, str] = Field(default_factory=dict)
    published_ports: list[PublishedPort] = Field(default_factory=list)
    resolve_image: Literal["always", "changed", "never"] = "always"
    deploy_timeout_s: int = Field(default=300, ge=10)

    @field_validator("published_ports", mode="before")
    @classmethod
    def _port_shorthand(cls, value: Any) -> Any:
        """9000 or "9000" is tcp 9000, "5353/udp" udp 5353; {port, protocol} is taken as it is."""
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            if isinstance(item, int) and not isinstance(item, bool):
                item = {"port": item}
            elif isinstance(item, str):
                m = PUBLISHED_PORT.match(item)
                if not m:
                    raise ValueError(f"{item!r} is not a port: write 9000, '9000/tcp' or '5353/udp'")
                item = {"port": int(m[1]), "protocol": m[2] or "tcp"}
            out.append(item)
        return out

    @property
    def compose_path(self) -> Path:
        return PROJECT_DIR / self.compose_file


class Secrets(Model):
    proxmox_api_token: SecretStr | None = None
    ssh_private_key: SecretStr | None = None
    proxmox_ssh_private_key: SecretStr | None = None
    host_key_seed: SecretStr | None = None  # the VMs' SSH host keys derive from it (components/host_keys.py)
    ceph_client_key: SecretStr | None = None  # storage.type cephfs: the key of client.<storage.clientName>


class StackSettings(Model):
    infrastructure: Literal["proxmox", "hosts"] = "proxmox"
    proxmox: ProxmoxConfig | None = None
    image: ImageConfig | None = None
    template: TemplateConfig = TemplateConfig()
    network: NetworkConfig = NetworkConfig()
    nodes: list[NodeConfig]
    ssh: SshConfig = SshConfig()
    storage: StorageConfig = StorageConfig()
    stack: StackConfig = StackConfig()
    stacks: list[ExtraStackConfig] = Field(default_factory=list)
    secrets: Secrets = Secrets()

    @property
    def managers(self) -> list[NodeConfig]:
        return [n for n in self.nodes if n.role == "manager"]

    @property
    def leader(self) -> NodeConfig:
        """The first manager that is not lost: it runs the manager-side steps (and bootstraps MicroCeph)."""
        return next(n for n in self.managers if n.state == "present")

    def ceph_disk(self, node: NodeConfig) -> str:
        return node.ceph_disk or "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi1"


@dataclass(frozen=True)
class RawValue:
    value: Any
    secret: bool


def _decode(value: Any) -> Any:
    """Pulumi hands structured config over as JSON text; scalars stay strings (pydantic coerces them)."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key(loc: tuple) -> str:
    out = NAMESPACE + ":"
    first = True
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("" if first else ".") + str(part)
        first = False
    return out


_SECTION_FIXES = {
    "nodes": "list every node as {name, ip, role, vmId} under swarm-ceph:nodes",
    "proxmox": "set swarm-ceph:proxmox.endpoint and .nodeName (or infrastructure: hosts)",
    "image": "set swarm-ceph:image.url and .checksum (the Debian 12 genericcloud qcow2 and its SHA512)",
}


def parse_settings(raw: Mapping[str, RawValue]) -> StackSettings:
    """Parse and cross-check the config of one stack.  ``raw`` maps keys without namespace to values."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    fields = {f.alias or n for n, f in StackSettings.model_fields.items()} - {"secrets"}
    for key, item in raw.items():
        if key in SECRET_KEYS:
            if not item.secret:
                problems.append(
                    f"{NAMESPACE}:{key} is stored in clear text. Fix: `pulumi config rm {NAMESPACE}:{key}` "
                    f"then `{SECRET_KEYS[key]}`"
                )
            secrets[key] = item.value
        elif key in fields:
            data[key] = _decode(item.value)
        else:
            close = [f for f in sorted(fields | set(SECRET_KEYS)) if f.lower() == key.lower()]
            hint = f" (did you mean {NAMESPACE}:{close[0]}?)" if close else ""
            problems.append(
                f"{NAMESPACE}:{key} is not a known setting{hint}. Fix: remove it with "
                f"`pulumi config rm {NAMESPACE}:{key}`; known: {', '.join(sorted(fields))}"
            )
    data["secrets"] = secrets
    try:
        settings = StackSettings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = _key(loc)
            if err["type"] == "missing":
                fix = _SECTION_FIXES.get(str(loc[0]), "set it with `pulumi config set`")
                problems.append(f"{key} is required. Fix: {fix}")
            elif err["type"] == "extra_forbidden":
                problems.append(f"{key} is not a known setting (typo?). Fix: remove or rename it")
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r}). Fix: correct the value")
        raise ConfigError(problems) from None
    problems += check_settings(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def check_settings(s: StackSettings) -> list[str]:
    """Cross-field checks the per-field models cannot express.  Returns one line per problem."""
    p: list[str] = []
    net = s.network
    ns = NAMESPACE

    if s.infrastructure == "proxmox":
        if s.proxmox is None:
            p.append(f"{ns}:proxmox is required with infrastructure: proxmox. Fix: {_SECTION_FIXES['proxmox']}")
        if s.image is None:
            p.append(f"{ns}:image is required with infrastructure: proxmox. Fix: {_SECTION_FIXES['image']}")
        elif s.image.file_name and not s.image.file_name.endswith("." + IMAGE_SUFFIX[s.image.import_method]):
            suffix = IMAGE_SUFFIX[s.image.import_method]
            p.append(
                f"{ns}:image.fileName {s.image.file_name} does not end in .{suffix}, which PVE needs with "
                f"image.importMethod: {s.image.import_method}. Fix: name it *.{suffix}, or leave fileName out"
            )
        if s.ssh.user == "root":
            p.append(
                f"{ns}:ssh.user is root: cloud-init keeps root locked on the VMs. Fix: use a sudo user, e.g. debian"
            )
        if not s.ssh.public_keys:
            p.append(
                f"{ns}:ssh.publicKeys is empty: the VMs would have no way in. Fix: "
                f"`pulumi config set --path '{ns}:ssh.publicKeys[0]' \"$(cat ~/.ssh/id_ed25519.pub)\"`"
            )
        token = s.secrets.proxmox_api_token
        if token is None:
            p.append(f"{ns}:proxmoxApiToken is missing. Fix: `{SECRET_KEYS['proxmoxApiToken']}`")
        elif not API_TOKEN.match(token.get_secret_value()):
            p.append(
                f"{ns}:proxmoxApiToken is not of the form user@realm!tokenid=uuid. Fix: "
                f"`{SECRET_KEYS['proxmoxApiToken']}`"
            )
        seed = s.secrets.host_key_seed
        if seed is None:
            p.append(
                f"{ns}:hostKeySeed is missing (the VMs' SSH host keys derive from it, so that every remote step can "
                f"check whom it talks to). Fix: `{SECRET_KEYS['hostKeySeed']}`"
            )
        elif len(seed.get_secret_value()) < MIN_SEED_CHARS:
            p.append(
                f"{ns}:hostKeySeed is shorter than {MIN_SEED_CHARS} characters. Fix: `{SECRET_KEYS['hostKeySeed']}`"
            )
        if net.gateway not in net.cidr:
            p.append(
                f"{ns}:network.gateway {net.gateway} is outside network.cidr {net.cidr}. "
                f"Fix: use an address in {net.cidr}"
            )
        if s.template.build_ip != "dhcp":
            try:
                build_ip = ipaddress.IPv4Address(s.template.build_ip)
            except ValueError:
                p.append(
                    f"{ns}:template.buildIp {s.template.build_ip!r} is neither an IPv4 address nor 'dhcp'. "
                    "Fix: correct it"
                )
            else:
                p += _check_ip(f"{ns}:template.buildIp", build_ip, net)
                if build_ip in {n.ip for n in s.nodes}:
                    p.append(f"{ns}:template.buildIp {build_ip} is also a node's IP. Fix: pick a free address")
    elif s.storage.type == "microceph" and any(n.ceph_disk is None for n in s.nodes):
        missing = [i for i, n in enumerate(s.nodes) if n.ceph_disk is None]
        p.append(
            f"{ns}:nodes[{missing[0]}].cephDisk is required with infrastructure: hosts and storage microceph "
            f"(the disk MicroCeph will wipe). Fix: set cephDisk on every node, e.g. /dev/sdb"
        )

    if s.secrets.ssh_private_key is None:
        p.append(f"{ns}:sshPrivateKey is missing (remote steps log in with it). Fix: `{SECRET_KEYS['sshPrivateKey']}`")

    p += _check_stack(s.stack)
    p += _check_extra_stacks(s)
    p += _check_storage(s)

    if not s.nodes:
        p.append(f"{ns}:nodes is empty. Fix: {_SECTION_FIXES['nodes']}")
        return p

    for field in ("name", "ip", "vm_id"):
        counts = Counter(getattr(n, field) for n in s.nodes if getattr(n, field) is not None)
        for value, count in counts.items():
            if count > 1:
                idx = [i for i, n in enumerate(s.nodes) if getattr(n, field) == value]
                p.append(
                    f"{ns}:nodes[{idx[1]}].{to_camel(field)} {value} is used by {count} nodes "
                    f"(nodes {idx}). Fix: give every node its own {to_camel(field)}"
                )

    for i, n in enumerate(s.nodes):
        key = f"{ns}:nodes[{i}]"
        if not DNS_LABEL.match(n.name):
            p.append(
                f"{key}.name {n.name!r} is not a valid hostname (DNS label: a-z, 0-9, '-', at most 63, "
                f"no leading/trailing '-'). Fix: rename it, e.g. swarm-worker1"
            )
        p += _check_ip(f"{key}.ip", n.ip, net)
        if s.infrastructure == "proxmox":
            if n.vm_id is None:
                p.append(f"{key}.vmId is required with infrastructure: proxmox. Fix: set a free VM id, e.g. {110 + i}")
            elif n.vm_id == s.template.vm_id:
                p.append(f"{key}.vmId {n.vm_id} collides with template.vmId. Fix: use another VM id")
            if n.host_key:
                p.append(
                    f"{key}.hostKey is only for infrastructure: hosts (each clone makes its own host keys). "
                    "Fix: remove it"
                )
        for label in n.labels:
            if not LABEL_KEY.match(label):
                p.append(
                    f"{key}.labels key {label!r} is not a valid Docker node label. "
                    "Fix: use letters, digits, '.', '-', '_'"
                )

    if all(n.availability != "active" or n.state == "lost" for n in s.nodes):
        p.append(
            f"{ns}:nodes[].availability is drain or pause on every node that is not lost: Swarm could start no task "
            "of the stacks. "
            "Fix: leave availability at active (the default) on at least one node"
        )

    for i, n in enumerate(s.nodes):  # (a published port the platform uses is refused once, in _check_stack)
        if n.ssh_port == s.stack.published_port and not platform_port_use(n.ssh_port):
            p.append(
                f"{ns}:nodes[{i}].sshPort {n.ssh_port} is also stack.publishedPort: the page's port on every node "
                "would be the one this node's sshd listens on. Fix: publish the page on another port, or give the "
                "node's sshd another port"
            )

    managers = len(s.managers)
    lost = [i for i, n in enumerate(s.nodes) if n.state == "lost"]
    lost_managers = [i for i in lost if s.nodes[i].role == "manager"]
    if managers == 0:
        p.append(f"{ns}:nodes has no manager. Fix: set role: manager on 1, 3, 5 or 7 nodes")
    elif managers % 2 == 0 or managers > MAX_MANAGERS:
        replace = (
            f" (a lost manager still counts: remove nodes[{lost_managers[0]}] in the same change that adds its "
            "replacement)"
            if lost_managers
            else ""
        )
        p.append(
            f"{ns}:nodes has {managers} managers: Raft needs an odd number, at most {MAX_MANAGERS}, to keep a "
            f"quorum{replace}. Fix: set role: manager on 1, 3, 5 or 7 nodes"
        )
    if managers and s.managers[0].state == "lost" and s.storage.type == "microceph":
        first = s.nodes.index(s.managers[0])
        p.append(
            f"{ns}:nodes[{first}].state is lost on the first manager ({s.managers[0].name}), which bootstrapped "
            "MicroCeph and runs its add steps; with storage.type microceph, losing it for good is not supported yet "
            "(the other managers keep the Swarm running). Fix: keep it present and bring it back, see README, Day 2"
        )
    if lost_managers and 2 * (managers - len(lost_managers)) <= managers:
        p.append(
            f"{ns}:nodes: {len(lost_managers)} of {managers} managers are lost: Raft has no quorum left and the Swarm "
            "cannot remove them. Fix: on a surviving manager, `docker swarm init --force-new-cluster`, then remove "
            "the lost nodes from nodes"
        )
    if s.storage.type == "microceph" and len(s.nodes) < MIN_CEPH_NODES:
        p.append(
            f"{ns}:nodes has {len(s.nodes)} nodes; MicroCeph needs at least {MIN_CEPH_NODES} for 3x replication. "
            "Fix: add nodes, or use storage.type: cephfs (an existing Ceph cluster) or existing"
        )
    if s.storage.type == "existing" and not s.storage.path:
        p.append(
            f"{ns}:storage.path is required with storage.type: existing. "
            "Fix: set it to the directory shared by every node"
        )
    if "microceph_channel" in s.storage.model_fields_set and (
        s.storage.type != "microceph" or s.infrastructure != "proxmox"
    ):
        p.append(
            f"{ns}:storage.microcephChannel is only used with storage.type: microceph on infrastructure: proxmox (the "
            "template installs MicroCeph from it). Fix: remove it (on hosts you bring, install MicroCeph yourself)"
        )
    for field, who, option in CEPH_TUNING.values():
        if field in s.storage.model_fields_set and s.storage.type != "microceph":
            p.append(
                f"{ns}:storage.{to_camel(field)} is only used with storage.type: microceph (the program sets it in "
                f"the cluster it makes). Fix: remove it; on a Ceph cluster you run, set it there: "
                f"`ceph config set {who} {option} {getattr(s.storage, field)}`"
            )
    if s.storage.type != "existing" and s.storage.path:
        p.append(
            f"{ns}:storage.path is only used with storage.type: existing. "
            "Fix: remove it (CephFS mounts at storage.mountPoint)"
        )
    return p


def _check_storage(s: StackSettings) -> list[str]:
    """storage.type cephfs needs the existing cluster's monitors and a client key; nothing else takes them."""
    p: list[str] = []
    ns = NAMESPACE
    st, key = s.storage, s.secrets.ceph_client_key
    if st.type == "cephfs":
        if not st.monitors:
            p.append(
                f"{ns}:storage.monitors is empty: storage.type cephfs mounts an existing cluster and needs its "
                f"monitors. Fix: list them, e.g. `pulumi config set --path '{ns}:storage.monitors[0]' 10.10.1.2` "
                "(`ceph mon dump` on a Ceph host shows them)"
            )
        for i, monitor in enumerate(st.monitors):
            if not monitor_address_ok(monitor):
                p.append(
                    f"{ns}:storage.monitors[{i}] {monitor!r} is not a monitor address (IPv4, IPv4:port, [IPv6] or "
                    "[IPv6]:port, port 1-65535). Fix: use a monitor's address, e.g. 10.10.1.2 or 10.10.1.2:6789"
                )
        if key is None:
            p.append(
                f"{ns}:cephClientKey is missing (the mounts authenticate as client.{st.client_name} with it). "
                f"Fix: `{SECRET_KEYS['cephClientKey']}`"
            )
        elif not ceph_key_ok(key.get_secret_value()):
            p.append(
                f"{ns}:cephClientKey is not a Ceph secret key (the base64 of 28 bytes: 40 characters starting with "
                f"AQ, as `ceph auth get-key` prints it). Fix: `{SECRET_KEYS['cephClientKey']}`"
            )
    else:
        if st.monitors:
            p.append(
                f"{ns}:storage.monitors is only used with storage.type: cephfs (storage.type is {st.type}). "
                "Fix: remove it, or set storage.type: cephfs to mount an existing cluster's CephFS"
            )
        if key is not None:
            p.append(
                f"{ns}:cephClientKey is only used with storage.type: cephfs (storage.type is {st.type}). "
                f"Fix: `pulumi config rm {ns}:cephClientKey`"
            )
    return p


def monitor_address_ok(monitor: str) -> bool:
    """IPv4, IPv4:port, [IPv6] or [IPv6]:port, the port 1-65535."""
    if monitor.startswith("["):
        host, sep, rest = monitor[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return False
        port = rest[1:] if rest else None
        version = 6
    else:
        host, sep, port = monitor.partition(":")
        port = port if sep else None
        version = 4
    try:
        if ipaddress.ip_address(host).version != version:
            return False
    except ValueError:
        return False
    return port is None or (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535)


def ceph_key_ok(key: str) -> bool:
    """A Ceph secret as `ceph auth get-key` prints it: base64 of 28 bytes, an AES key (type 1) of 16 bytes."""
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return (
        len(raw) == CEPH_KEY_BYTES
        and int.from_bytes(raw[0:2], "little") == 1
        and int.from_bytes(raw[10:12], "little") == 16
    )


def _check_extra_stacks(s: StackSettings) -> list[str]:
    p: list[str] = []
    ns = NAMESPACE
    seen: dict[str, int] = {}
    published: dict[PublishedPort, str] = {PublishedPort(port=s.stack.published_port): "stack.publishedPort"}
    for i, extra in enumerate(s.stacks):
        key = f"{ns}:stacks[{i}]"
        if extra.name == s.stack.name:
            p.append(
                f"{key}.name {extra.name!r} is the web stack's name (stack.name). Fix: give this stack its own name"
            )
        elif extra.name in seen:
            p.append(
                f"{key}.name {extra.name!r} is also the name of stacks[{seen[extra.name]}]. "
                "Fix: give every stack its own name"
            )
        elif extra.name == "html":
            p.append(
                f"{key}.name 'html' is reserved: <shared root>/html holds the web stack's page, and a stack's data "
                "directory is <shared root>/<name>. Fix: pick another name"
            )
        seen.setdefault(extra.name, i)
        p += _check_published_ports(s, i, published)
        if not extra.compose_path.is_file():
            p.append(
                f"{key}.composeFile {extra.compose_file!r} is not a file (looked for {extra.compose_path}; a relative "
                f"path is relative to the project directory {PROJECT_DIR}). Fix: point it at the stack's compose "
                "file, e.g. stacks/kv/docker-compose.yml"
            )
        else:
            p += check_config_files(extra.compose_path, f"{key}.composeFile", extra.environment)
        for var in extra.environment:
            if var == DATA_DIR_VAR:
                p.append(
                    f"{key}.environment.{DATA_DIR_VAR} is reserved: the deploy step sets it to the stack's directory "
                    f"on the shared storage (<shared root>/{extra.name}). Fix: remove it"
                )
            elif not ENV_NAME.match(var):
                p.append(
                    f"{key}.environment key {var!r} is not a valid variable name. "
                    "Fix: use upper-case letters, digits and '_', not starting with a digit (e.g. KV_IMAGE)"
                )
    return p


def _check_published_ports(s: StackSettings, i: int, published: dict[PublishedPort, str]) -> list[str]:
    """stacks[i].publishedPorts: free ports (not the platform's, not a node's SSH port), each published by one stack
    (a node's port reaches one service); ``published`` maps the ports seen so far to their key, and grows."""
    p: list[str] = []
    ssh_ports = {n.ssh_port: f"nodes[{j}].sshPort" for j, n in reversed(list(enumerate(s.nodes)))}
    for j, port in enumerate(s.stacks[i].published_ports):
        key = f"{NAMESPACE}:stacks[{i}].publishedPorts[{j}] {port}"
        use = platform_port_use(port.port, port.protocol)
        if use:
            p.append(f"{key} is a port the platform itself uses: {use}. Fix: publish the stack on a free port")
        elif port.protocol == "tcp" and port.port in ssh_ports:
            p.append(f"{key} is also {ssh_ports[port.port]}. Fix: publish the stack on a free port")
        elif port in published:
            p.append(
                f"{key} is also published by {published[port]}: a node's port reaches one service. "
                "Fix: give every stack its own ports"
            )
        published.setdefault(port, f"stacks[{i}].publishedPorts[{j}]")
    return p


def _check_stack(stack: StackConfig) -> list[str]:
    p: list[str] = []
    ns = NAMESPACE
    defaults = StackConfig.model_fields
    for field, path, what in (
        ("compose_file", stack.compose_path, "the stack's compose file"),
        ("page_file", stack.page_path, "the page to publish"),
    ):
        if not path.is_file():
            p.append(
                f"{ns}:stack.{to_camel(field)} {getattr(stack, field)!r} is not a file (looked for {path}; a relative "
                f"path is relative to the project directory {PROJECT_DIR}). Fix: point it at {what}, e.g. "
                f"{defaults[field].default}"
            )
        elif field == "compose_file":
            p += check_config_files(path, f"{ns}:stack.composeFile")
    use = platform_port_use(stack.published_port)
    if use:
        p.append(
            f"{ns}:stack.publishedPort {stack.published_port} is a port the platform itself uses: {use}. "
            f"Fix: publish the page on a free port, e.g. {defaults['published_port'].default}"
        )
    return p


def _check_ip(key: str, ip: ipaddress.IPv4Address, net: NetworkConfig) -> list[str]:
    if ip not in net.cidr:
        return [
            f"{key} {ip} is outside network.cidr {net.cidr}. Fix: use an address in {net.cidr} or change network.cidr"
        ]
    if ip == net.gateway:
        return [f"{key} {ip} is the gateway. Fix: pick another address in {net.cidr}"]
    if ip in (net.cidr.network_address, net.cidr.broadcast_address):
        return [f"{key} {ip} is the network or broadcast address of {net.cidr}. Fix: pick a host address"]
    return []


def read_pulumi_config() -> dict[str, RawValue]:
    """All ``swarm-ceph:*`` keys of the running stack, with their secret flag (needs the Pulumi runtime)."""
    from pulumi.runtime import config as rc

    values = {**rc.get_config_env(), **rc.CONFIG.get()}
    secret_keys = set(rc.get_config_secret_keys_env()) | {k for k in values if rc.is_config_secret(k)}
    prefix = NAMESPACE + ":"
    return {k[len(prefix) :]: RawValue(v, k in secret_keys) for k, v in values.items() if k.startswith(prefix)}


def load_settings() -> StackSettings:
    return parse_settings(read_pulumi_config())
