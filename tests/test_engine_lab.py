"""L3: the real Pulumi engine and plugins run the `lab` stack (hosts mode, lab/stack_config.py) against the lab's
three Docker-in-Docker Swarm nodes, as a user runs it: `pulumi up` from nothing to the page on every node, a no-op
`up`, a page edit and a compose edit (each visible in `preview --diff`, each updating only its steps), a scale-down
from three nodes to two and back by config, and `pulumi destroy`. The state and everything the engine printed hold no
join token and no private key."""

from __future__ import annotations

import re
import threading

import pytest

from components.config import StackConfig
from lab.engine import Project
from lab.program import run_program, with_secrets
from lab.stack_config import LAB_NODES, lab_stack_config
from lab.steps import KEY, PROJECT, docker, fetch, request_loop

pytestmark = [pytest.mark.lab, pytest.mark.engine]
PORT = StackConfig().published_port  # the lab stack keeps the defaults
SERVICE = f"{StackConfig().name}_web"
PAGE_FILE = "stacks/nginx/html/index.html"
COMPOSE_FILE = "stacks/nginx/docker-compose.yml"


def swarm(ip: str) -> list[str]:
    return sorted(docker(ip, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").splitlines())


def state(ip: str) -> str:
    return docker(ip, "info", "--format", "{{.Swarm.LocalNodeState}}")


def serves_everywhere(nodes, page: str) -> None:
    for name, ip, _ in nodes:
        assert fetch(ip, PORT) == page, name


def steps_of(nodes, *kinds: str) -> list[str]:
    return sorted(f"stack-{name}-{kind}" for name, _, _ in nodes for kind in kinds)


def test_pulumi_up_change_scale_and_destroy_on_the_lab(lab_nodes, tmp_path):
    project = Project(tmp_path)
    private_key = KEY.read_text()
    project.stack("lab", lab_stack_config()["config"], {"swarm-ceph:sshPrivateKey": private_key})
    master, worker1, worker2 = (ip for _, ip, _ in lab_nodes)
    page = (project.root / PAGE_FILE).read_text()

    # From nothing: every resource the program declares (the same graph as the mock run of the lab config).
    ran = project.up()
    expected = run_program(*with_secrets(lab_stack_config()["config"]), stack="lab").resources
    assert list(ran) == ["create"] and len(ran["create"]) == len(expected) + 1  # and the Stack
    assert swarm(master) == [f"{name} Ready" for name, _, _ in lab_nodes]
    serves_everywhere(lab_nodes, page)
    outputs = project.ok("stack", "output", "--json").stdout
    assert '"http://10.77.1.12:8080/"' in outputs
    tokens = [docker(master, "swarm", "join-token", "-q", kind) for kind in ("worker", "manager")]

    # Nothing changed: nothing runs.
    assert list(project.up("--expect-no-changes")) == ["same"]

    # A page edit: the new text in the diff; the page and the per-node checks run again, nothing else.
    edited = page.replace("Hello from", "Hello again from")
    assert edited != page
    (project.root / PAGE_FILE).write_text(edited)
    assert "Hello again from" in project.ok("preview", "--diff").stdout
    ran = project.up()
    assert ran["update"] == sorted(["stack-page", *steps_of(lab_nodes, "serves")])
    assert set(ran) == {"update", "same"}
    serves_everywhere(lab_nodes, edited)

    # A compose edit: the new text in the diff; the redeploy and the per-node checks, nothing else.
    compose = (project.root / COMPOSE_FILE).read_text()
    assert "delay: 2s" in compose
    (project.root / COMPOSE_FILE).write_text(compose.replace("delay: 2s", "delay: 3s"))
    # The engine shows a YAML text as YAML: the changed key, old and new.
    assert re.search(r'~ delay +: "2s" => "3s"', project.ok("preview", "--diff").stdout)
    ran = project.up()
    assert ran["update"] == sorted(["stack-deploy", *steps_of(lab_nodes, "serves")])
    assert set(ran) == {"update", "same"}
    policy = "{{.Spec.TaskTemplate.RestartPolicy.Delay}}"
    assert docker(master, "service", "inspect", SERVICE, "--format", policy) == "3s"
    # The deploy step returned only once the rolling update (node by node) was over.
    assert docker(master, "service", "inspect", SERVICE, "--format", "{{.UpdateStatus.State}}") == "completed"
    serves_everywhere(lab_nodes, edited)

    # Scale down to two nodes by config, while the two that stay are asked for the page all along.
    two = LAB_NODES[:2]
    project.edit_config("lab", {"swarm-ceph:nodes": lab_stack_config(two)["config"]["swarm-ceph:nodes"]})
    load: dict = {}
    loop = threading.Thread(target=lambda: load.update(r=request_loop([master, worker1], PORT, edited, 8)))
    loop.start()
    ran = project.up()
    loop.join()
    latencies, failures = load["r"]
    assert failures == 0 and len(latencies) > 10, f"{failures} of {len(latencies)} requests failed"
    gone = [name for name in ran["delete"] if "swarm-worker2" in name]
    assert gone == ran["delete"] and len(gone) >= 5, ran["delete"]  # only the third node's steps
    assert "swarm-swarm-worker2-join" in gone and "swarm-swarm-worker2-node" in gone
    assert swarm(master) == [f"{name} Ready" for name, _, _ in two]
    assert state(worker2) == "inactive"
    serves_everywhere(two, edited)
    assert list(project.up("--expect-no-changes")) == ["same"]

    # And back to three: the third joins again and serves.
    project.edit_config("lab", {"swarm-ceph:nodes": lab_stack_config()["config"]["swarm-ceph:nodes"]})
    ran = project.up()
    assert "swarm-swarm-worker2-join" in ran["create"] and "delete" not in ran
    assert swarm(master) == [f"{name} Ready" for name, _, _ in lab_nodes]
    serves_everywhere(lab_nodes, edited)

    # No secret in clear: the state, the config files, and everything the engine printed.
    transcript = "\n".join(project.transcript)
    key_body = private_key.strip().splitlines()[1]  # a line of the key's base64
    for secret in (*tokens, key_body):
        assert secret not in transcript
        assert project.files_containing(secret) == []

    # Destroy: no service, every node out of the Swarm, the shared directory as it was (empty).
    ran = project.destroy()
    assert list(ran) == ["delete"] and len(ran["delete"]) == len(expected) + 1
    for _, ip, _ in lab_nodes:
        assert state(ip) == "inactive"
        with pytest.raises(OSError):
            fetch(ip, PORT, timeout=1)
    assert list((PROJECT / ".lab/shared").iterdir()) == []
    assert [r["type"] for r in project.resources()] == []
