"""The real Pulumi engine (the CLI, its Python language host and the provider plugins, found by scripts/engine.sh)
run on a copy of the project with a local file:// backend and the passphrase secrets provider.

Used by the engine tests and bench/lab.py: a copy, so that a test can edit the page, the compose file or the stack
config as a user would without touching the checkout."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("Pulumi.yaml", "pyproject.toml", "uv.lock", "__main__.py", "components", "cloudinit", "stacks")
PASSPHRASE = "swarm-ceph-engine-test"  # the passphrase secrets provider of throwaway stacks


@functools.cache
def engine_env() -> dict[str, str]:
    """The environment with the engine on PATH (scripts/engine.sh, which also checks its plugins against the SDK
    packages' pins); raises with its message when there is no engine, or not the right plugins."""
    done = subprocess.run(
        ["bash", "-c", 'set -e; engine=$(bash scripts/engine.sh); eval "$engine"; env -0'],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/engine.sh found no usable Pulumi engine (rc {done.returncode}):\n{done.stderr}")
    env = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    uv = shutil.which("uv", path=env["PATH"]) or shutil.which("uv", path=f"{Path.home()}/.local/bin")
    if uv is None:
        raise RuntimeError("uv is not on PATH: the Python language host needs it (Pulumi.yaml: toolchain uv)")
    env["PATH"] = f"{Path(uv).parent}{os.pathsep}{env['PATH']}"
    return env


class Failed(AssertionError):
    """A pulumi command that exited non-zero; the message has its output."""


class Project:
    """A copy of the program in ``root`` (the project's virtualenv linked in), with its own state backend."""

    def __init__(self, root: Path):
        self.root = root / "project"
        self.state = root / "state"
        self.root.mkdir(parents=True)
        self.state.mkdir()
        for name in PROJECT_FILES:
            src = PROJECT / name
            if src.is_dir():
                shutil.copytree(src, self.root / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, self.root / name)
        (self.root / ".venv").symlink_to(PROJECT / ".venv")
        self.env = {
            **engine_env(),
            "PULUMI_BACKEND_URL": self.state.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
        self.transcript: list[str] = []  # everything the engine printed, for the secrets checks

    def pulumi(self, *args: str, stdin: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        self.transcript += [done.stdout, done.stderr]
        return done

    def ok(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """``pulumi ARGS`` that must succeed."""
        done = self.pulumi(*args, stdin=stdin)
        if done.returncode != 0:
            # the resources that failed on the first line (a test summary shows that one), their errors last (a
            # truncated log shows its end)
            errors = diagnostics(done.stdout, "error")
            failed = ", ".join(dict.fromkeys(e.split(":", 1)[0] for e in errors))
            raise Failed(
                f"pulumi {' '.join(args)}: rc {done.returncode}, errors on: {failed or 'none reported'}\n"
                f"output:\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}\nerrors:\n" + "\n".join(errors)[-6000:]
            )
        return done

    def stack(self, name: str, config: dict[str, Any], secrets: dict[str, str]) -> None:
        """Create stack ``name``: ``config`` written as Pulumi.<name>.yaml, each secret set with ``--secret`` (the
        value on stdin, as a user would)."""
        self.ok("stack", "init", name)
        self.config_file(name).write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        for key, value in secrets.items():
            self.ok("config", "set", "--secret", key, stdin=value)

    def config_file(self, name: str) -> Path:
        return self.root / f"Pulumi.{name}.yaml"

    def edit_config(self, name: str, changes: dict[str, Any]) -> None:
        """Set plain keys of Pulumi.<name>.yaml as a user editing the file would; secrets and the salt stay."""
        doc = yaml.safe_load(self.config_file(name).read_text())
        doc["config"].update(changes)
        self.config_file(name).write_text(yaml.safe_dump(doc, sort_keys=False))

    def up(self, *args: str) -> dict[str, list[str]]:
        """`pulumi up --yes --skip-preview` (ARGS added); returns the names of the resources per operation the engine
        performed (create, update, delete, replace, same...), from its JSON event stream."""
        return operations(self.ok("up", "--yes", "--skip-preview", "--json", *args).stdout)

    def destroy(self) -> dict[str, list[str]]:
        return operations(self.ok("destroy", "--yes", "--skip-preview", "--json").stdout)

    def preview(self, *args: str) -> dict[str, Any]:
        """`pulumi preview --json` (ARGS added), parsed."""
        return json.loads(self.ok("preview", "--json", *args).stdout)

    def resources(self) -> list[dict[str, Any]]:
        """The stack's state, as `pulumi stack export` gives it."""
        return json.loads(self.ok("stack", "export").stdout)["deployment"].get("resources") or []

    def leaks(self, secret: str) -> list[str]:
        """Where ``secret`` shows: "the engine's output" (anything it printed so far), then each file of the project
        copy and its state backend that holds it. Empty when it shows nowhere."""
        printed = ["the engine's output"] if any(secret in text for text in self.transcript) else []
        return printed + [str(path) for path in self.files_containing(secret)]

    def files_containing(self, needle: str) -> list[Path]:
        """Every file of the project copy and its state backend whose bytes contain ``needle``."""
        roots = [self.state, *(p for p in self.root.iterdir() if p.name != ".venv")]
        found = []
        for root in roots:
            for path in [root] if root.is_file() else root.rglob("*"):
                if path.is_file() and needle.encode() in path.read_bytes():
                    found.append(path)
        return found


def events(stdout: str) -> Iterator[dict[str, Any]]:
    """The engine events in `pulumi ... --json` output (one JSON object per line; other lines skipped)."""
    for line in stdout.splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def operations(stdout: str) -> dict[str, list[str]]:
    """From `pulumi up|destroy --json` output: resource names by the operation done."""
    done: dict[str, list[str]] = defaultdict(list)
    for event in events(stdout):
        outputs = event.get("resOutputsEvent")
        if outputs:
            meta = outputs["metadata"]
            done[meta["op"]].append(meta["urn"].rsplit("::", 1)[-1])
    return {op: sorted(names) for op, names in done.items()}


def diagnostics(stdout: str, severity: str) -> list[str]:
    """From `pulumi ... --json` output: the engine's diagnostic messages of ``severity`` (e.g. a step's error with
    the script's stderr), each prefixed with the resource it is about and cut to its last lines."""
    found = []
    for event in events(stdout):
        diag = event.get("diagnosticEvent")
        if diag and diag.get("severity") == severity:
            # a step's message starts with the whole command (the script's text): its end is what went wrong
            message = "\n".join(diag["message"].strip().splitlines()[-12:])
            found.append(f"{diag.get('urn', '').rsplit('::', 1)[-1] or '(stack)'}: {message}")
    return found
