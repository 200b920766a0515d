"""The plugin check that scripts/engine.sh runs before any `pulumi` command of the project's.

The SDK packages in the project's virtualenv request their plugins (each package's ``pulumi-plugin.json``: name,
exact version, download server); the engine loads what ``pulumi plugin ls`` lists. Each requested plugin is either
installed at exactly that version, or downloaded by the engine on first use (automatic acquisition on, its download
host resolving). Otherwise the engine would fail, or load another installed version (it picks the newest compatible
one): the check stops and says which plugin, which versions and how to install the right one.

Prints one line on success; exits 1 with the reasons otherwise. Usage: python scripts/plugins.py (the ``pulumi`` on
PATH, with PULUMI_HOME as set)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import urlparse

DEFAULT_SERVER = "https://get.pulumi.com/releases/plugins"


@dataclass(frozen=True)
class Requested:
    package: str  # the SDK distribution, e.g. pulumi-proxmoxve
    name: str  # the plugin, e.g. proxmoxve
    version: str
    server: str  # where the engine downloads it from


def requested_plugins() -> list[Requested]:
    """The resource plugins the installed SDK packages request, from their pulumi-plugin.json."""
    found = []
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            if file.name != "pulumi-plugin.json":
                continue
            spec = json.loads(file.read_text())
            if spec.get("resource"):
                server = spec.get("server") or DEFAULT_SERVER
                package = dist.metadata["Name"].lower().replace("_", "-")  # the name pip shows
                found.append(Requested(package, spec["name"], spec["version"], server))
    return sorted(found, key=lambda r: r.name)


def installed_plugins() -> dict[str, set[str]]:
    """Versions of each resource plugin the engine has (`pulumi plugin ls --json`), by name."""
    done = subprocess.run(["pulumi", "plugin", "ls", "--json"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"engine: ERROR: `pulumi plugin ls --json` failed (rc {done.returncode}): {done.stderr.strip()}"
        )
    versions: dict[str, set[str]] = {}
    for plugin in json.loads(done.stdout or "[]") or []:
        if plugin.get("kind") == "resource":
            versions.setdefault(plugin["name"], set()).add(plugin["version"].removeprefix("v"))
    return versions


def download_host(server: str) -> str:
    """The host the engine downloads a plugin from: github://api.github.com/OWNER is GitHub's API host."""
    return urlparse(server).hostname or ""


def resolves(host: str) -> bool:
    """Whether the host name resolves (`getent hosts`, as engine.sh asks before the installer)."""
    return bool(host) and subprocess.run(["getent", "hosts", host], capture_output=True, check=False).returncode == 0


def acquisition_disabled(env: dict[str, str]) -> bool:
    return env.get("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "").lower() in ("1", "true")


def download_blocker(plugin: Requested, env: dict[str, str]) -> str | None:
    """Why the engine could not download ``plugin`` on first use, or None when it can."""
    if acquisition_disabled(env):
        return "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION is set"
    host = download_host(plugin.server)
    return None if resolves(host) else f"{host} does not resolve (offline)"


def verdict(plugin: Requested, installed: set[str], blocker: str | None) -> tuple[bool, str]:
    """(fine, what to say) for one requested plugin, given the versions the engine has and why it could not
    download one (None: it can)."""
    want = f"{plugin.name} {plugin.version}"
    if plugin.version in installed:
        return True, f"{want} installed"
    if blocker is None:
        return True, f"{want} downloaded on first use from {plugin.server}"
    install = f"pulumi plugin install resource {plugin.name} {plugin.version} --file PATH"
    if installed:
        others = ", ".join(sorted(installed))
        return False, (
            f"{plugin.package} requests {want}, but the engine has {plugin.name} {others} (it would load another "
            f"version than the SDK's) and cannot download {plugin.version}: {blocker}. Fix: {install}"
        )
    return False, f"{plugin.package} requests {want}: not installed, and no download: {blocker}. Fix: {install}"


def check(plugin: Requested, installed: set[str], env: dict[str, str]) -> tuple[bool, str]:
    """The verdict on one requested plugin; whether it could be downloaded is asked only when it is not installed."""
    return verdict(plugin, installed, None if plugin.version in installed else download_blocker(plugin, env))


def cli_line() -> str:
    done = subprocess.run(["pulumi", "version"], capture_output=True, text=True, check=False)
    cli = done.stdout.strip() or "version unknown"
    sdk = importlib.metadata.version("pulumi")
    tested = "" if cli.removeprefix("v") == sdk else f", SDK {sdk}"
    return f"pulumi {cli}{tested}"


def main() -> int:
    requested = requested_plugins()
    if not requested:
        print("engine: ERROR: no SDK package in this Python requests a plugin: run `uv sync --frozen`", file=sys.stderr)
        return 1
    installed = installed_plugins()
    env = dict(os.environ)
    results = [check(p, installed.get(p.name, set()), env) for p in requested]
    failed = [text for fine, text in results if not fine]
    if failed:
        for text in failed:
            print(f"engine: ERROR: {text}", file=sys.stderr)
        return 1
    plugins = "; ".join(text for _, text in results)
    print(f"engine: {cli_line()}; plugins as the SDK packages request: {plugins}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
