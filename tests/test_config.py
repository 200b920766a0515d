"""Typed configuration: the committed stacks parse, and every bad input is rejected naming its key and a fix."""

from __future__ import annotations

import copy
import json

import pytest

from components.config import PROJECT_DIR, ConfigError, RawValue, parse_settings
from components.docker_stack import read_stack_files
from components.ports import CLUSTER_PORTS, LAN_PORTS, platform_port_use
from lab.program import FAKE_API_TOKEN, FAKE_HOST_KEY_SEED, FAKE_SSH_KEY, stack_config

NS = "swarm-ceph:"


def raw_of(config: dict, secrets: dict | None = None) -> dict[str, RawValue]:
    raw = {k[len(NS) :]: RawValue(v if isinstance(v, str) else json.dumps(v), False) for k, v in config.items()}
    for key, value in (secrets or {}).items():
        raw[key] = RawValue(value, True)
    return raw


def dev(**overrides) -> dict:
    cfg = copy.deepcopy(stack_config("dev"))
    for key, value in overrides.items():
        cfg[NS + key] = value
    return cfg


GOOD_SECRETS = {"proxmoxApiToken": FAKE_API_TOKEN, "sshPrivateKey": FAKE_SSH_KEY, "hostKeySeed": FAKE_HOST_KEY_SEED}


def problems(config: dict, secrets: dict | None = GOOD_SECRETS) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw_of(config, secrets))
    return info.value.problems


def one_problem(config: dict, secrets: dict | None = GOOD_SECRETS) -> str:
    found = problems(config, secrets)
    assert len(found) == 1, found
    return found[0]


def nodes_with(**changes_by_index) -> list[dict]:
    nodes = copy.deepcopy(stack_config("dev")[NS + "nodes"])
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


@pytest.mark.parametrize("key", ["sshPrivateKey", "hostKeySeed", "proxmoxApiToken"])
def test_secret_in_clear_text_rejected(key):
    raw = raw_of(dev(), {k: v for k, v in GOOD_SECRETS.items() if k != key})
    raw[key] = RawValue(GOOD_SECRETS[key], False)
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
    """Where the stack reads its files from: the config checks the very paths read_stack_files reads, relative
    ones from the project directory whatever the working directory, absolute ones as they are."""
    page = tmp_path / "index.html"
    page.write_text("<p>elsewhere</p>\n")
    monkeypatch.chdir(tmp_path)
    s = parse_settings(raw_of(dev(stack={"pageFile": str(page)}), GOOD_SECRETS))
    compose, text = read_stack_files(s.stack)
    assert s.stack.compose_path == PROJECT_DIR / "stacks/nginx/docker-compose.yml"
    assert compose == s.stack.compose_path.read_text() and text == "<p>elsewhere</p>\n"
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


@pytest.mark.parametrize("mode", ["0600", "600", "0640"])
def test_snippet_file_mode_accepted(mode):
    cfg = dev(proxmox={**stack_config("dev")[NS + "proxmox"], "snippetFileMode": mode})
    assert parse_settings(raw_of(cfg, GOOD_SECRETS)).proxmox.snippet_file_mode == mode


@pytest.mark.parametrize("mode", ["0o600", "rw-------", "0900", "60"])
def test_snippet_file_mode_checked(mode):
    message = one_problem(dev(proxmox={**stack_config("dev")[NS + "proxmox"], "snippetFileMode": mode}))
    assert message.startswith(NS + "proxmox.snippetFileMode")
