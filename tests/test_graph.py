"""The dev stack under Pulumi's mock runtime: every component and resource, their inputs, and their order."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from components.host_keys import derive_host_key
from lab import program
from lab.program import (
    FAKE_CEPH_CLIENT_KEY,
    FAKE_HOST_KEY_SEED,
    PROJECT,
    is_secret,
    run_program,
    stack_config,
    with_secrets,
)
from lab.stack_config import LAB_SPARES, lab_mount, lab_stack_config, vm_lab_stack_config
from lab.vm.seed import VM_LAB_NODES, vm_host_key

VM = "proxmoxve:index/vmLegacy:VmLegacy"
REMOTE = "command:remote:Command"
FILE = "proxmoxve:index/fileLegacy:FileLegacy"
SNIPPET = "proxmoxve:index/fileLegacy:FileLegacy"


def test_components_exist(dev_run):
    types = {r.type for r in dev_run.resources.values() if not r.custom}
    assert types == {
        "swarm-ceph:index:SecurityGroup",
        "swarm-ceph:index:TemplateVM",
        "swarm-ceph:index:NodeVM",
        "swarm-ceph:index:SwarmCluster",
        "swarm-ceph:index:MicroCephCluster",
        "swarm-ceph:index:CephFSMount",
        "swarm-ceph:index:DockerStack",
    }


def test_security_group_ports_and_sources(dev_run):
    (group,) = dev_run.of_type("proxmoxve:cluster/firewall/security/groupLegacy:GroupLegacy")
    rules = {(r.get("proto"), r.get("dport"), r["source"], r["action"], r["type"]) for r in group.inputs["rules"]}
    cluster, lan = "10.10.1.0/24", "192.168.0.0/24"
    assert rules == {
        ("tcp", "2377", cluster, "ACCEPT", "in"),
        ("tcp", "7946", cluster, "ACCEPT", "in"),
        ("udp", "7946", cluster, "ACCEPT", "in"),
        ("udp", "4789", cluster, "ACCEPT", "in"),
        ("tcp", "3300", cluster, "ACCEPT", "in"),
        ("tcp", "6789", cluster, "ACCEPT", "in"),
        ("tcp", "6800:7300", cluster, "ACCEPT", "in"),
        ("tcp", "7443", cluster, "ACCEPT", "in"),
        ("tcp", "22", lan, "ACCEPT", "in"),
        ("tcp", "8080", lan, "ACCEPT", "in"),
    }
    # the datacenter firewall is opt-in
    assert not dev_run.of_type("proxmoxve:cluster/firewallLegacy:FirewallLegacy")


def test_intra_cluster_option_replaces_the_port_list():
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:network"] = dict(cfg["swarm-ceph:network"], allowIntraCluster=True, enableDatacenterFirewall=True)
    run = run_program(*with_secrets(cfg))
    (group,) = run.of_type("proxmoxve:cluster/firewall/security/groupLegacy:GroupLegacy")
    cluster_rules = [r for r in group.inputs["rules"] if r["source"] == "10.10.1.0/24"]
    assert cluster_rules == [
        {"action": "ACCEPT", "comment": "all traffic between cluster nodes", "source": "10.10.1.0/24", "type": "in"}
    ]
    (dc,) = run.of_type("proxmoxve:cluster/firewallLegacy:FirewallLegacy")
    assert dc.inputs["enabled"] is True


def test_image_moved_to_download_file_keeps_its_identity(monkeypatch):
    """The image is a download.File (FileLegacy is deprecated): same name, same parent, and the old type as an
    alias, so that a stack made with FileLegacy keeps its image instead of downloading it again."""
    aliases: dict[str, list[tuple]] = {}
    register = program._RecordingMonitor.RegisterResource  # noqa: SLF001 - the aliases are not recorded

    def recording(self, request):
        aliases[request.name] = [(a.spec.type, a.spec.name, a.spec.parentUrn, a.spec.noParent) for a in request.aliases]
        return register(self, request)

    monkeypatch.setattr(program._RecordingMonitor, "RegisterResource", recording)  # noqa: SLF001
    run = run_program(*with_secrets(stack_config("dev")))
    assert run.of_type("proxmoxve:download/fileLegacy:FileLegacy") == []
    (image,) = run.of_type("proxmoxve:download/file:File")
    (template,) = run.of_type("swarm-ceph:index:TemplateVM")
    assert image.name == "template-image" and image.parent == template.urn
    # Only the type differs: no name, no parent in the alias means the resource's own.
    assert aliases["template-image"] == [("proxmoxve:download/fileLegacy:FileLegacy", "", "", False)]


def test_template_and_three_clones(dev_run):
    vms = {r.inputs["vmId"]: r for r in dev_run.of_type(VM)}
    assert sorted(vms) == [110, 111, 112, 9000]
    template = vms[9000]
    assert template.inputs["disks"][0]["importFrom"] == "template-image-id"
    assert template.inputs["started"] is True and "template" in template.ignore_changes
    (image,) = dev_run.of_type("proxmoxve:download/file:File")
    assert image.inputs["contentType"] == "import" and image.inputs["checksum"] and image.inputs["checksumAlgorithm"]
    expected = {
        110: ("swarm-master", "10.10.1.10/24"),
        111: ("swarm-worker1", "10.10.1.11/24"),
        112: ("swarm-worker2", "10.10.1.12/24"),
    }
    for vm_id, (name, address) in expected.items():
        vm = vms[vm_id]
        assert vm.inputs["name"] == name
        assert vm.inputs["clone"] == {
            "full": True,
            "vmId": 9000,
            "nodeName": "pve",
            "datastoreId": "local-lvm",
            "retries": 3,
        }
        (ip,) = vm.inputs["initialization"]["ipConfigs"]
        assert ip["ipv4"] == {"address": address, "gateway": "10.10.1.1"}
        (disk,) = vm.inputs["disks"]
        assert disk["interface"] == "scsi1" and disk["size"] == 50
        assert vm.inputs["networkDevices"][0]["firewall"] is True
        assert vm.inputs["agent"]["enabled"] is True and vm.inputs["stopOnDestroy"] is True
        # the snippet's volume id, known before the snippet exists (the provider's id for it): the VM waits for it
        assert vm.inputs["initialization"]["userDataFileId"] == f"local:snippets/{name}-user-data.yaml"
        assert dev_run.depends_on(vm, dev_run.named(f"{name}-user-data"))
        assert dev_run.depends_on(vm, dev_run.named("template-convert"))
        assert not vm.replace_with and not vm.delete_before_replace  # a new snippet never replaces a node


def test_every_node_has_firewall_options_and_group_rule(dev_run):
    options = {r.inputs["vmId"]: r.inputs for r in dev_run.of_type("proxmoxve:firewall/optionsLegacy:OptionsLegacy")}
    rules = {r.inputs["vmId"]: r.inputs["rules"] for r in dev_run.of_type("proxmoxve:firewall/rulesLegacy:RulesLegacy")}
    for vm_id in (110, 111, 112):
        assert options[vm_id]["enabled"] is True and options[vm_id]["inputPolicy"] == "DROP"
        assert rules[vm_id] == [{"securityGroup": "swarm-dev", "iface": "net0"}]


def test_template_is_sealed_then_converted(dev_run):
    seal, convert = dev_run.named("template-seal"), dev_run.named("template-convert")
    assert "template-seal.sh" in seal.inputs["create"] and seal.inputs["connection"]["host"] == "10.10.1.9"
    (template,) = [r for r in dev_run.of_type(VM) if r.inputs["vmId"] == 9000]
    assert dev_run.depends_on(seal, template) and dev_run.depends_on(convert, seal)
    # Sealed once per template VM: no later change of the step reaches the sealed, stopped VM; a new VM is sealed.
    assert (
        seal.replace_with == [template.urn] and "create" in seal.ignore_changes and "connection" in seal.ignore_changes
    )
    assert not seal.retain_on_delete and convert.replace_with == [seal.urn]  # a new seal, a new conversion


@pytest.mark.parametrize(
    "storage, expected",
    [
        ({}, "microceph qemu-ga curl docker mount.ceph microceph"),  # dev: microceph, kernel client
        ({"client": "fuse"}, "microceph qemu-ga curl docker ceph-fuse microceph"),
        ({"type": "cephfs", "monitors": ["10.10.1.2"]}, "- qemu-ga curl docker mount.ceph"),
        ({"type": "cephfs", "monitors": ["10.10.1.2"], "client": "fuse"}, "- qemu-ga curl docker ceph-fuse"),
        ({"type": "existing", "path": "/srv/shared"}, "- qemu-ga curl docker"),
    ],
)
def test_the_seal_checks_what_the_template_installs_for_its_storage(storage, expected):
    """The seal finds the snap to find held (- for none) and the commands the template's packages bring, as the
    storage settings decide them (an earlier seal required MicroCeph whatever the storage: found by the VM lab)."""
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:storage"] = {**cfg["swarm-ceph:storage"], **storage}
    seal = run_program(*with_secrets(cfg)).named("template-seal")
    assert seal.inputs["create"].endswith(f"template-seal.sh 1800 {expected}")


def test_swarm_steps(dev_run):
    (init,) = dev_run.commands("swarm-init.sh")
    assert init.name == "swarm-swarm-master-join" and init.inputs["create"].endswith("swarm-init.sh 10.10.1.10")
    assert init.inputs["connection"]["host"] == "10.10.1.10" and "swarm-leave.sh" in init.inputs["delete"]
    assert init.aliases == ["swarm-init"]  # its name before every node had a join step: existing stacks keep it
    tokens = dev_run.commands("swarm-token.sh")
    assert [t.name for t in tokens] == ["swarm-worker-token"]  # dev has no second manager
    joins = {j.inputs["connection"]["host"]: j for j in dev_run.commands("swarm-join.sh")}
    assert sorted(joins) == ["10.10.1.11", "10.10.1.12"]
    for join in joins.values():
        assert (
            join.inputs["stdin"]
            == "SWMTKN-1-0fakeworkertoken0000000000000000000000000000000000-workerpart0000000000000"
        )
        assert dev_run.depends_on(join, tokens[0]) and "swarm-leave.sh" in join.inputs["delete"]
        assert join.aliases == []
    # joins run in parallel: neither waits for the other
    a, b = joins.values()
    assert not dev_run.depends_on(a, b) and not dev_run.depends_on(b, a)
    members = dev_run.commands("swarm-node.sh")
    assert len(members) == 3 and all(m.inputs["connection"]["host"] == "10.10.1.10" for m in members)
    for member in members:  # apply HOSTNAME TIMEOUT_S ROLE AVAILABILITY [KEY=VALUE...]
        node = member.name.removeprefix("swarm-").removesuffix("-node")
        role = "manager" if node == "swarm-master" else "worker"
        assert member.inputs["create"].endswith(f"swarm-node.sh apply {node} 120 {role} active ceph=true"), member.name
        # the leader cannot remove itself (it leaves last, by its join's delete); the others are removed there
        assert (member.inputs.get("delete") is None) == (node == "swarm-master"), member.name
        assert dev_run.depends_on(member, init)  # so the leader leaves after every other node is removed


def test_microceph_steps(dev_run):
    (bootstrap,) = dev_run.commands("microceph-bootstrap.sh")
    adds = dev_run.commands("microceph-add.sh")
    joins = dev_run.commands("microceph-join.sh")
    disks = dev_run.commands("microceph-disk.sh")
    assert bootstrap.inputs["connection"]["host"] == "10.10.1.10"
    assert [a.inputs["connection"]["host"] for a in adds] == ["10.10.1.10", "10.10.1.10"]
    assert sorted(j.inputs["connection"]["host"] for j in joins) == ["10.10.1.11", "10.10.1.12"]
    assert len(disks) == 3 and all("--wipe" not in d.inputs["create"].split("microceph-disk.sh")[1] for d in disks)
    assert all("/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi1" in d.inputs["create"] for d in disks)
    for add, join in zip(adds, joins, strict=True):
        assert dev_run.depends_on(join, add) and dev_run.depends_on(add, bootstrap)
    # joins are serialized: the second add waits for the first join
    assert dev_run.depends_on(adds[1], joins[0])
    (health,) = dev_run.commands("ceph-health.sh")
    assert all(dev_run.depends_on(health, d) for d in disks)
    for disk in disks:
        host = disk.inputs["connection"]["host"]
        own = [j for j in joins if j.inputs["connection"]["host"] == host] or [bootstrap]
        assert dev_run.depends_on(disk, own[0])


def test_microceph_shortens_the_mds_failover_and_destroy_takes_it_back(dev_run):
    """After HEALTH_OK, on the bootstrap node, one step per option: mds_beacon_mon_down_grace for the MONs
    (storage.mdsBeaconMonDownGraceS, 10 s by default; Ceph's 60 s) and mds_reconnect_timeout for the MDSs
    (storage.mdsReconnectTimeoutS, 15 s; Ceph's 45 s); each delete removes exactly that value again."""
    steps = {s.name: s for s in dev_run.commands("ceph-config.sh")}
    assert sorted(steps) == ["microceph-mds-grace", "microceph-mds-reconnect"]
    for name, setting in (
        ("microceph-mds-grace", "mon mds_beacon_mon_down_grace 10"),
        ("microceph-mds-reconnect", "mds mds_reconnect_timeout 15"),
    ):
        step = steps[name]
        assert step.parent == dev_run.named("microceph").urn and step.inputs["connection"]["host"] == "10.10.1.10"
        assert step.inputs["create"].endswith(f"ceph-config.sh set {setting}")
        assert step.inputs["delete"].endswith(f"ceph-config.sh rm {setting}")
        assert dev_run.depends_on(step, dev_run.commands("ceph-health.sh")[0])


def test_the_mds_failover_options_follow_the_config():
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:storage"] = {**cfg["swarm-ceph:storage"], "mdsBeaconMonDownGraceS": 20, "mdsReconnectTimeoutS": 30}
    steps = sorted(run_program(*with_secrets(cfg)).commands("ceph-config.sh"), key=lambda s: s.name)
    assert [s.inputs["create"].split("ceph-config.sh ")[-1] for s in steps] == [
        "set mon mds_beacon_mon_down_grace 20",
        "set mds mds_reconnect_timeout 30",
    ]
    assert [s.inputs["delete"].split("ceph-config.sh ")[-1] for s in steps] == [
        "rm mon mds_beacon_mon_down_grace 20",
        "rm mds mds_reconnect_timeout 30",
    ]


def test_cephfs_steps(dev_run):
    (fs,) = dev_run.commands("cephfs-create.sh")
    assert fs.name == "microceph-filesystem" and fs.parent == dev_run.named("microceph").urn
    assert "cephfs_metadata cephfs_data 300 swarm" in fs.inputs["create"].replace("'", "")
    assert dev_run.depends_on(fs, dev_run.commands("ceph-health.sh")[0])
    # it prints the client's key: a secret step
    assert "stdout" in fs.secret_outputs and fs.inputs["logging"] == "none"
    mounts = dev_run.commands("cephfs-mount.sh")
    assert sorted(m.inputs["connection"]["host"] for m in mounts) == ["10.10.1.10", "10.10.1.11", "10.10.1.12"]
    assert sorted(m.name for m in mounts) == [
        f"cephfs-{n}-mount" for n in ("swarm-master", "swarm-worker1", "swarm-worker2")
    ]
    for mount in mounts:
        assert dev_run.depends_on(mount, fs)
        create = mount.inputs["create"]
        assert "10.10.1.10,10.10.1.11,10.10.1.12:/ /mnt/cephfs ceph " in create
        assert "name=swarm,secretfile=/etc/ceph/swarm-ceph.client.swarm.secret,fs=cephfs," in create
        assert "noatime,_netdev,x-systemd.automount" in create
        assert "mon_host = 10.10.1.10,10.10.1.11,10.10.1.12" in create and " kernel " in create
        assert mount.inputs["stdin"] == FAKE_CEPH_CLIENT_KEY  # the filesystem step's stdout, stripped
        assert "cephfs-umount.sh /mnt/cephfs /etc/ceph/swarm-ceph.client.swarm.secret /etc/ceph/swarm-ceph.conf" in (
            mount.inputs["delete"].replace("'", "")
        )
    checks = dev_run.commands("io-check.sh")
    assert len(checks) == 3 and all(dev_run.depends_on(c, m) for c in checks for m in mounts)


def cephfs_config(**storage) -> dict:
    """dev with the CephFS of an existing cluster (Proxmox's own Ceph) instead of MicroCeph."""
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:storage"] = {
        "type": "cephfs",
        "mountPoint": "/mnt/pve-cephfs",
        "fsName": "cephfs",
        "monitors": ["10.10.1.2", "10.10.1.3:6789", "[fd00::4]:3300"],
        **storage,
    }
    return cfg


@pytest.fixture(scope="module")
def cephfs_run():
    return run_program(*with_secrets(cephfs_config()))


def test_cephfs_mode_mounts_the_existing_cluster_without_microceph(cephfs_run):
    run = cephfs_run
    types = {r.type for r in run.resources.values() if not r.custom}
    assert "swarm-ceph:index:MicroCephCluster" not in types and "swarm-ceph:index:CephFSMount" in types
    microceph_only = ("microceph-bootstrap.sh", "microceph-disk.sh", "ceph-health.sh", "ceph-config.sh")
    for script in (*microceph_only, "cephfs-create.sh"):
        assert not run.commands(script), script
    mounts = run.commands("cephfs-mount.sh")
    assert sorted(m.name for m in mounts) == [
        f"cephfs-{n}-mount" for n in ("swarm-master", "swarm-worker1", "swarm-worker2")
    ]
    for mount in mounts:
        create = mount.inputs["create"]
        assert "10.10.1.2,10.10.1.3:6789,[fd00::4]:3300:/ /mnt/pve-cephfs ceph name=swarm," in create
        assert is_secret(mount.raw_inputs["stdin"]) and mount.inputs["stdin"] == FAKE_CEPH_CLIENT_KEY
        assert mount.inputs["logging"] == "none" and "stdout" in mount.secret_outputs
        # waits for its host only
        (ready,) = [
            r
            for r in run.commands("wait-ready.sh")
            if r.inputs["connection"]["host"] == mount.inputs["connection"]["host"]
        ]
        assert run.direct_custom_deps(mount.urn) == {ready.urn}
    (deploy,) = [d for d in run.commands("stack-deploy.sh") if d.name == "stack-deploy"]
    assert "HTML_DIR=/mnt/pve-cephfs/html" in deploy.inputs["create"]
    assert all(run.depends_on(deploy, c) for c in run.commands("io-check.sh"))
    assert run.outputs["cephFilesystem"] == "cephfs" and run.outputs["sharedPath"] == "/mnt/pve-cephfs"


def test_cephfs_mode_opens_no_ceph_port_and_installs_only_the_client(cephfs_run):
    (group,) = cephfs_run.of_type("proxmoxve:cluster/firewall/security/groupLegacy:GroupLegacy")
    ports = {r.get("dport") for r in group.inputs["rules"]}
    assert ports == {"2377", "7946", "4789", "22", "8080"}
    (snippet,) = [s for s in cephfs_run.of_type(SNIPPET) if s.name == "template-user-data"]
    doc = yaml.safe_load(snippet.inputs["sourceRaw"]["data"])
    assert "ceph-common" in doc["packages"] and "snapd" not in doc["packages"]
    assert not [c for c in doc["runcmd"] if "snap" in c]


def test_cephfs_mode_with_the_fuse_client():
    run = run_program(*with_secrets(cephfs_config(client="fuse", clientName="k8s.swarm")))
    for mount in run.commands("cephfs-mount.sh"):
        create = mount.inputs["create"]
        assert (
            "none /mnt/pve-cephfs fuse.ceph ceph.id=k8s.swarm,ceph.conf=/etc/ceph/swarm-ceph.conf,"
            "noatime,_netdev,x-systemd.automount 0 0"
        ) in create
        assert " fuse /etc/ceph/swarm-ceph.client.k8s.swarm.secret " in create.replace("'", " ")
    (snippet,) = [s for s in run.of_type(SNIPPET) if s.name == "template-user-data"]
    packages = yaml.safe_load(snippet.inputs["sourceRaw"]["data"])["packages"]
    assert "ceph-fuse" in packages and "ceph-common" not in packages


def web_deploy(run):
    """The web stack's deploy step (the extra stacks have theirs: stack-<name>-deploy)."""
    return run.named("stack-deploy")


def test_stack_runs_after_every_mount_and_the_swarm(dev_run):
    deploy = web_deploy(dev_run)
    assert deploy.parent == dev_run.named("stack").urn
    assert deploy.inputs["connection"]["host"] == "10.10.1.10"
    assert " always " in deploy.inputs["create"].replace("'", " ")
    assert "services:" in deploy.inputs["stdin"] and "mode: global" in deploy.inputs["stdin"]
    assert "stack-deploy.sh remove mystack" in deploy.inputs["delete"].replace("'", "")
    for dependency in (
        dev_run.commands("cephfs-mount.sh") + dev_run.commands("io-check.sh") + dev_run.commands("swarm-node.sh")
    ):
        assert dev_run.depends_on(deploy, dependency), dependency.name
    (page,) = dev_run.commands("stack-page.sh")
    assert dev_run.depends_on(deploy, page) and "<h1>" in page.inputs["stdin"]
    serves = dev_run.commands("serve-check.sh")
    assert sorted(s.inputs["connection"]["host"] for s in serves) == ["10.10.1.10", "10.10.1.11", "10.10.1.12"]
    assert all(dev_run.depends_on(s, deploy) for s in serves)
    assert all(s.inputs["create"].replace("'", "").endswith(" mystack_web") for s in serves)  # told to reload


def test_nginx_server_config_is_put_beside_the_compose_file_before_the_deploy(dev_run):
    """stacks/nginx/default.conf: a step of its own on the manager (its text the step's stdin), which the deploy
    waits for; the deploy names the Swarm config by its digest and the delete removes the file."""
    deploy = web_deploy(dev_run)
    (conf,) = dev_run.commands("stack-file.sh")
    assert conf.name == "stack-file-default.conf" and conf.parent == dev_run.named("stack").urn
    assert conf.inputs["connection"]["host"] == "10.10.1.10" and dev_run.depends_on(deploy, conf)
    assert conf.inputs["stdin"] == (PROJECT / "stacks/nginx/default.conf").read_text()
    assert (
        conf.inputs["create"].replace("'", "").endswith("stack-file.sh put /opt/swarm-ceph/stacks/mystack default.conf")
    )
    assert (
        conf.inputs["delete"]
        .replace("'", "")
        .endswith("stack-file.sh remove /opt/swarm-ceph/stacks/mystack default.conf")
    )
    assert re.search(r" WEB_CONF_DIGEST=[0-9a-f]{16}\b", deploy.inputs["create"].replace("'", ""))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_kv_stack_deploys_with_its_data_dir_after_the_storage(stack, dev_run, prod_run):
    run = {"dev": dev_run, "prod": prod_run}[stack]
    deploys = run.commands("stack-deploy.sh")
    assert sorted(d.name for d in deploys) == ["stack-deploy", "stack-kv-deploy"]
    kv = run.named("stack-kv-deploy")
    component = run.named("stack-kv")
    assert component.type == "swarm-ceph:index:DockerStack" and kv.parent == component.urn
    assert [r.name for r in run.resources.values() if r.parent == component.urn] == ["stack-kv-deploy"]  # no page
    create = kv.inputs["create"].replace("'", "")
    leader = "10.10.1.10" if stack == "dev" else "10.10.2.21"
    assert kv.inputs["connection"]["host"] == leader
    assert create.endswith(
        "stack-deploy.sh deploy kv /opt/swarm-ceph/stacks/kv always 300 DATA_DIR=/mnt/cephfs/kv KV_IMAGE=redis:7.2"
    )
    assert "redis-server" in kv.inputs["stdin"] and "${DATA_DIR}" in kv.inputs["stdin"]
    assert kv.inputs["delete"].replace("'", "").endswith("stack-deploy.sh remove kv 300")
    # after the same steps as the web stack (the whole Swarm, every mount and IO check), not after the web stack
    for dependency in run.commands("cephfs-mount.sh") + run.commands("io-check.sh") + run.commands("swarm-node.sh"):
        assert run.depends_on(kv, dependency), dependency.name
    web = web_deploy(run)
    assert not run.depends_on(kv, web) and not run.depends_on(web, kv)
    assert not run.depends_on(kv, run.named("stack-page"))


def test_a_further_stacks_published_ports_are_opened_and_an_unlisted_one_is_named(tmp_path, caplog):
    """stacks[].publishedPorts are opened to the LAN in the security group; a port the compose file publishes that
    is not among them (it stays closed on PVE) is named in a warning. Without PVE (hosts mode) nothing is said."""
    compose = tmp_path / "dns.yml"
    compose.write_text(
        "services:\n  dns:\n    image: ${DNS_IMAGE}\n    ports:\n"
        "      - {target: 53, published: 5353, protocol: udp, mode: host}\n      - '${ADMIN_PORT:-9000}:80'\n"
    )
    dns = {"name": "dns", "composeFile": str(compose), "environment": {"DNS_IMAGE": "dns:1"}}
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:stacks"] = [*cfg["swarm-ceph:stacks"], dict(dns, publishedPorts=["5353/udp"])]
    with caplog.at_level("WARNING"):
        run = run_program(*with_secrets(cfg))
    (group,) = run.of_type("proxmoxve:cluster/firewall/security/groupLegacy:GroupLegacy")
    lan = [(r["proto"], r["dport"], r["comment"]) for r in group.inputs["rules"] if r["source"] == "192.168.0.0/24"]
    assert lan == [("tcp", "22", "SSH"), ("tcp", "8080", "the published web page"), ("udp", "5353", "stack dns")]
    (warning,) = [r.getMessage() for r in caplog.records if "publishes" in r.getMessage()]
    assert warning.startswith("stack-dns: its compose file publishes 9000/tcp, which the PVE security group does not")
    assert "Fix: add them to swarm-ceph:stacks[].publishedPorts of the stack named dns" in warning

    caplog.clear()
    lab = lab_stack_config()["config"]
    lab["swarm-ceph:stacks"] = [dns]
    with caplog.at_level("WARNING"):
        run_program(*with_secrets(lab), stack="lab")
    assert not [r for r in caplog.records if "publishes" in r.getMessage()]


def test_no_extra_stack_without_the_setting():
    cfg = copy.deepcopy(stack_config("dev"))
    del cfg["swarm-ceph:stacks"]
    run = run_program(*with_secrets(cfg))
    assert [d.name for d in run.commands("stack-deploy.sh")] == ["stack-deploy"]
    assert len(run.of_type("swarm-ceph:index:DockerStack")) == 1


def test_a_drained_node_keeps_its_place_but_serves_no_page():
    """Drained (nodes[].availability): its swarm-node step drains it; it stays in the Swarm with its mount, but the
    web stack (a global service) has no task there, so no page check and no page URL. A paused node keeps its task:
    it is checked and listed."""
    cfg = copy.deepcopy(stack_config("dev"))
    nodes = cfg["swarm-ceph:nodes"]
    nodes[1]["availability"], nodes[2]["availability"] = "drain", "pause"
    run = run_program(*with_secrets(cfg))
    members = {m.name: m.inputs["create"].replace("'", "") for m in run.commands("swarm-node.sh")}
    assert members["swarm-swarm-master-node"].endswith("apply swarm-master 120 manager active ceph=true")
    assert members["swarm-swarm-worker1-node"].endswith("apply swarm-worker1 120 worker drain ceph=true")
    assert members["swarm-swarm-worker2-node"].endswith("apply swarm-worker2 120 worker pause ceph=true")
    assert "swarm-node.sh remove swarm-worker1" in run.named("swarm-swarm-worker1-node").inputs["delete"]
    serves = sorted(s.name for s in run.commands("serve-check.sh"))
    assert serves == ["stack-swarm-master-serves", "stack-swarm-worker2-serves"]
    assert run.outputs["pageUrls"] == ["http://10.10.1.10:8080/", "http://10.10.1.12:8080/"]
    assert run.outputs["nodes"]["swarm-worker1"] == "10.10.1.11"  # still a node of the platform
    assert len(run.commands("swarm-join.sh")) == 2 and len(run.commands("cephfs-mount.sh")) == 3
    assert len(run.commands("microceph-disk.sh")) == 3
    deploy = web_deploy(run)
    assert all(run.depends_on(deploy, m) for m in run.commands("swarm-node.sh"))  # drained before the deploy


def test_every_remote_step_waits_for_its_host(dev_run):
    """So that at destroy time each step's delete runs while its VM still exists."""
    vms = {
        r.inputs["initialization"]["ipConfigs"][0]["ipv4"]["address"].split("/")[0]: r
        for r in dev_run.of_type(VM)
        if r.inputs["vmId"] != 9000
    }
    for step in dev_run.of_type(REMOTE):
        host = step.inputs["connection"]["host"]
        if host in vms:
            assert dev_run.depends_on(step, vms[host]), step.name


def test_prod_stack_evaluates(prod_run):
    vms = [r for r in prod_run.of_type(VM) if r.inputs["vmId"] != 9100]
    assert len(vms) == 5
    assert sorted(t.name for t in prod_run.commands("swarm-token.sh")) == ["swarm-manager-token", "swarm-worker-token"]
    joins = prod_run.commands("swarm-join.sh")
    manager_joins = [j for j in joins if "managerpart" in j.inputs["stdin"]]
    assert len(joins) == 4 and len(manager_joins) == 2
    assert len(prod_run.commands("cephfs-mount.sh")) == 5
    mount = prod_run.commands("cephfs-mount.sh")[0]
    assert "10.10.2.21,10.10.2.22,10.10.2.23:/ /mnt/cephfs ceph" in mount.inputs["create"]


def test_hosts_mode_creates_no_proxmox_resources_and_uses_the_shared_path(caplog):
    cfg = {
        k: v
        for k, v in stack_config("dev").items()
        if k not in ("swarm-ceph:proxmox", "swarm-ceph:image", "swarm-ceph:template")
    }
    cfg.update(
        {
            "swarm-ceph:infrastructure": "hosts",
            "swarm-ceph:ssh": {"user": "root"},
            "swarm-ceph:storage": {"type": "existing", "path": "/srv/shared"},
        }
    )
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqv0yzfJ9E8n2o1Cq1nVh8vX0xW4m9m0m4V7L3s3a9X"
    cfg["swarm-ceph:nodes"] = [
        dict(n, hostKey=host_key) if n["name"] == "swarm-worker1" else n for n in cfg["swarm-ceph:nodes"]
    ]
    with caplog.at_level("WARNING"):
        run = run_program(*with_secrets(cfg))
    pinned = {r.inputs["connection"]["host"] for r in run.of_type(REMOTE) if r.inputs["connection"].get("hostKey")}
    assert pinned == {"10.10.1.11"}  # the key pins that host's connections only
    unpinned = sorted(r.message.split(":")[0] for r in caplog.records if "hostKey is not set" in r.message)
    assert unpinned == ["swarm-master", "swarm-worker2"]  # the others are named, with the fix
    assert all("ssh-keyscan" in r.message for r in caplog.records if "hostKey is not set" in r.message)
    assert not [
        r
        for r in run.resources.values()
        if r.type.startswith("proxmoxve:") or r.type.startswith("pulumi:providers:proxmoxve")
    ]
    assert len(run.commands("wait-ready.sh")) == 3 and len(run.commands("shared-path.sh")) == 3
    assert not run.commands("microceph-bootstrap.sh")
    deploy = web_deploy(run)
    assert "HTML_DIR=/srv/shared/html" in deploy.inputs["create"]
    assert "DATA_DIR=/srv/shared/kv" in run.named("stack-kv-deploy").inputs["create"]
    assert all(run.depends_on(deploy, c) for c in run.commands("io-check.sh"))
    assert not deploy.inputs["create"].startswith("sudo")  # root needs no sudo


def test_bad_config_fails_before_any_resource():
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:nodes"][1]["ip"] = "10.10.7.7"
    with pytest.raises(Exception) as info:
        run_program(*with_secrets(cfg))
    assert "swarm-ceph:nodes[1].ip 10.10.7.7 is outside network.cidr" in str(info.value)


def test_lab_stack_config_evaluates_in_hosts_mode():
    cfg = lab_stack_config()["config"]
    run = run_program(*with_secrets(cfg), stack="lab")
    hosts = sorted(r.inputs["connection"]["host"] for r in run.commands("wait-ready.sh"))
    assert hosts == ["10.77.1.10", "10.77.1.11", "10.77.1.12"]
    deploy = web_deploy(run)
    assert "NGINX_IMAGE=swarm-ceph-lab/nginx" in deploy.inputs["create"] and " never " in deploy.inputs["create"]
    assert run.outputs["pageUrls"] == [f"http://10.77.1.{i}:8080/" for i in (10, 11, 12)]
    ceph = cfg["swarm-ceph:storage"]["type"] != "existing"
    assert ("cephFilesystem" in run.outputs) is ceph and run.outputs["sharedPath"] == "/mnt/cephfs"
    assert not any(
        r.inputs.get("connection", {}).get("host", "").startswith(("10.10.", "192.168."))
        for r in run.resources.values()
    )


def test_vm_lab_stack_config_evaluates_in_hosts_mode_as_the_default_user_with_the_kernel_client():
    """The `vmlab` stack (the engine runs it on the VM lab's VMs: tests/test_vm.py): every step on a VM, as the
    program's default user through sudo, the VM's derived host key pinned; the kernel client's fstab line."""
    cfg = vm_lab_stack_config()["config"]
    run = run_program(*with_secrets(cfg), stack="vmlab")
    ips = [ip for _, ip, _ in VM_LAB_NODES]
    assert sorted(r.inputs["connection"]["host"] for r in run.commands("wait-ready.sh")) == ips
    keys = {ip: vm_host_key(name).public for name, ip, _ in VM_LAB_NODES}
    for step in run.of_type(REMOTE):
        connection = step.inputs["connection"]
        assert connection["user"] == "debian" and connection["hostKey"] == keys[connection["host"]], step.name
        assert step.inputs["create"].startswith("sudo -n "), step.name
    mounts = run.commands("cephfs-mount.sh")
    assert len(mounts) == 3 and all(lab_mount(config={"config": cfg}).fstab in m.inputs["create"] for m in mounts)
    assert " ceph name=swarm," in lab_mount(config={"config": cfg}).fstab
    assert run.outputs["pageUrls"] == [f"http://{ip}:8080/" for ip in ips]


def test_editing_the_page_or_compose_file_changes_readable_inputs_in_place(tmp_path, dev_run):
    """A page/compose edit shows up as plain text in the step's stdin (a readable `preview --diff`), and as an
    update: no step has triggers (they force replacement) or a separate update command (create re-runs)."""
    page = tmp_path / "index.html"
    page.write_text("<h1>edited</h1>\n")
    compose = tmp_path / "compose.yml"
    compose.write_text((PROJECT / "stacks/nginx/docker-compose.yml").read_text().replace("delay: 2s", "delay: 5s"))
    conf = (PROJECT / "stacks/nginx/default.conf").read_text()
    (tmp_path / "default.conf").write_text(conf.replace("open_file_cache_valid    1h", "open_file_cache_valid    2h"))
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:stack"] = dict(cfg["swarm-ceph:stack"], pageFile=str(page), composeFile=str(compose))
    edited = run_program(*with_secrets(cfg))
    (old_page,), (new_page,) = dev_run.commands("stack-page.sh"), edited.commands("stack-page.sh")
    assert new_page.inputs["stdin"] == "<h1>edited</h1>\n" != old_page.inputs["stdin"]
    old_deploy, new_deploy = web_deploy(dev_run), web_deploy(edited)
    assert "delay: 5s" in new_deploy.inputs["stdin"] and "delay: 2s" in old_deploy.inputs["stdin"]
    (conf,) = [c for c in edited.commands("stack-file.sh") if c.name == "stack-file-default.conf"]
    assert "open_file_cache_valid    2h" in conf.inputs["stdin"]  # the config's file, as text
    digest = re.compile(r"WEB_CONF_DIGEST=[0-9a-f]{16}")
    assert digest.findall(new_deploy.inputs["create"]) != digest.findall(old_deploy.inputs["create"]) != []
    new_checks = {c.name: c.inputs["create"] for c in edited.commands("serve-check.sh")}
    old_checks = {c.name: c.inputs["create"] for c in dev_run.commands("serve-check.sh")}
    assert new_checks.keys() == old_checks.keys() and all(new_checks[k] != old_checks[k] for k in new_checks)
    for step in edited.of_type(REMOTE):
        assert "triggers" not in step.inputs and "update" not in step.inputs, step.name


def test_a_replaced_step_is_undone_before_it_is_done_again(dev_run):
    """pulumi-command replaces a step when its connection changes; create-before-delete would run the guarded
    create (a no-op: already done) and then the old delete (undoing it)."""
    steps = dev_run.of_type(REMOTE)
    assert steps and all(s.delete_before_replace for s in steps)


def test_stack_outputs(dev_run):
    assert dev_run.outputs == {
        "nodes": {"swarm-master": "10.10.1.10", "swarm-worker1": "10.10.1.11", "swarm-worker2": "10.10.1.12"},
        "managerAddress": "10.10.1.10:2377",
        "pageUrls": ["http://10.10.1.10:8080/", "http://10.10.1.11:8080/", "http://10.10.1.12:8080/"],
        "sharedPath": "/mnt/cephfs",
        "cephFilesystem": "cephfs",
    }


@pytest.mark.parametrize("stack", ["dev", "lab"])
def test_every_remote_step_waits_for_its_hosts_readiness(stack, dev_run):
    """A step's host answers before the step runs, and at destroy time the step is undone before its host goes
    (in hosts mode too, where no VM stands behind the readiness step)."""
    run = dev_run if stack == "dev" else run_program(*with_secrets(lab_stack_config()["config"]), stack="lab")
    ready = {r.inputs["connection"]["host"]: r for r in run.commands("wait-ready.sh")}
    assert len(ready) == 3
    steps = [s for s in run.of_type(REMOTE) if s.inputs["connection"]["host"] in ready]
    assert len(steps) > 3 * 5
    for step in steps:
        own = ready[step.inputs["connection"]["host"]]
        assert step is own or run.depends_on(step, own), step.name


def test_every_remote_step_on_a_vm_pins_that_vm_s_host_key(dev_run):
    """The key derived for the VM (and put into its user-data) is the only one its steps accept."""
    vms = {r.inputs["name"]: r for r in dev_run.of_type(VM)}
    user_data = {
        s.inputs["sourceRaw"]["fileName"]: yaml.safe_load(s.inputs["sourceRaw"]["data"])
        for s in dev_run.of_type("proxmoxve:index/fileLegacy:FileLegacy")
    }
    addresses = {"10.10.1.9": "debian12-swarm-template"}
    addresses |= {f"10.10.1.{10 + i}": n for i, n in enumerate(["swarm-master", "swarm-worker1", "swarm-worker2"])}
    steps = [s for s in dev_run.of_type(REMOTE) if s.inputs["connection"]["host"] in addresses]
    assert len(steps) == len(dev_run.of_type(REMOTE)) > 20
    for step in steps:
        name = addresses[step.inputs["connection"]["host"]]
        key = derive_host_key(FAKE_HOST_KEY_SEED, name)
        assert name in vms and step.inputs["connection"]["hostKey"] == key.public, step.name
        doc = user_data[f"{name}-user-data.yaml"]
        assert doc["ssh_keys"] == {"ed25519_private": key.private_openssh, "ed25519_public": key.public}


def test_snippet_file_mode_is_passed_when_set():
    cfg = stack_config("dev")
    assert all(s.inputs.get("fileMode") is None for s in run_program(*with_secrets(cfg)).of_type(SNIPPET))
    cfg = copy.deepcopy(cfg)
    cfg["swarm-ceph:proxmox"]["snippetFileMode"] = "0600"
    snippets = run_program(*with_secrets(cfg)).of_type(SNIPPET)
    assert len(snippets) == 4 and {s.inputs["fileMode"] for s in snippets} == {"0600"}


def test_a_lost_node_is_never_dialed_again_and_leaves_the_swarm():
    """nodes[].state: lost on a worker: every step on its host keeps its record (no input may change it, so nothing
    dials it) and is dropped without its delete once the node leaves nodes; its member step on the leader forgets
    it (demote, `docker node rm --force`) and has no delete left; nothing else expects it."""
    cfg = copy.deepcopy(lab_stack_config()["config"])
    cfg["swarm-ceph:nodes"] = [
        dict(n, state="lost") if n["name"] == "swarm-worker2" else n for n in cfg["swarm-ceph:nodes"]
    ]
    run = run_program(*with_secrets(cfg), stack="lab")
    lost_ip = "10.77.1.12"
    on_lost = [r for r in run.of_type(REMOTE) if r.inputs["connection"]["host"] == lost_ip]
    assert sorted(r.name for r in on_lost) == [
        "cephfs-swarm-worker2-mount",
        "swarm-swarm-worker2-join",
        "swarm-worker2-ready",
    ]
    every_input = {
        "connection",
        "create",
        "update",
        "delete",
        "stdin",
        "environment",
        "logging",
        "triggers",
        "addPreviousOutputInEnv",
    }
    for step in on_lost:
        assert step.retain_on_delete and set(step.ignore_changes) == every_input, step.name
        assert not [d for d in step.dependencies if d.endswith("-ready")], step.name  # it waits for nothing
    others = [r for r in run.of_type(REMOTE) if r.inputs["connection"]["host"] != lost_ip]
    assert others and not any(r.retain_on_delete or r.ignore_changes for r in others)
    names = {r.name for r in run.of_type(REMOTE)}
    forget = run.named("swarm-swarm-worker2-node")
    assert forget.inputs["connection"]["host"] == "10.77.1.10" and "delete" not in forget.inputs
    assert forget.inputs["create"].endswith("swarm-node.sh remove swarm-worker2")
    assert not [n for n in names if "worker2" in n and ("serves" in n or "io-check" in n)]
    for check in run.commands("io-check.sh"):
        assert check.inputs["create"].endswith("swarm-master swarm-worker1")
    assert "10.77.1.12" not in str(run.outputs["pageUrls"]) and "swarm-worker2" not in run.outputs["nodes"]


def test_a_lost_first_manager_hands_every_manager_side_step_to_the_next_manager():
    """nodes[].state: lost on the first manager (5-node lab config): the next manager in nodes becomes the leader.
    Every manager-side step keeps its name and only its connection (or arguments) change, so the engine updates it
    in place on the new leader: no create, no delete that would run on the lost host. The new leader's join becomes
    the swarm-init.sh that must find the Swarm (--existing); the lost one's member step forgets it there."""
    cfg = copy.deepcopy(lab_stack_config(size=5)["config"])
    before = run_program(*with_secrets(cfg), stack="lab")
    cfg["swarm-ceph:nodes"][0]["state"] = "lost"
    run = run_program(*with_secrets(cfg), stack="lab")
    master, manager2 = "10.77.1.10", "10.77.1.13"

    def names(r) -> set[str]:
        return {c.name for c in r.of_type(REMOTE)}

    # the lost node's own checks go (they have no delete); every other step is the same resource as before
    assert names(before) - names(run) == {"cephfs-swarm-master-io-check", "stack-swarm-master-serves"}
    assert names(run) <= names(before)
    on_lost = [r for r in run.of_type(REMOTE) if r.inputs["connection"]["host"] == master]
    assert sorted(r.name for r in on_lost) == [
        "cephfs-swarm-master-mount",
        "swarm-master-ready",
        "swarm-swarm-master-join",
    ]
    assert all(r.retain_on_delete and r.ignore_changes for r in on_lost)
    assert run.named("swarm-swarm-master-join").aliases == ["swarm-init"]  # still the first manager's, as named

    (init,) = run.commands("swarm-init.sh")
    assert init.name == "swarm-swarm-manager2-join" and init.inputs["connection"]["host"] == manager2
    assert init.inputs["create"].endswith(f"swarm-init.sh {manager2} --existing") and "stdin" not in init.inputs
    leader_side = [
        *run.commands("swarm-token.sh"),
        *run.commands("swarm-node.sh"),
        *run.commands("stack-deploy.sh"),
        *run.commands("stack-page.sh"),
        *run.commands("stack-file.sh"),
    ]
    assert len(leader_side) == 2 + 5 + 2 + 1 + 1
    for step in leader_side:
        assert step.inputs["connection"]["host"] == manager2, step.name
        assert not step.retain_on_delete and run.depends_on(step, init), step.name  # the leader leaves last
    forget = run.named("swarm-swarm-master-node")
    assert forget.inputs["create"].endswith("swarm-node.sh remove swarm-master") and "delete" not in forget.inputs
    assert "delete" not in run.named("swarm-swarm-manager2-node").inputs  # the leader does not remove itself
    for join in run.commands("swarm-join.sh"):
        if join.inputs["connection"]["host"] != master:
            assert f"swarm-join.sh {manager2} " in join.inputs["create"], join.name
    assert run.outputs["managerAddress"] == f"{manager2}:2377"
    assert "swarm-master" not in run.outputs["nodes"] and master not in str(run.outputs["pageUrls"])

    # Its entry replaced by a new manager: manager2 is now the first manager; its join no longer needs --existing and
    # takes the alias.
    spare = lab_stack_config(LAB_SPARES[5], size=5)["config"]["swarm-ceph:nodes"]
    cfg["swarm-ceph:nodes"] = cfg["swarm-ceph:nodes"][1:] + spare
    later = run_program(*with_secrets(cfg), stack="lab")
    (init,) = later.commands("swarm-init.sh")
    assert init.inputs["create"].endswith(f"swarm-init.sh {manager2}") and init.aliases == ["swarm-init"]
    assert not [r for r in later.of_type(REMOTE) if r.inputs["connection"]["host"] == master]


def test_a_lost_microceph_member_is_left_in_ceph_with_the_commands_printed(caplog):
    """MicroCeph: removing a lost member's OSD is not automated (data safety); `pulumi up` prints the commands."""
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:nodes"][2]["state"] = "lost"
    with caplog.at_level("WARNING"):
        run = run_program(*with_secrets(cfg))
    (warning,) = [r.getMessage() for r in caplog.records if "marked lost" in r.getMessage()]
    assert warning.startswith("swarm-worker2 is marked lost: its OSD and its MON")
    assert "`microceph cluster remove swarm-worker2 --force`" in warning and "osd purge N" in warning
    assert sorted(d.name for d in run.commands("microceph-disk.sh")) == [
        "microceph-swarm-master-disk",
        "microceph-swarm-worker1-disk",
        "microceph-swarm-worker2-disk",  # its record, kept as it is (never run again)
    ]


@pytest.mark.parametrize(("stack", "order"), [("dev", [0, 2, 1]), ("prod", [0, 2, 1, 4, 3])])
def test_reordering_the_nodes_changes_no_resource(stack, order):
    """The nodes listed in another order (the first manager, the leader, staying first): every resource keeps its
    inputs, so `pulumi up` has nothing to do (the IO checks name every node, the mounts the MONs: both sorted)."""
    cfg = copy.deepcopy(stack_config(stack))
    before = run_program(*with_secrets(cfg))
    cfg["swarm-ceph:nodes"] = [cfg["swarm-ceph:nodes"][i] for i in order]
    after = run_program(*with_secrets(cfg))
    assert after.resources.keys() == before.resources.keys()
    changed = [urn for urn, r in after.resources.items() if before.resources[urn].inputs != r.inputs]
    assert changed == []
    assert len(after.commands("io-check.sh")) == len(order)  # (what the order could have changed is there)


def provider_ssh_nodes(run) -> list[dict]:
    (provider,) = run.of_type("pulumi:providers:proxmoxve")
    ssh = provider.inputs["ssh"]
    return (json.loads(ssh) if isinstance(ssh, str) else ssh)["nodes"]


def test_the_pve_nodes_ssh_port_reaches_the_provider(dev_run):
    # 22 is left to the provider's default: a stack made before proxmox.sshPort sees no change of its provider
    assert [set(n) for n in provider_ssh_nodes(dev_run)] == [{"name", "address"}]
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:proxmox"]["sshPort"] = 2222
    (node,) = provider_ssh_nodes(run_program(*with_secrets(cfg)))
    assert node["port"] == 2222 and node["name"] == cfg["swarm-ceph:proxmox"]["nodeName"]


def test_a_snippet_is_replaced_by_deleting_it_first(dev_run):
    """A new snippet has the old one's path and id: deleting the old one after uploading the new one would delete
    the file (the provider deletes by path)."""
    snippets = dev_run.of_type(FILE)
    assert len(snippets) == 4 and all(f.delete_before_replace for f in snippets)
    assert {f.inputs["sourceRaw"]["fileName"] for f in snippets} == {
        f"{n}-user-data.yaml" for n in ("debian12-swarm-template", "swarm-master", "swarm-worker1", "swarm-worker2")
    }


def test_new_user_data_or_a_new_image_makes_a_new_template(dev_run):
    (template,) = [r for r in dev_run.of_type(VM) if r.inputs["vmId"] == 9000]
    snippet, image = dev_run.named("template-user-data"), dev_run.named("template-image")
    assert set(template.replace_with) == {snippet.urn, image.urn}
    assert template.delete_before_replace and image.delete_before_replace  # same VM id, same volume id
    assert (
        template.inputs["initialization"]["userDataFileId"] == "local:snippets/debian12-swarm-template-user-data.yaml"
    )
    assert dev_run.depends_on(template, snippet)


def test_the_microceph_channel_reaches_the_templates_user_data():
    cfg = copy.deepcopy(stack_config("dev"))
    data = run_program(*with_secrets(cfg)).named("template-user-data").inputs["sourceRaw"]["data"]
    assert yaml.safe_load(data)["runcmd"][2] == ["snap", "install", "microceph", "--channel=squid/stable"]
    cfg["swarm-ceph:storage"] = {**cfg["swarm-ceph:storage"], "microcephChannel": "reef/stable"}
    data = run_program(*with_secrets(cfg)).named("template-user-data").inputs["sourceRaw"]["data"]
    assert yaml.safe_load(data)["runcmd"][2] == ["snap", "install", "microceph", "--channel=reef/stable"]


def test_the_older_pve_path_downloads_an_iso_volume_and_imports_the_disk_from_it(dev_run):
    image = dev_run.named("template-image")
    (template,) = [r for r in dev_run.of_type(VM) if r.inputs["vmId"] == 9000]
    assert image.inputs["contentType"] == "import" and image.inputs["fileName"].endswith(".qcow2")
    assert template.inputs["disks"][0]["importFrom"] == image.outputs.get("id", "template-image-id")
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:image"] |= {"importMethod": "iso", "fileName": "debian-12-genericcloud-amd64-20251112.img"}
    run = run_program(*with_secrets(cfg))
    image = run.named("template-image")
    (template,) = [r for r in run.of_type(VM) if r.inputs["vmId"] == 9000]
    assert (image.inputs["contentType"], image.inputs["fileName"]) == (
        "iso",
        "debian-12-genericcloud-amd64-20251112.img",
    )
    (disk,) = template.inputs["disks"]
    assert "importFrom" not in disk and disk["fileId"] == "template-image-id"
