"""L2: the real Pulumi engine and provider plugins (scripts/engine.sh) run the program on a copy of the project with
a local backend. `pulumi preview` of the dev and prod stacks against a fake PVE endpoint: the proxmoxve and command
providers check every input of every resource being created (no PVE API call is made for those), the engine plans
the whole graph, and no secret leaves the encrypted config. Bad config stops `pulumi up` before any resource."""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from lab.engine import Project
from lab.program import (
    FAKE_API_TOKEN,
    FAKE_CEPH_CLIENT_KEY,
    FAKE_HOST_KEY_SEED,
    FAKE_SSH_KEY,
    run_program,
    run_stack,
    stack_config,
    with_secrets,
)

pytestmark = pytest.mark.engine

SECRETS = {
    "swarm-ceph:proxmoxApiToken": FAKE_API_TOKEN,
    "swarm-ceph:sshPrivateKey": FAKE_SSH_KEY,
    "swarm-ceph:hostKeySeed": FAKE_HOST_KEY_SEED,
}
FAKE_ENDPOINT = "https://pve.invalid:8006/"


@pytest.fixture
def project(tmp_path):
    return Project(tmp_path)


def offline(stack: str) -> dict:
    """A committed stack's config pointed at a PVE endpoint that cannot exist (the .invalid TLD never resolves): if
    the provider ever tried to call the API, it would fail here rather than reach a real host."""
    config = copy.deepcopy(stack_config(stack))
    config["swarm-ceph:proxmox"]["endpoint"] = FAKE_ENDPOINT
    return config


def dev_config() -> dict:
    return offline("dev")


def no_secret_anywhere(project: Project, *texts: str) -> None:
    for secret in (FAKE_SSH_KEY, FAKE_HOST_KEY_SEED, FAKE_API_TOKEN, FAKE_CEPH_CLIENT_KEY):
        assert not any(secret in t for t in texts)
        assert not project.files_containing(secret)
    assert not project.files_containing("FAKE-KEY")


def test_bad_config_stops_the_real_engine_before_any_resource(project):
    config = dev_config()
    config["swarm-ceph:nodes"][1]["ip"] = "10.10.9.11"  # outside network.cidr
    project.stack("dev", config, SECRETS)
    done = project.pulumi("up", "--yes", "--skip-preview")
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "swarm-ceph:nodes[1].ip 10.10.9.11 is outside network.cidr 10.10.1.0/24. Fix:" in out
    assert [r["type"] for r in project.resources()] == ["pulumi:pulumi:Stack"]  # nothing but the stack itself
    no_secret_anywhere(project, out)


def test_a_secret_set_in_clear_is_refused_by_name(project):
    project.stack("dev", dev_config(), {"swarm-ceph:proxmoxApiToken": FAKE_API_TOKEN})
    project.ok("config", "set", "swarm-ceph:sshPrivateKey", stdin="FAKE-KEY-in-clear")  # no --secret
    done = project.pulumi("preview")
    assert done.returncode != 0
    assert "swarm-ceph:sshPrivateKey is stored in clear text. Fix: `pulumi config rm swarm-ceph:sshPrivateKey`" in (
        done.stdout + done.stderr
    )


def planned(nodes: int, token_kinds: int, storage: str = "microceph", extra_stacks: int = 1) -> Counter:
    """What `pulumi up` must create on Proxmox for ``nodes`` clones whose roles need ``token_kinds`` join tokens
    (1: workers only or managers only besides the first; 2: both), with ``storage.type`` ``storage`` (microceph or
    cephfs: an existing cluster's CephFS) and ``extra_stacks`` entries in swarm-ceph:stacks (the committed stacks
    have one: kv)."""
    microceph = storage == "microceph"
    # Remote steps: per node: ready, Swarm node (labels), mount, IO check, serve check; per node but the first:
    # Swarm join; once: seal, init, page, nginx's server config file, deploy; the tokens; a deploy per extra stack.
    remote = 5 * nodes + (nodes - 1) + 5 + token_kinds + extra_stacks
    if microceph:  # per node: OSD; per node but the first: MicroCeph add and join; once: bootstrap, health, two
        remote += nodes + 2 * (nodes - 1) + 5  # Ceph options (MDS failover), filesystem
    counts = Counter(
        {
            "pulumi:pulumi:Stack": 1,
            "pulumi:providers:proxmoxve": 1,
            "swarm-ceph:index:SecurityGroup": 1,
            "proxmoxve:cluster/firewall/security/groupLegacy:GroupLegacy": 1,
            "swarm-ceph:index:TemplateVM": 1,
            "proxmoxve:download/file:File": 1,  # the cloud image
            "proxmoxve:index/fileLegacy:FileLegacy": nodes + 1,  # a user-data snippet per VM
            "proxmoxve:index/vmLegacy:VmLegacy": nodes + 1,  # the template and the clones
            "command:local:Command": 1,  # the template conversion (PVE API)
            "swarm-ceph:index:NodeVM": nodes,
            "proxmoxve:firewall/rulesLegacy:RulesLegacy": nodes,
            "proxmoxve:firewall/optionsLegacy:OptionsLegacy": nodes,
            "swarm-ceph:index:SwarmCluster": 1,
            "swarm-ceph:index:MicroCephCluster": 1 if microceph else 0,
            "swarm-ceph:index:CephFSMount": 1,
            "swarm-ceph:index:DockerStack": 1 + extra_stacks,
            "command:remote:Command": remote,
        }
    )
    return +counts  # without the zero counts


@pytest.mark.parametrize(("stack", "nodes", "token_kinds"), [("dev", 3, 1), ("prod", 5, 2)])
def test_preview_plans_every_resource_with_the_real_providers(project, stack, nodes, token_kinds):
    """The committed stack config, read by the engine, against a fake endpoint:
    the providers accept every input, the plan has every resource we expect (the same as the mock runs of the unit
    tests), no warning (no deprecated resource), and no secret in the output or the files."""
    project.stack(stack, offline(stack), SECRETS)
    done = project.ok("preview", "--json")
    report = json.loads(done.stdout)
    assert report["changeSummary"] == {"create": sum(planned(nodes, token_kinds).values())}
    plan = Counter(s["newState"]["type"] for s in report["steps"] if s["op"] == "create")
    assert plan == planned(nodes, token_kinds)
    mocked = run_stack(stack)
    assert plan == Counter(r.type for r in mocked.resources.values()) + Counter({"pulumi:pulumi:Stack": 1})
    assert report.get("diagnostics", []) == [], report["diagnostics"]
    no_secret_anywhere(project, done.stdout, done.stderr)


def test_preview_of_a_cephfs_stack_with_published_ports(project):
    """dev mounting an existing cluster's CephFS (storage.type cephfs): no MicroCeph, the client key set with
    --secret reaches no output, state or file in clear. Its kv stack lists published ports: the provider accepts the
    security group's rules for them."""
    config = dev_config()
    config["swarm-ceph:storage"] = {"type": "cephfs", "monitors": ["10.10.1.2", "10.10.1.3:6789"], "client": "fuse"}
    config["swarm-ceph:stacks"][0]["publishedPorts"] = ["5353/udp", 9000]
    project.stack("dev", config, {**SECRETS, "swarm-ceph:cephClientKey": FAKE_CEPH_CLIENT_KEY})
    done = project.ok("preview", "--json")
    report = json.loads(done.stdout)
    plan = Counter(s["newState"]["type"] for s in report["steps"] if s["op"] == "create")
    assert plan == planned(3, 1, storage="cephfs")
    mocked = run_program(*with_secrets(config))
    assert plan == Counter(r.type for r in mocked.resources.values()) + Counter({"pulumi:pulumi:Stack": 1})
    mounts = [s for s in report["steps"] if s["urn"].endswith("-mount")]
    assert len(mounts) == 3
    assert all(" fuse.ceph ceph.id=swarm," in s["newState"]["inputs"]["create"] for s in mounts)
    group_type = "proxmoxve:cluster/firewall/security/groupLegacy:GroupLegacy"
    (group,) = [s["newState"]["inputs"] for s in report["steps"] if s["newState"]["type"] == group_type]
    lan = [(r["proto"], r["dport"], r["comment"]) for r in group["rules"] if r["source"] == "192.168.0.0/24"]
    assert lan[-2:] == [("udp", "5353", "stack kv"), ("tcp", "9000", "stack kv")]
    assert report.get("diagnostics", []) == [], report["diagnostics"]
    no_secret_anywhere(project, done.stdout, done.stderr)


def test_a_stack_made_with_the_deprecated_image_type_keeps_its_image(project):
    """The image moved from download.FileLegacy to download.File (components/template_vm.py). A stack whose state
    has the image as a FileLegacy (written here as its state would be; PVE is out of reach) is upgraded in place by
    the alias: `pulumi up` on the image alone succeeds against the fake endpoint, so the provider made no API call
    (no download, no delete), and the state then holds the same image, same id, under the new type."""
    project.stack("dev", dev_config(), SECRETS)
    new = next(s["newState"] for s in project.preview()["steps"] if s["urn"].endswith("::template-image"))
    assert new["type"] == "proxmoxve:download/file:File"
    template, provider = new["parent"], new["provider"].rsplit("::", 1)[0]
    project.ok("up", "--yes", "--skip-preview", "--target", provider, "--target", template)  # no API call either
    state = json.loads(project.ok("stack", "export").stdout)
    (provider_state,) = [r for r in state["deployment"]["resources"] if r["urn"] == provider]
    volume = f"local:import/{new['inputs']['fileName']}"
    outputs = {**new["inputs"], "id": volume, "overwrite": True, "overwriteUnmanaged": False, "verify": True}
    state["deployment"]["resources"].append(
        {
            "urn": new["urn"].replace("download/file:File", "download/fileLegacy:FileLegacy"),
            "custom": True,
            "id": volume,
            "type": "proxmoxve:download/fileLegacy:FileLegacy",
            "inputs": new["inputs"],
            "outputs": {**outputs, "size": 123456},
            "parent": template,
            "provider": f"{provider}::{provider_state['id']}",
        }
    )
    exported = project.root.parent / "state.json"
    exported.write_text(json.dumps(state))
    project.ok("stack", "import", "--file", str(exported))

    ran = project.up("--target", new["urn"])
    assert list(ran) == ["same"] and "template-image" in ran["same"]  # nothing created, replaced or deleted
    (image,) = [r for r in project.resources() if r["urn"].endswith("::template-image")]
    assert (image["type"], image["id"], image["urn"]) == (new["type"], volume, new["urn"])


def test_preview_of_the_older_pve_path_with_a_pve_ssh_port_and_a_microceph_channel(project):
    """image.importMethod iso (PVE before 8.4: an `iso` volume named .img, the disk imported over SSH by the
    provider), proxmox.sshPort and storage.microcephChannel: the real provider accepts the image, the template's
    disk from its file_id and the provider's SSH port; the template's user-data installs MicroCeph from the channel."""
    config = dev_config()
    del config["swarm-ceph:image"]["fileName"]  # the default name for the method
    config["swarm-ceph:image"]["importMethod"] = "iso"
    config["swarm-ceph:proxmox"]["sshPort"] = 2222
    config["swarm-ceph:storage"] = {**config["swarm-ceph:storage"], "microcephChannel": "reef/stable"}
    project.stack("dev", config, SECRETS)
    done = project.ok("preview", "--json")
    report = json.loads(done.stdout)
    plan = Counter(s["newState"]["type"] for s in report["steps"] if s["op"] == "create")
    assert plan == planned(3, 1)
    new = {s["urn"].rsplit("::", 1)[1]: s["newState"] for s in report["steps"]}
    image = new["template-image"]["inputs"]
    assert (image["contentType"], image["fileName"]) == ("iso", "debian-12-genericcloud-amd64.img")
    (disk,) = new["template"]["inputs"]["disks"]
    assert "importFrom" not in disk and "fileId" in disk  # the image's id, unknown until it is downloaded
    (provider,) = [s for s in new.values() if s["type"] == "pulumi:providers:proxmoxve"]
    ssh = provider["inputs"]["ssh"]
    assert (json.loads(ssh) if isinstance(ssh, str) else ssh)["nodes"][0]["port"] == 2222
    assert report.get("diagnostics", []) == [], report["diagnostics"]
    no_secret_anywhere(project, done.stdout, done.stderr)
