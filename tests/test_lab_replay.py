"""The lab stack's own graph, replayed on the lab: the program is evaluated (mock runtime) with the `lab` stack
config, and every remote step it declares is executed over SSH on the real nodes, with the program's own command
lines and stdin, in waves that follow its dependency graph (every step whose dependencies are done runs in
parallel with the others, as the engine would), a token step's real stdout feeding the step whose stdin the
program wired to it. Then each node serves the page, and the declared deletes, run in reverse waves, leave no
stack, no service and every node `inactive`.

This proves the commands and the ordering the program generates, on real hosts; it is not the Pulumi engine
(which cannot be built here), so the engine's own behaviour (state, diffs, secrets at rest) stays unproven at L3."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from components.config import StackConfig
from lab.stack_config import LAB_NGINX_IMAGE, lab_stack_config
from lab.steps import PROJECT, SSH, docker, fetch
from tests.harness import Registered, Run, run_program, with_secrets

pytestmark = pytest.mark.lab
REMOTE = "command:remote:Command"


def waves(run: Run, steps: list[Registered]) -> list[list[Registered]]:
    """Group ``steps`` so that every step comes after all the steps it depends on (directly or not)."""
    urns = {s.urn for s in steps}
    deps = {s.urn: run.ancestors(s.urn) & urns for s in steps}
    done: set[str] = set()
    out: list[list[Registered]] = []
    while len(done) < len(steps):
        wave = [s for s in steps if s.urn not in done and deps[s.urn] <= done]
        assert wave, "the graph has a cycle"
        out.append(wave)
        done |= {s.urn for s in wave}
    return out


def execute(step: Registered, command: str, stdin: str | None) -> subprocess.CompletedProcess:
    connection = step.inputs["connection"]
    return subprocess.run(
        [*SSH, "-p", str(int(connection.get("port", 22))), f"{connection['user']}@{connection['host']}", command],
        input=stdin, capture_output=True, text=True, timeout=600, check=False,
    )


def run_waves(plan: list[list[Registered]], command_of, stdin_of) -> dict[str, str]:
    stdout: dict[str, str] = {}
    for wave in plan:
        with ThreadPoolExecutor(max_workers=len(wave)) as pool:
            results = list(pool.map(lambda s: (s, execute(s, command_of(s), stdin_of(s, stdout))), wave))
        for step, result in results:
            assert result.returncode == 0, f"{step.name}: rc={result.returncode}\n{result.stdout}\n{result.stderr}"
            # pulumi-command keeps stdout but for one trailing newline
            stdout[step.urn] = result.stdout[:-1] if result.stdout.endswith("\n") else result.stdout
    return stdout


def test_the_lab_stack_graph_runs_on_real_nodes_and_destroys_cleanly(lab_nodes):
    run = run_program(*with_secrets(lab_stack_config()["config"]), stack="lab")
    steps = [r for r in run.resources.values() if r.type == REMOTE]
    plan = waves(run, steps)
    mock_stdout = {s.urn: s.outputs.get("stdout") for s in steps}

    def stdin_of(step: Registered, real: dict[str, str]) -> str | None:
        value = step.inputs.get("stdin")
        # A stdin the program wired to another step's stdout (a join token): feed it that step's real stdout.
        for urn in run.ancestors(step.urn):
            if urn in real and value is not None and value == mock_stdout.get(urn):
                return real[urn] + "\n"
        return value

    assert len(plan) >= 8 and max(len(w) for w in plan) >= 3  # steps really run side by side
    run_waves(plan, lambda s: s.inputs["create"], stdin_of)

    stack = StackConfig(image=LAB_NGINX_IMAGE, resolve_image="never")
    page = (PROJECT / stack.page_file).read_text()
    master = lab_nodes[0][1]
    assert sorted(docker(master, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").splitlines()) == [
        f"{name} Ready" for name, _, _ in lab_nodes
    ]
    for _, ip, _ in lab_nodes:
        assert fetch(ip, stack.published_port) == page

    with_delete = [s for s in steps if s.inputs.get("delete")]
    assert {s.name for s in with_delete} >= {"swarm-init", "stack-deploy", "stack-page"}
    reverse = [list(w) for w in reversed(waves(run, with_delete))]
    run_waves(reverse, lambda s: s.inputs["delete"], lambda s, real: None)
    for _, ip, _ in lab_nodes:
        assert docker(ip, "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"
        with pytest.raises(OSError):
            fetch(ip, stack.published_port, timeout=1)
