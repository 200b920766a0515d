"""Replay a program run's remote steps on real hosts: every `command:remote:Command` the program declared
(recorded under Pulumi's mock runtime, lab/program.py), executed over SSH with its own command line and stdin, in
waves that follow the dependency graph (all steps whose dependencies are done run in parallel, as the engine would
run them). A later run replays only what changed (new or changed steps, then the deletes of steps no longer
declared), and deletes replay in reverse waves. This is how the lab runs the program's graph without the Pulumi
engine; it is not the engine (no state on disk, no preview, no diff display)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from lab.steps import remote

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
    c = step.inputs["connection"]
    return remote(
        c["host"], command, stdin, user=c["user"], port=int(c.get("port", 22)), timeout=600, host_key=c.get("hostKey")
    )


def _key(step) -> tuple:
    """What makes pulumi-command re-run a step: its command lines, its stdin, its connection."""
    c = step.inputs["connection"]
    return (step.inputs.get("create"), step.inputs.get("delete"), step.inputs.get("stdin"), c["host"], c["user"])


class Replay:
    """Runs a program's remote steps like `pulumi up` / `pulumi destroy` would, keeping what the engine would keep
    for that: the real stdout of every step it ran (a join token feeds the joins, also in later runs)."""

    def __init__(self) -> None:
        self.stdout: dict[str, str] = {}

    def _stdin(self, run, step) -> str | None:
        value = step.inputs.get("stdin")
        if value is None:
            return None
        # A stdin the program wired to another step's stdout (a join token): that step's real stdout.
        for urn in run.ancestors(step.urn):
            if urn in self.stdout and value == run.resources[urn].outputs.get("stdout"):
                return self.stdout[urn] + "\n"
        return value

    def _run(self, plan: list[list], command_of, stdin_of) -> None:
        for wave in plan:
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                results = list(pool.map(lambda s: (s, _execute(s, command_of(s), stdin_of(s))), wave))
            for step, result in results:
                if result.returncode != 0:
                    raise RuntimeError(f"{step.name}: rc={result.returncode}\n{result.stdout}\n{result.stderr}")
                # pulumi-command keeps stdout but for one trailing newline
                self.stdout[step.urn] = result.stdout[:-1] if result.stdout.endswith("\n") else result.stdout

    def up(self, run, previous=None) -> dict[str, list]:
        """Create every step that is new or whose inputs changed since ``previous`` (in dependency waves), then
        delete every step ``run`` no longer declares (dependents first), as `pulumi up` orders them. Returns the
        waves of step names it ran, under "created" and "deleted"."""
        steps = {r.urn: r for r in run.resources.values() if r.type == REMOTE}
        old = {} if previous is None else {r.urn: r for r in previous.resources.values() if r.type == REMOTE}
        todo = [s for urn, s in steps.items() if urn not in old or _key(old[urn]) != _key(s)]
        created = waves(run, todo)
        self._run(created, lambda s: s.inputs["create"], lambda s: self._stdin(run, s))
        gone = [s for urn, s in old.items() if urn not in steps and s.inputs.get("delete")]
        deleted = list(reversed(waves(previous, gone))) if gone else []
        self._run(deleted, lambda s: s.inputs["delete"], lambda s: None)
        return {"created": _names(created), "deleted": _names(deleted)}

    def down(self, run) -> list[list[str]]:
        """Run every declared delete, dependents first (`pulumi destroy`). Returns the waves of step names."""
        steps = [r for r in run.resources.values() if r.type == REMOTE and r.inputs.get("delete")]
        plan = list(reversed(waves(run, steps)))
        self._run(plan, lambda s: s.inputs["delete"], lambda s: None)
        return _names(plan)


def _names(plan: list[list]) -> list[list[str]]:
    return [sorted(s.name for s in wave) for wave in plan]


def main(action: str) -> None:
    """`python -m lab.replay up|down`: the lab stack's steps without the Pulumi engine (see scripts/demo.sh)."""
    from lab.program import close_runtime, run_program, with_secrets
    from lab.stack_config import lab_stack_config

    run = run_program(*with_secrets(lab_stack_config()["config"]), stack="lab")
    close_runtime()
    if action == "up":
        plan = Replay().up(run)["created"]
        print(f"replayed {sum(map(len, plan))} steps in {len(plan)} waves; the page, on every node:")
        for url in run.outputs["pageUrls"]:
            print(url)
    elif action == "down":
        plan = Replay().down(run)
        print(f"replayed {sum(map(len, plan))} delete steps in {len(plan)} waves")
    else:
        raise SystemExit("usage: python -m lab.replay up|down")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
