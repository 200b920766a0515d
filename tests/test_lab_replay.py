"""The lab stack's own graph, replayed on the lab (lab/replay.py): the program is evaluated (mock runtime) with
the `lab` stack config, and its remote steps run over SSH on the real nodes with the program's own command lines
and stdin, in parallel waves that follow its dependency graph, the real join token flowing from the token step to
the joins. Then, as `pulumi up` would after a config change, only what changed runs: a page edit, then a scale-down
from three nodes to two. Finally the declared deletes, in reverse waves, leave no service and every node
`inactive`.

This proves the commands and the ordering the program generates, on real hosts; it is not the Pulumi engine
(which cannot be built here), so the engine's own behaviour (state, diffs, secrets at rest) stays unproven at L3."""

from __future__ import annotations

import pytest

from components.config import StackConfig
from lab.program import run_program, with_secrets
from lab.replay import Replay
from lab.stack_config import LAB_NGINX_IMAGE, LAB_NODES, lab_stack_config
from lab.steps import PROJECT, docker, fetch

pytestmark = pytest.mark.lab
STACK = StackConfig(image=LAB_NGINX_IMAGE, resolve_image="never")
PORT = STACK.published_port


def evaluate(nodes=LAB_NODES, page_file: str | None = None):
    cfg = lab_stack_config(nodes)["config"]
    if page_file:
        cfg["swarm-ceph:stack"] = dict(cfg["swarm-ceph:stack"], pageFile=page_file)
    run = run_program(*with_secrets(cfg), stack="lab")
    # Every step pins its node's host key, so the replay below checks each host it talks to (lab/steps.remote).
    assert all(s.inputs["connection"].get("hostKey") for s in run.of_type("command:remote:Command"))
    return run


def swarm_nodes(ip: str) -> list[str]:
    return sorted(docker(ip, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").splitlines())


def flat(waves: list[list[str]]) -> set[str]:
    return {name for wave in waves for name in wave}


def test_the_lab_stack_graph_runs_changes_and_destroys_on_real_nodes(lab_nodes, tmp_path):
    replay = Replay()
    master, worker1, worker2 = (ip for _, ip, _ in lab_nodes)

    # From nothing.
    full = evaluate()
    ran = replay.up(full)
    assert len(ran["created"]) >= 8 and max(map(len, ran["created"])) >= 3  # steps ran side by side
    assert swarm_nodes(master) == [f"{name} Ready" for name, _, _ in lab_nodes]
    page = (PROJECT / STACK.page_file).read_text()
    for ip in (master, worker1, worker2):
        assert fetch(ip, PORT) == page

    # Nothing changed: nothing runs.
    assert replay.up(evaluate(), previous=full) == {"created": [], "deleted": []}

    # A page edit: only the page and the per-node checks run again.
    edited_file = tmp_path / "index.html"
    edited_file.write_text(page.replace("Hello from", "Hello again from"))
    edited = evaluate(page_file=str(edited_file))
    ran = replay.up(edited, previous=full)
    assert flat(ran["created"]) == {"stack-page"} | {f"stack-{n}-serves" for n, _, _ in lab_nodes}
    assert ran["deleted"] == []
    for ip in (master, worker1, worker2):
        assert fetch(ip, PORT) == edited_file.read_text()

    # Scale down to two nodes: the third is removed by the manager and leaves; the others keep serving.
    small = evaluate(nodes=LAB_NODES[:2], page_file=str(edited_file))
    ran = replay.up(small, previous=edited)
    assert {"swarm-swarm-worker2-node", "swarm-swarm-worker2-join"} <= flat(ran["deleted"])
    assert swarm_nodes(master) == [f"{name} Ready" for name, _, _ in LAB_NODES[:2]]
    assert docker(worker2, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"
    for ip in (master, worker1):
        assert fetch(ip, PORT) == edited_file.read_text()

    # Destroy.
    undone = flat(replay.down(small))
    assert {"swarm-init", "stack-deploy", "stack-page"} <= undone
    for ip in (master, worker1, worker2):
        assert docker(ip, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"
        with pytest.raises(OSError):
            fetch(ip, PORT, timeout=1)
