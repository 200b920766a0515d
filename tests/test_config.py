"""Typed configuration: the committed stacks parse, and every bad input is rejected naming its key and a fix."""

from __future__ import annotations

import base64
import copy
import json
import struct
from pathlib import Path

import pytest

from components.config import PROJECT_DIR, ConfigError, RawValue, parse_settings
from components.ports import CLUSTER_PORTS, LAN_PORTS, platform_port_use
from lab.program import FAKE_API_TOKEN, FAKE_CEPH_CLIENT_KEY, FAKE_HOST_KEY_SEED, FAKE_SSH_KEY, stack_config

NS = "swarm-ceph:"


def raw_of(config: dict, secrets: dict | None = None) -> dict[str, RawValue]:
    raw = {k[len(NS) :]: RawValue(v if isinstance(v, str) else json.dumps(v), False) for k, v in config.items()}
    for key, value in (secrets or {}).items():
        raw[key] = RawValue(value, True)
    return raw


def dev(which: str = "dev", /, **overrides) -> dict:
    """A committed stack's config (dev unless ``which`` says otherwise) with keys (without namespace) replaced."""
    cfg = copy.deepcopy(stack_config(which))
    for key, value in overrides.items():
        cfg[NS + key] = value
    return cfg


GOOD_SECRETS = {"proxmoxApiToken": FAKE_API_TOKEN, "sshPrivateKey": FAKE_SSH_KEY, "hostKeySeed": FAKE_HOST_KEY_SEED}
CEPHFS_SECRETS = {**GOOD_SECRETS, "cephClientKey": FAKE_CEPH_CLIENT_KEY}
MONITORS = ["10.10.1.2", "10.10.1.3:6789", "[fd00::4]", "[fd00::5]:3300"]


def cephfs(**storage) -> dict:
    """dev with storage.type cephfs (an existing cluster's CephFS)."""
    return dev(storage={"type": "cephfs", "monitors": MONITORS, **storage})


def problems(config: dict, secrets: dict | None = GOOD_SECRETS) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw_of(config, secrets))
    return info.value.problems


def one_problem(config: dict, secrets: dict | None = GOOD_SECRETS) -> str:
    found = problems(config, secrets)
    assert len(found) == 1, found
    return found[0]


def nodes_with(stack: str = "dev", **changes_by_index) -> list[dict]:
    """A committed stack's nodes with changes by index: nodes_with(n2={"state": "lost"})."""
    nodes = copy.deepcopy(stack_config(stack)[NS + "nodes"])
    for index, change in changes_by_index.items():
        nodes[int(index.lstrip("n"))].update(change)
    return nodes


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_parse(stack):
    s = parse_settings(raw_of(stack_config(stack), GOOD_SECRETS))
    assert s.leader.role == "manager"
    assert len(s.managers) % 2 == 1


def test_dev_is_the_reference_topology():
    s = parse_settings(raw_of(stack_config("dev"), GOOD_SECRETS))
    assert [(n.name, str(n.ip), n.role) for n in s.nodes] == [
        ("swarm-master", "10.10.1.10", "manager"),
        ("swarm-worker1", "10.10.1.11", "worker"),
        ("swarm-worker2", "10.10.1.12", "worker"),
    ]
    assert str(s.network.lan_cidr) == "192.168.0.0/24"
    assert s.stack.name == "mystack" and s.stack.published_port == 8080
    assert s.storage.mount_point == "/mnt/cephfs"


def test_prod_differs_from_dev():
    d = parse_settings(raw_of(stack_config("dev"), GOOD_SECRETS))
    p = parse_settings(raw_of(stack_config("prod"), GOOD_SECRETS))
    assert len(p.nodes) == 5 and len(p.managers) == 3
    assert {n.vm_id for n in p.nodes}.isdisjoint({n.vm_id for n in d.nodes})
    assert {n.ip for n in p.nodes}.isdisjoint({n.ip for n in d.nodes})
    assert min(n.ceph_disk_gb for n in p.nodes) > max(n.ceph_disk_gb for n in d.nodes)


@pytest.mark.parametrize(
    "nodes, key, words",
    [
        (nodes_with(n1={"ip": "10.10.2.11"}), "nodes[1].ip", "outside network.cidr"),
        (nodes_with(n1={"ip": "10.10.1.1"}), "nodes[1].ip", "gateway"),
        (nodes_with(n1={"ip": "10.10.1.255"}), "nodes[1].ip", "broadcast"),
        (nodes_with(n2={"ip": "10.10.1.11"}), "nodes[2].ip", "used by 2 nodes"),
        (nodes_with(n2={"name": "swarm-worker1"}), "nodes[2].name", "used by 2 nodes"),
        (nodes_with(n2={"vmId": 111}), "nodes[2].vmId", "used by 2 nodes"),
        (nodes_with(n2={"vmId": 9000}), "nodes[2].vmId", "collides with template.vmId"),
        (nodes_with(n1={"name": "Swarm_Worker1"}), "nodes[1].name", "not a valid hostname"),
        (nodes_with(n1={"name": "-worker"}), "nodes[1].name", "not a valid hostname"),
        (nodes_with(n1={"role": "manager"}), "nodes", "2 managers"),
        (nodes_with(n0={"role": "worker"}), "nodes", "no manager"),
        (nodes_with(n1={"labels": {"bad label": "x"}}), "nodes[1].labels", "not a valid Docker node label"),
        (nodes_with(n1={"vmId": None}), "nodes[1].vmId", "required"),
    ],
)
def test_bad_nodes_are_rejected_with_their_key(nodes, key, words):
    message = one_problem(dev(nodes=nodes))
    assert message.startswith(NS + key), message
    assert words in message and "Fix:" in message


def test_more_than_seven_managers_rejected():
    nodes = [{"name": f"m{i}", "ip": f"10.10.1.{20 + i}", "vmId": 200 + i, "role": "manager"} for i in range(9)]
    message = one_problem(dev(nodes=nodes))
    assert "9 managers" in message and "at most 7" in message


def test_fewer_than_three_ceph_nodes_rejected():
    message = one_problem(dev(nodes=nodes_with()[:2]))
    assert message.startswith(NS + "nodes has 2 nodes") and "MicroCeph needs at least 3" in message


def test_two_nodes_are_fine_with_existing_storage():
    s = parse_settings(
        raw_of(dev(nodes=nodes_with()[:2], storage={"type": "existing", "path": "/srv/shared"}), GOOD_SECRETS)
    )
    assert s.storage.shared_root == "/srv/shared"


def test_existing_storage_needs_its_path():
    message = one_problem(dev(storage={"type": "existing"}))
    assert message.startswith(NS + "storage.path is required")


def test_missing_ssh_private_key_rejected():
    message = one_problem(dev(), {"proxmoxApiToken": FAKE_API_TOKEN, "hostKeySeed": FAKE_HOST_KEY_SEED})
    assert message.startswith(NS + "sshPrivateKey is missing")
    assert "pulumi config set --secret swarm-ceph:sshPrivateKey" in message


def test_missing_host_key_seed_rejected():
    message = one_problem(dev(), {"proxmoxApiToken": FAKE_API_TOKEN, "sshPrivateKey": FAKE_SSH_KEY})
    assert message.startswith(NS + "hostKeySeed is missing")
    assert 'pulumi config set --secret swarm-ceph:hostKeySeed "$(openssl rand -hex 32)"' in message


def test_short_host_key_seed_rejected():
    message = one_problem(dev(), {**GOOD_SECRETS, "hostKeySeed": "too-short"})
    assert message.startswith(NS + "hostKeySeed is shorter than 32 characters")
    assert "too-short" not in message  # the value itself is never echoed


def test_missing_public_keys_rejected():
    message = one_problem(dev(ssh={"user": "debian", "publicKeys": []}))
    assert message.startswith(NS + "ssh.publicKeys is empty")


@pytest.mark.parametrize("key", ["sshPrivateKey", "hostKeySeed", "proxmoxApiToken", "cephClientKey"])
def test_secret_in_clear_text_rejected(key):
    secrets = CEPHFS_SECRETS if key == "cephClientKey" else GOOD_SECRETS
    raw = raw_of(cephfs() if key == "cephClientKey" else dev(), {k: v for k, v in secrets.items() if k != key})
    raw[key] = RawValue(secrets[key], False)
    with pytest.raises(ConfigError) as info:
        parse_settings(raw)
    assert any(p.startswith(f"{NS}{key} is stored in clear text") for p in info.value.problems)


def test_malformed_api_token_rejected():
    message = one_problem(
        dev(), {"proxmoxApiToken": "root:secret", "sshPrivateKey": FAKE_SSH_KEY, "hostKeySeed": FAKE_HOST_KEY_SEED}
    )
    assert message.startswith(NS + "proxmoxApiToken is not of the form")
    assert "root:secret" not in message  # the value itself is never echoed


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_out_of_range_rejected(port):
    message = one_problem(dev(stack={"publishedPort": port}))
    assert message.startswith(NS + "stack.publishedPort")


@pytest.mark.parametrize(
    "port, use",
    [
        (22, "SSH (tcp 22)"),
        (2377, "Swarm cluster management (tcp 2377)"),
        (7946, "Swarm node gossip (tcp/udp 7946)"),
        (4789, "Swarm overlay network (VXLAN) (udp 4789)"),
        (3300, "Ceph MON (msgr2) (tcp 3300)"),
        (6789, "Ceph MON (msgr1) (tcp 6789)"),
        (6800, "Ceph OSD/MDS/MGR (tcp 6800-7300)"),
        (7000, "Ceph OSD/MDS/MGR (tcp 6800-7300)"),
        (7300, "Ceph OSD/MDS/MGR (tcp 6800-7300)"),
        (7443, "MicroCeph daemon API (tcp 7443)"),
    ],
)
def test_platform_port_as_published_port_rejected(port, use):
    message = one_problem(dev(stack={"publishedPort": port}))
    assert message.startswith(f"{NS}stack.publishedPort {port} is a port the platform itself uses: {use}.")
    assert "Fix: publish the page on a free port, e.g. 8080" in message


def test_platform_ports_come_from_the_security_group_list():
    """One list: every port the security group opens for the platform is refused as the published port, and the
    ports next to them are free."""
    for _proto, spec, _why in LAN_PORTS + CLUSTER_PORTS:
        low, _, high = spec.partition(":")
        for port in {int(low), int(high or low)}:
            assert platform_port_use(port), port
    for port in (21, 23, 2376, 2378, 6799, 7301, 7442, 7444, 8080, 443):
        assert platform_port_use(port) is None, port
        assert parse_settings(raw_of(dev(stack={"publishedPort": port}), GOOD_SECRETS)).stack.published_port == port


@pytest.mark.parametrize(
    "field, key",
    [("composeFile", "stack.composeFile"), ("pageFile", "stack.pageFile")],
)
@pytest.mark.parametrize("path", ["stacks/nginx/missing.yml", "stacks/nginx", "/nonexistent/file", ""])
def test_missing_stack_file_rejected_with_its_key(field, key, path):
    message = one_problem(dev(stack={field: path}))
    assert message.startswith(f"{NS}{key} {path!r} is not a file (looked for {PROJECT_DIR / path}; "), message
    assert "relative to the project directory" in message and "Fix: point it at" in message


def test_stack_files_relative_to_the_project_directory(tmp_path, monkeypatch):
    """Where the stack reads its files from: the config checks the very paths the program reads, relative ones from
    the project directory whatever the working directory, absolute ones as they are."""
    page = tmp_path / "index.html"
    page.write_text("<p>elsewhere</p>\n")
    monkeypatch.chdir(tmp_path)
    s = parse_settings(raw_of(dev(stack={"pageFile": str(page)}), GOOD_SECRETS))
    assert s.stack.compose_path == PROJECT_DIR / "stacks/nginx/docker-compose.yml"
    assert s.stack.page_path == page and s.stack.compose_path.is_file()
    message = one_problem(dev(stack={"composeFile": "index.html"}))  # in the working directory, not the project's
    assert message.startswith(f"{NS}stack.composeFile 'index.html' is not a file")


def test_unknown_top_level_key_rejected_with_suggestion():
    cfg = dev()
    cfg[NS + "Nodes"] = cfg[NS + "nodes"]
    message = one_problem(cfg)
    assert message.startswith(NS + "Nodes is not a known setting") and "did you mean swarm-ceph:nodes" in message


def test_unknown_nested_key_rejected():
    message = one_problem(dev(nodes=nodes_with(n1={"ipAddress": "10.10.1.11"})))
    assert message.startswith(NS + "nodes[1].ipAddress is not a known setting")


def test_enum_values_checked():
    message = one_problem(dev(stack={"resolveImage": "sometimes"}))
    assert message.startswith(NS + "stack.resolveImage")


def test_all_problems_reported_at_once():
    found = problems(
        dev(nodes=nodes_with(n1={"ip": "10.10.9.9"}, n2={"name": "BAD"})),
        {"proxmoxApiToken": FAKE_API_TOKEN, "hostKeySeed": FAKE_HOST_KEY_SEED},
    )
    keys = sorted(p.split(" ")[0] for p in found)
    assert keys == [NS + "nodes[1].ip", NS + "nodes[2].name", NS + "sshPrivateKey"]


def test_template_build_ip_checked():
    message = one_problem(dev(template={"buildIp": "10.10.1.10"}))
    assert message.startswith(NS + "template.buildIp 10.10.1.10 is also a node's IP")


def test_hosts_mode_needs_no_proxmox_but_a_ceph_disk():
    cfg = {k: v for k, v in dev().items() if k not in (NS + "proxmox", NS + "image", NS + "template")}
    cfg[NS + "infrastructure"] = "hosts"
    message = one_problem(cfg, {"sshPrivateKey": FAKE_SSH_KEY})
    assert message.startswith(NS + "nodes[0].cephDisk is required")
    cfg[NS + "nodes"] = [dict(n, cephDisk="/dev/sdb") for n in nodes_with()]
    s = parse_settings(raw_of(cfg, {"sshPrivateKey": FAKE_SSH_KEY}))
    assert s.infrastructure == "hosts" and s.ceph_disk(s.nodes[0]) == "/dev/sdb"


def test_proxmox_mode_needs_proxmox_section():
    cfg = {k: v for k, v in dev().items() if k != NS + "proxmox"}
    message = one_problem(cfg)
    assert message.startswith(NS + "proxmox is required")


def test_host_key_only_in_hosts_mode():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqv0yzfJ9E8n2o1Cq1nVh8vX0xW4m9m0m4V7L3s3a9X"
    message = one_problem(dev(nodes=nodes_with(n1={"hostKey": key})))
    assert message.startswith(NS + "nodes[1].hostKey is only for infrastructure: hosts")
    message = one_problem(dev(nodes=nodes_with(n1={"hostKey": "not a key"})))
    assert message.startswith(NS + "nodes[1].hostKey")


def test_node_availability_defaults_to_active():
    s = parse_settings(raw_of(dev(), GOOD_SECRETS))
    assert [n.availability for n in s.nodes] == ["active"] * 3


@pytest.mark.parametrize("changes", [{"n1": {"availability": "drain"}}, {"n0": {"availability": "drain"}}])
def test_some_nodes_drained_or_paused_are_fine_managers_too(changes):
    nodes = nodes_with(n2={"availability": "pause"}, **changes)
    s = parse_settings(raw_of(dev(nodes=nodes), GOOD_SECRETS))
    assert [n.availability for n in s.nodes].count("active") == 1


@pytest.mark.parametrize("value", ["Drain", "maintenance", ""])
def test_bad_node_availability_rejected_with_its_key(value):
    message = one_problem(dev(nodes=nodes_with(n2={"availability": value})))
    assert message.startswith(NS + "nodes[2].availability")
    assert "'active', 'pause' or 'drain'" in message and "Fix:" in message


def test_a_swarm_with_no_active_node_is_refused():
    nodes = nodes_with(n0={"availability": "drain"}, n1={"availability": "pause"}, n2={"availability": "drain"})
    message = one_problem(dev(nodes=nodes))
    assert message.startswith(NS + "nodes[].availability is drain or pause on every node")
    assert "Fix: leave availability at active" in message


@pytest.mark.parametrize("mode", ["0600", "600", "0640"])
def test_snippet_file_mode_accepted(mode):
    cfg = dev(proxmox={**stack_config("dev")[NS + "proxmox"], "snippetFileMode": mode})
    assert parse_settings(raw_of(cfg, GOOD_SECRETS)).proxmox.snippet_file_mode == mode


@pytest.mark.parametrize("mode", ["0o600", "rw-------", "0900", "60"])
def test_snippet_file_mode_checked(mode):
    message = one_problem(dev(proxmox={**stack_config("dev")[NS + "proxmox"], "snippetFileMode": mode}))
    assert message.startswith(NS + "proxmox.snippetFileMode")


def test_cephfs_storage_parses():
    s = parse_settings(raw_of(cephfs(client="fuse", clientName="pve.swarm"), CEPHFS_SECRETS))
    st = s.storage
    assert (st.type, st.monitors, st.client, st.client_name) == ("cephfs", MONITORS, "fuse", "pve.swarm")
    assert st.shared_root == "/mnt/cephfs" and s.secrets.ceph_client_key.get_secret_value() == FAKE_CEPH_CLIENT_KEY
    defaults = parse_settings(raw_of(dev(), GOOD_SECRETS)).storage
    assert (defaults.client, defaults.client_name, defaults.monitors) == ("kernel", "swarm", [])


def test_cephfs_needs_neither_three_nodes_nor_ceph_disks():
    """The 3-node minimum and cephDisk are MicroCeph's: an existing cluster has its own OSDs."""
    assert len(parse_settings(raw_of(cephfs() | {NS + "nodes": nodes_with()[:1]}, CEPHFS_SECRETS)).nodes) == 1
    cfg = {k: v for k, v in cephfs().items() if k not in (NS + "proxmox", NS + "image", NS + "template")}
    cfg[NS + "infrastructure"] = "hosts"
    s = parse_settings(raw_of(cfg, {"sshPrivateKey": FAKE_SSH_KEY, "cephClientKey": FAKE_CEPH_CLIENT_KEY}))
    assert s.infrastructure == "hosts" and all(n.ceph_disk is None for n in s.nodes)


def test_cephfs_needs_monitors():
    message = one_problem(cephfs(monitors=[]), CEPHFS_SECRETS)
    assert message.startswith(NS + "storage.monitors is empty") and "Fix:" in message
    assert one_problem(dev(storage={"type": "cephfs"}), CEPHFS_SECRETS) == message


@pytest.mark.parametrize(
    "monitor",
    [
        "10.10.1.300",
        "10.10.1.2:0",
        "10.10.1.2:65536",
        "10.10.1.2:",
        "10.10.1.2:mon",
        "10.10.1.2:+1",
        "fd00::4",  # an IPv6 address must be in brackets
        "[10.10.1.2]",
        "[fd00::4",
        "[fd00::4]6789",
        "[fd00::4]:",
        "pve1.lan",
        "",
    ],
)
def test_bad_monitor_rejected_with_its_index(monitor):
    message = one_problem(cephfs(monitors=["10.10.1.2", monitor]), CEPHFS_SECRETS)
    assert message.startswith(f"{NS}storage.monitors[1] {monitor!r} is not a monitor address"), message
    assert "[IPv6]:port" in message and "Fix:" in message


def test_cephfs_needs_the_client_key():
    message = one_problem(cephfs(), GOOD_SECRETS)
    assert message.startswith(NS + "cephClientKey is missing")
    assert (
        'pulumi config set --secret swarm-ceph:cephClientKey "$(ssh root@<pve-host> ceph auth get-key client.swarm)"'
        in message
    )


def _key(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    "key",
    [
        "not-a-ceph-key-at-all",
        FAKE_CEPH_CLIENT_KEY[:-2],  # no padding
        FAKE_CEPH_CLIENT_KEY.replace("A", "*", 3),
        _key(struct.pack("<HIIH", 1, 1700000000, 0, 16) + b"fifteen-bytes!!"[:15]),  # 27 bytes
        _key(struct.pack("<HIIH", 1, 1700000000, 0, 16) + b"seventeen-bytes!!"),  # 29 bytes
        _key(struct.pack("<HIIH", 2, 1700000000, 0, 16) + b"FAKE-client-key!"),  # not an AES key
        _key(struct.pack("<HIIH", 1, 1700000000, 0, 15) + b"FAKE-client-key!"),  # a wrong length field
        "AQ" + "A" * 38,  # the look of a key without its content
    ],
)
def test_a_client_key_that_is_not_a_ceph_key_is_refused_without_echoing_it(key):
    message = one_problem(cephfs(), {**GOOD_SECRETS, "cephClientKey": key})
    assert message.startswith(NS + "cephClientKey is not a Ceph secret key") and "Fix:" in message
    assert key not in message


def test_a_client_key_with_a_trailing_newline_is_accepted():
    s = parse_settings(raw_of(cephfs(), {**GOOD_SECRETS, "cephClientKey": FAKE_CEPH_CLIENT_KEY + "\n"}))
    assert s.storage.type == "cephfs"


@pytest.mark.parametrize("storage", [{"type": "microceph"}, {"type": "existing", "path": "/srv/shared"}])
def test_monitors_and_client_key_only_with_cephfs(storage):
    found = problems(dev(storage={**storage, "monitors": ["10.10.1.2"]}), CEPHFS_SECRETS)
    assert sorted(p.split(" ")[0] for p in found) == [NS + "cephClientKey", NS + "storage.monitors"]
    assert all("is only used with storage.type: cephfs" in p and "Fix:" in p for p in found)
    assert not any(FAKE_CEPH_CLIENT_KEY in p for p in found)


def test_storage_path_is_not_for_cephfs():
    message = one_problem(cephfs(path="/srv/shared"), CEPHFS_SECRETS)
    assert message.startswith(NS + "storage.path is only used with storage.type: existing")


@pytest.mark.parametrize(
    "field, value, key",
    [("client", "nfs", "storage.client"), ("clientName", "client swarm", "storage.clientName")],
)
def test_cephfs_client_fields_checked(field, value, key):
    message = one_problem(cephfs(**{field: value}), CEPHFS_SECRETS)
    assert message.startswith(NS + key), message


def test_cephfs_problems_reported_at_once():
    found = problems(cephfs(monitors=["10.10.1.2", "mon-b"], path="/x"), {**GOOD_SECRETS, "cephClientKey": "nope"})
    assert sorted(p.split(" ")[0] for p in found) == [
        NS + "cephClientKey",
        NS + "storage.monitors[1]",
        NS + "storage.path",
    ]
    assert not any("nope" in p for p in found)


KV = {"name": "kv", "composeFile": "stacks/kv/docker-compose.yml", "environment": {"KV_IMAGE": "redis:7.2"}}


def test_extra_stacks_parse():
    s = parse_settings(
        raw_of(dev(stacks=[KV, {"name": "cache_2", "composeFile": "stacks/kv/docker-compose.yml"}]), GOOD_SECRETS)
    )
    kv, cache = s.stacks
    assert (kv.name, kv.environment, kv.resolve_image, kv.deploy_timeout_s) == (
        "kv",
        {"KV_IMAGE": "redis:7.2"},
        "always",
        300,
    )
    assert kv.compose_path == PROJECT_DIR / "stacks/kv/docker-compose.yml" and cache.environment == {}
    assert parse_settings(raw_of(stack_config("dev"), GOOD_SECRETS)).stacks[0].name == "kv"
    assert parse_settings(raw_of({k: v for k, v in dev().items() if k != NS + "stacks"}, GOOD_SECRETS)).stacks == []


def test_extra_stack_names_are_unique():
    message = one_problem(dev(stacks=[KV, dict(KV, environment={})]))
    assert message.startswith(f"{NS}stacks[1].name 'kv' is also the name of stacks[0]") and "Fix:" in message
    message = one_problem(dev(stacks=[dict(KV, name="mystack")]))
    assert message.startswith(f"{NS}stacks[0].name 'mystack' is the web stack's name (stack.name)")
    message = one_problem(dev(stacks=[dict(KV, name="html")]))
    assert message.startswith(f"{NS}stacks[0].name 'html' is reserved")


@pytest.mark.parametrize("name", ["KV", "-kv", "k v", ""])
def test_extra_stack_name_checked(name):
    assert one_problem(dev(stacks=[dict(KV, name=name)])).startswith(f"{NS}stacks[0].name")


@pytest.mark.parametrize("path", ["stacks/kv/missing.yml", "stacks/kv", "/nonexistent/file", ""])
def test_extra_stack_compose_file_must_be_a_file(path):
    message = one_problem(dev(stacks=[KV, dict(KV, name="kv2", composeFile=path)]))
    assert message.startswith(f"{NS}stacks[1].composeFile {path!r} is not a file (looked for {PROJECT_DIR / path}; ")
    assert "relative to the project directory" in message and "Fix: point it at" in message


def test_extra_stack_compose_file_is_required():
    message = one_problem(dev(stacks=[{"name": "kv"}]))
    assert message.startswith(f"{NS}stacks[0].composeFile is required")


def test_extra_stack_data_dir_is_reserved():
    message = one_problem(dev(stacks=[dict(KV, environment={"DATA_DIR": "/elsewhere"})]))
    assert message.startswith(f"{NS}stacks[0].environment.DATA_DIR is reserved") and "Fix: remove it" in message


@pytest.mark.parametrize("var", ["kv_image", "1ST", "KV-IMAGE", "KV IMAGE", ""])
def test_extra_stack_environment_names_checked(var):
    message = one_problem(dev(stacks=[dict(KV, environment={"KV_IMAGE": "redis:7.2", var: "x"})]))
    assert message.startswith(f"{NS}stacks[0].environment key {var!r} is not a valid variable name")
    assert "Fix:" in message


@pytest.mark.parametrize(
    "field, value", [("resolveImage", "sometimes"), ("deployTimeoutS", 1), ("environment", {"A": 1}), ("extra", 1)]
)
def test_extra_stack_fields_checked(field, value):
    message = one_problem(dev(stacks=[dict(KV, **{field: value})]))
    assert message.startswith(f"{NS}stacks[0]."), message


def test_extra_stack_published_ports_parse_from_their_shorthand():
    ports = [9000, "9001", "9002/tcp", "5353/udp", {"port": 6000, "protocol": "udp"}]
    (extra,) = parse_settings(raw_of(dev(stacks=[dict(KV, publishedPorts=ports)]), GOOD_SECRETS)).stacks
    assert [str(p) for p in extra.published_ports] == ["9000/tcp", "9001/tcp", "9002/tcp", "5353/udp", "6000/udp"]


@pytest.mark.parametrize(
    "ports, expected",
    [
        (["9000/sctp"], "stacks[0].publishedPorts: Value error, '9000/sctp' is not a port: write 9000, '9000/tcp'"),
        ([70000], "stacks[0].publishedPorts[0].port: Input should be less than or equal to 65535"),
        (["7946/udp"], "stacks[0].publishedPorts[0] 7946/udp is a port the platform itself uses: Swarm node gossip"),
        ([2377], "stacks[0].publishedPorts[0] 2377/tcp is a port the platform itself uses: Swarm cluster management"),
        ([8080], "stacks[0].publishedPorts[0] 8080/tcp is also published by stack.publishedPort: a node's port"),
        ([2222], "stacks[0].publishedPorts[0] 2222/tcp is also nodes[1].sshPort. Fix: publish the stack on a free"),
    ],
)
def test_extra_stack_published_ports_checked(ports, expected):
    message = one_problem(dev(stacks=[dict(KV, publishedPorts=ports)], nodes=nodes_with(n1={"sshPort": 2222})))
    assert message.startswith(NS + expected) and "Fix:" in message, message


def test_a_port_is_published_by_one_stack_only_and_the_protocols_are_apart():
    other = {"name": "other", "composeFile": KV["composeFile"]}
    message = one_problem(dev(stacks=[dict(KV, publishedPorts=[9000]), dict(other, publishedPorts=[8, "9000"])]))
    assert message.startswith(f"{NS}stacks[1].publishedPorts[1] 9000/tcp is also published by stacks[0].")
    assert "Fix: give every stack its own ports" in message
    # the same number in the other protocol, and tcp 4789 (VXLAN is udp) are free
    ok = [dict(KV, publishedPorts=[9000, "4789/tcp"]), dict(other, publishedPorts=["9000/udp", "8080/udp"])]
    assert len(parse_settings(raw_of(dev(stacks=ok), GOOD_SECRETS)).stacks) == 2


def test_a_node_ssh_port_that_is_the_published_port_is_refused():
    nodes = nodes_with(n1={"sshPort": 8080})
    message = one_problem(dev(nodes=nodes))
    assert message.startswith("swarm-ceph:nodes[1].sshPort 8080 is also stack.publishedPort") and "Fix:" in message
    parse_settings(raw_of(dev(nodes=nodes, stack={"publishedPort": 8081}), GOOD_SECRETS))


def test_a_lost_worker_is_accepted():
    s = parse_settings(raw_of(dev(nodes=nodes_with(n2={"state": "lost"})), GOOD_SECRETS))
    assert [n.state for n in s.nodes] == ["present", "present", "lost"]


def prod(**overrides) -> dict:
    return dev("prod", **overrides)


def prod_nodes(**changes_by_index) -> list[dict]:
    return nodes_with("prod", **changes_by_index)


def test_a_lost_manager_keeps_the_count_and_a_replacement_is_added_with_its_removal():
    parse_settings(raw_of(prod(nodes=prod_nodes(n2={"state": "lost"})), GOOD_SECRETS))  # 3 managers, 1 lost
    replacement = {"name": "swarm-prod-m4", "ip": "10.10.2.24", "vmId": 2104, "role": "manager"}
    both = prod_nodes(n2={"state": "lost"}) + [replacement]
    message = one_problem(prod(nodes=both))
    assert "4 managers" in message and "remove nodes[2] in the same change that adds its replacement" in message
    swapped = [n for n in prod_nodes() if n["name"] != "swarm-prod-m3"] + [replacement]
    parse_settings(raw_of(prod(nodes=swapped), GOOD_SECRETS))


def test_a_lost_first_manager_hands_the_manager_side_steps_to_the_next_manager():
    existing = {"type": "existing", "path": "/srv/shared"}
    s = parse_settings(raw_of(prod(nodes=prod_nodes(n0={"state": "lost"}), storage=existing), GOOD_SECRETS))
    assert s.leader.name == "swarm-prod-m2"
    assert parse_settings(raw_of(prod(storage=existing), GOOD_SECRETS)).leader.name == "swarm-prod-m1"


def test_with_microceph_the_first_manager_cannot_be_lost_yet():
    message = one_problem(prod(nodes=prod_nodes(n0={"state": "lost"})))
    assert "swarm-ceph:nodes[0].state is lost on the first manager (swarm-prod-m1), which bootstrapped MicroCeph" in (
        message
    )
    assert "Fix: keep it present" in message


def test_losing_the_quorum_is_refused_with_the_recovery():
    message = one_problem(prod(nodes=prod_nodes(n1={"state": "lost"}, n2={"state": "lost"})))
    assert "2 of 3 managers are lost" in message and "--force-new-cluster" in message


def test_a_bad_state_is_refused_by_key():
    message = one_problem(dev(nodes=nodes_with(n1={"state": "gone"})))
    assert message.startswith("swarm-ceph:nodes[1].state:")


def test_proxmox_ssh_port_defaults_to_22_and_is_read():
    assert parse_settings(raw_of(dev(), GOOD_SECRETS)).proxmox.ssh_port == 22
    cfg = dev(proxmox={**stack_config("dev")[NS + "proxmox"], "sshPort": 2222})
    assert parse_settings(raw_of(cfg, GOOD_SECRETS)).proxmox.ssh_port == 2222


@pytest.mark.parametrize("port", [0, 65536, "ssh"])
def test_proxmox_ssh_port_checked(port):
    message = one_problem(dev(proxmox={**stack_config("dev")[NS + "proxmox"], "sshPort": port}))
    assert message.startswith(NS + "proxmox.sshPort")


def test_microceph_channel_defaults_to_a_fixed_track():
    assert parse_settings(raw_of(dev(), GOOD_SECRETS)).storage.microceph_channel == "squid/stable"
    cfg = dev(storage={"type": "microceph", "microcephChannel": "reef/stable/hotfix-1"})
    assert parse_settings(raw_of(cfg, GOOD_SECRETS)).storage.microceph_channel == "reef/stable/hotfix-1"


@pytest.mark.parametrize("channel", ["squid", "latest/nightly", "Squid/stable", "/stable", "squid/stable;reboot"])
def test_microceph_channel_checked(channel):
    message = one_problem(dev(storage={"type": "microceph", "microcephChannel": channel}))
    assert message.startswith(NS + "storage.microcephChannel")


@pytest.mark.parametrize(
    ("key", "field", "default", "bad"),
    [
        ("mdsBeaconMonDownGraceS", "mds_beacon_mon_down_grace_s", 10, (4, 601, "soon")),
        ("mdsReconnectTimeoutS", "mds_reconnect_timeout_s", 15, (4, 301, "soon")),
    ],
)
def test_the_mds_failover_options_default_and_are_checked(key, field, default, bad):
    assert getattr(parse_settings(raw_of(dev(), GOOD_SECRETS)).storage, field) == default
    cfg = dev(storage={"type": "microceph", key: 30})
    assert getattr(parse_settings(raw_of(cfg, GOOD_SECRETS)).storage, field) == 30
    for value in bad:
        message = one_problem(dev(storage={"type": "microceph", key: value}))
        assert message.startswith(f"{NS}storage.{key}"), message


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        ("mdsBeaconMonDownGraceS", "ceph config set mon mds_beacon_mon_down_grace 20"),
        ("mdsReconnectTimeoutS", "ceph config set mds mds_reconnect_timeout 20"),
    ],
)
def test_the_mds_failover_options_only_where_the_program_makes_the_cluster(key, fix):
    message = one_problem(cephfs(**{key: 20}), CEPHFS_SECRETS)  # the fix carries the user's value
    assert message.startswith(f"{NS}storage.{key} is only used with storage.type: microceph") and fix in message


def test_microceph_channel_only_where_the_template_installs_microceph():
    message = one_problem(cephfs(microcephChannel="squid/stable"), CEPHFS_SECRETS)
    assert message.startswith(NS + "storage.microcephChannel is only used with storage.type: microceph")
    hosts = {k: v for k, v in dev().items() if k not in (NS + "proxmox", NS + "image", NS + "template")}
    hosts |= {NS + "infrastructure": "hosts", NS + "nodes": [dict(n, cephDisk="/dev/sdb") for n in nodes_with()]}
    parse_settings(raw_of(hosts, {"sshPrivateKey": FAKE_SSH_KEY}))  # fine without it
    hosts[NS + "storage"] = {"type": "microceph", "microcephChannel": "reef/stable"}
    message = one_problem(hosts, {"sshPrivateKey": FAKE_SSH_KEY})
    assert message.startswith(NS + "storage.microcephChannel is only used") and "install MicroCeph yourself" in message


def test_image_import_method_names_the_file():
    image = {k: v for k, v in stack_config("dev")[NS + "image"].items() if k != "fileName"}
    unnamed = parse_settings(raw_of(dev(image=image), GOOD_SECRETS)).image
    assert unnamed.volume_file_name == "debian-12-genericcloud-amd64.qcow2"
    iso = parse_settings(raw_of(dev(image={**image, "importMethod": "iso"}), GOOD_SECRETS)).image
    assert (iso.import_method, iso.volume_file_name) == ("iso", "debian-12-genericcloud-amd64.img")
    named = parse_settings(raw_of(dev(image={**image, "importMethod": "iso", "fileName": "d12.img"}), GOOD_SECRETS))
    assert named.image.volume_file_name == "d12.img"


@pytest.mark.parametrize("method, file_name", [("iso", "d12.qcow2"), ("import", "d12.img")])
def test_image_file_name_must_suit_the_import_method(method, file_name):
    image = {**stack_config("dev")[NS + "image"], "importMethod": method, "fileName": file_name}
    message = one_problem(dev(image=image))
    assert (
        message.startswith(f"{NS}image.fileName {file_name} does not end in") and f"importMethod: {method}" in message
    )


def test_image_import_method_checked():
    message = one_problem(dev(image={**stack_config("dev")[NS + "image"], "importMethod": "upload"}))
    assert message.startswith(NS + "image.importMethod")


def test_health_accept_defaults_to_the_warnings_a_fresh_cluster_keeps():
    assert parse_settings(raw_of(dev(), GOOD_SECRETS)).storage.health_accept == [
        "MON_DISK_LOW",
        "MGR_MODULE_DEPENDENCY",
    ]
    cfg = dev(storage={"type": "microceph", "healthAccept": []})
    assert parse_settings(raw_of(cfg, GOOD_SECRETS)).storage.health_accept == []  # HEALTH_OK only


@pytest.mark.parametrize("code", ["mon_disk_low", "MON DISK LOW", "MON_DISK_LOW;reboot", ""])
def test_health_accept_takes_check_codes_only(code):
    message = one_problem(dev(storage={"type": "microceph", "healthAccept": ["MON_DISK_LOW", code]}))
    assert message.startswith(NS + "storage.healthAccept"), message


def _compose_with_config(directory: Path, file: str) -> Path:
    compose = directory / "docker-compose.yml"
    compose.write_text(f"services:\n  s:\n    image: x\nconfigs:\n  app_conf:\n    file: {file}\n")
    return compose


@pytest.mark.parametrize(
    "file, why",
    [
        ("./missing.conf", "is not a file (looked for"),
        ("../elsewhere.conf", "is not a file beside the compose file"),
        ("conf/app.conf", "is not a file beside the compose file"),
    ],
)
def test_a_config_file_must_be_beside_its_compose_file(tmp_path, file, why):
    """The deploy step ships the files beside the compose file; any other is refused before any resource."""
    compose = _compose_with_config(tmp_path, file)
    message = one_problem(dev(stacks=[dict(KV, composeFile=str(compose))]))
    assert message.startswith(f"{NS}stacks[0].composeFile: configs.app_conf.file {file!r} {why}"), message
    assert "Fix: " in message
    message = one_problem(dev(stack={"composeFile": str(compose)}))
    assert message.startswith(f"{NS}stack.composeFile: configs.app_conf.file {file!r} {why}"), message


def test_a_config_files_digest_variable_is_reserved(tmp_path):
    compose = _compose_with_config(tmp_path, "./app.conf")
    (tmp_path / "app.conf").write_text("x = 1\n")
    parse_settings(raw_of(dev(stacks=[dict(KV, composeFile=str(compose))]), GOOD_SECRETS))  # no problem
    message = one_problem(dev(stacks=[dict(KV, composeFile=str(compose), environment={"APP_CONF_DIGEST": "1"})]))
    assert message.startswith(f"{NS}stacks[0].environment.APP_CONF_DIGEST is reserved: the deploy step sets it")


@pytest.mark.parametrize("text, why", [("services: [\n", "while parsing"), ("- a\n- b\n", "not a list")])
def test_a_compose_file_that_is_not_a_yaml_mapping_is_refused(tmp_path, text, why):
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(text)
    message = one_problem(dev(stacks=[dict(KV, composeFile=str(compose))]))
    assert message.startswith(f"{NS}stacks[0].composeFile {str(compose)!r} cannot be read as a compose file")
    assert why in message and "Fix: correct it" in message
