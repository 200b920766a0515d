"""Replay a program run's remote steps on real hosts: every `command:remote:Command` the program declared
(recorded under Pulumi's mock runtime, lab/program.py), executed over SSH with its own command line and stdin, in
waves that follow the dependency graph (all steps whose dependencies are done run in parallel, as the engine would
run them). Deletes replay in reverse waves. This is how the lab runs the program's graph without the Pulumi engine;
it is not the engine (no state, no diffs)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from lab.steps import SSH

REMOTE = "command:remote:Command"


def waves(run, steps: list) -> list[list]:
    """Group ``steps`` so that every step comes after all the steps it depends on (directly or not)."""
    urns = {s.urn for s in steps}
    deps = {s.urn: run.ancestors(s.urn) & urns for s in steps}
    done: set[str] = set()
    out: list[list] = []
    while len(done) < len(steps):
        wave = [s for s in steps if s.urn not in done and deps[s.urn] <= done]
        if not wave:
            raise ValueError("the graph has a cycle")
        out.append(wave)
        done |= {s.urn for s in wave}
    return out


def _execute(step, command: str, stdin: str | None) -> subprocess.CompletedProcess:
    connection = step.inputs["connection"]
    return subprocess.run(
        [*SSH, "-p", str(int(connection.get("port", 22))), f"{connection['user']}@{connection['host']}", command],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _run_waves(plan: list[list], command_of, stdin_of) -> dict[str, str]:
    stdout: dict[str, str] = {}
    for wave in plan:
        with ThreadPoolExecutor(max_workers=len(wave)) as pool:
            results = list(pool.map(lambda s: (s, _execute(s, command_of(s), stdin_of(s, stdout))), wave))
        for step, result in results:
            if result.returncode != 0:
                raise RuntimeError(f"{step.name}: rc={result.returncode}\n{result.stdout}\n{result.stderr}")
            # pulumi-command keeps stdout but for one trailing newline
            stdout[step.urn] = result.stdout[:-1] if result.stdout.endswith("\n") else result.stdout
    return stdout


def create(run) -> list[list]:
    """Run every step's create; a stdin the program wired to another step's stdout (a join token) gets that step's
    real stdout. Returns the waves it ran."""
    steps = [r for r in run.resources.values() if r.type == REMOTE]
    plan = waves(run, steps)
    mock_stdout = {s.urn: s.outputs.get("stdout") for s in steps}

    def stdin_of(step, real: dict[str, str]) -> str | None:
        value = step.inputs.get("stdin")
        for urn in run.ancestors(step.urn):
            if urn in real and value is not None and value == mock_stdout.get(urn):
                return real[urn] + "\n"
        return value

    _run_waves(plan, lambda s: s.inputs["create"], stdin_of)
    return plan


def destroy(run) -> list[list]:
    """Run every declared delete, dependents first. Returns the waves it ran."""
    steps = [r for r in run.resources.values() if r.type == REMOTE and r.inputs.get("delete")]
    plan = list(reversed(waves(run, steps)))
    _run_waves(plan, lambda s: s.inputs["delete"], lambda s, real: None)
    return plan


def main(action: str) -> None:
    """`python -m lab.replay up|down`: the lab stack's steps without the Pulumi engine (see scripts/demo.sh)."""
    from lab.program import run_program, with_secrets
    from lab.stack_config import lab_stack_config

    run = run_program(*with_secrets(lab_stack_config()["config"]), stack="lab")
    if action == "up":
        plan = create(run)
        print(f"replayed {sum(len(w) for w in plan)} steps in {len(plan)} waves; the page, on every node:")
        for url in run.outputs["pageUrls"]:
            print(url)
    elif action == "down":
        plan = destroy(run)
        print(f"replayed {sum(len(w) for w in plan)} delete steps in {len(plan)} waves")
    else:
        raise SystemExit("usage: python -m lab.replay up|down")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
