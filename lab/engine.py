"""The real Pulumi engine (the CLI and the Python language host that .ci/toolchain.sh builds from Go modules),
run on a copy of the project with a local file backend: no cloud, no network.

Only the engine is built here (``--engine-only``): the proxy refuses the provider plugins' modules, so a run stops
at the first resource that needs a provider. What the engine does before that (reading the stack's config, running
the program, refusing bad config, keeping secrets) is real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "cloudinit", "stacks")
PASSPHRASE = "swarm-ceph-engine-test"  # the passphrase secrets provider of throwaway stacks


def build_toolchain() -> Path:
    """The toolchain dir (bin/, home/), built or reused by .ci/toolchain.sh; raises with its log when it fails."""
    done = subprocess.run(
        ["bash", str(PROJECT / ".ci" / "toolchain.sh"), "--engine-only"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f".ci/toolchain.sh --engine-only failed (rc {done.returncode}):\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


class Project:
    """A copy of the program in ``root`` (the project's virtualenv linked in), with its own state backend."""

    def __init__(self, root: Path, toolchain: Path):
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
            **os.environ,
            "PATH": f"{toolchain / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(toolchain / "home"),
            "PULUMI_BACKEND_URL": self.state.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        }

    def pulumi(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    def stack(self, name: str, config: dict[str, Any], secrets: dict[str, str]) -> None:
        """Create stack ``name``: ``config`` written as Pulumi.<name>.yaml, each secret set with ``--secret`` (the
        value on stdin, as a user would)."""
        done = self.pulumi("stack", "init", name)
        assert done.returncode == 0, done.stderr
        (self.root / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        for key, value in secrets.items():
            done = self.pulumi("config", "set", "--secret", key, stdin=value)
            assert done.returncode == 0, done.stderr

    def resources(self) -> list[dict[str, Any]]:
        """The stack's state, as `pulumi stack export` gives it."""
        done = self.pulumi("stack", "export")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["deployment"].get("resources") or []

    def files_containing(self, needle: str) -> list[Path]:
        """Every file of the project copy and its state backend whose bytes contain ``needle``."""
        roots = [self.state, *(p for p in self.root.iterdir() if p.name != ".venv")]
        found = []
        for root in roots:
            for path in [root] if root.is_file() else root.rglob("*"):
                if path.is_file() and needle.encode() in path.read_bytes():
                    found.append(path)
        return found
