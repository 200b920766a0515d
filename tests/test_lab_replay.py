"""The lab stack's own graph, replayed on the lab (lab/replay.py): the program is evaluated (mock runtime) with
the `lab` stack config, and every remote step it declares runs over SSH on the real nodes with the program's own
command lines and stdin, in parallel waves that follow its dependency graph, the real join token flowing from the
token step to the joins. Then each node serves the page, and the declared deletes, in reverse waves, leave no
service and every node `inactive`.

This proves the commands and the ordering the program generates, on real hosts; it is not the Pulumi engine
(which cannot be built here), so the engine's own behaviour (state, diffs, secrets at rest) stays unproven at L3."""

from __future__ import annotations

import pytest

from components.config import StackConfig
from lab import replay
from lab.program import run_program, with_secrets
from lab.stack_config import LAB_NGINX_IMAGE, lab_stack_config
from lab.steps import PROJECT, docker, fetch

pytestmark = pytest.mark.lab


def test_the_lab_stack_graph_runs_on_real_nodes_and_destroys_cleanly(lab_nodes):
    run = run_program(*with_secrets(lab_stack_config()["config"]), stack="lab")
    plan = replay.create(run)
    assert len(plan) >= 8 and max(len(w) for w in plan) >= 3  # steps really ran side by side

    stack = StackConfig(image=LAB_NGINX_IMAGE, resolve_image="never")
    page = (PROJECT / stack.page_file).read_text()
    master = lab_nodes[0][1]
    assert sorted(docker(master, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").splitlines()) == [
        f"{name} Ready" for name, _, _ in lab_nodes
    ]
    for _, ip, _ in lab_nodes:
        assert fetch(ip, stack.published_port) == page

    undone = {s.name for wave in replay.destroy(run) for s in wave}
    assert {"swarm-init", "stack-deploy", "stack-page"} <= undone
    for _, ip, _ in lab_nodes:
        assert docker(ip, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"
        assert docker(ip, "ps", "-q") == ""
        with pytest.raises(OSError):
            fetch(ip, stack.published_port, timeout=1)
