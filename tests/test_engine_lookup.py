"""scripts/engine.sh finds the Pulumi engine in its documented order and checks the plugins before any `pulumi`
command (scripts/plugins.py), run for real against stand-ins (tests/fakes/engine: the CLI, getent, curl and the
official installer) in a scratch HOME and cache, so that the machine's own engine plays no part."""

import subprocess
import tomllib
from pathlib import Path

import pytest

from scripts import plugins

PROJECT = Path(__file__).resolve().parent.parent
FAKES = PROJECT / "tests" / "fakes" / "engine"


def pins() -> dict[str, str]:
    """The SDK pins in pyproject.toml: package -> version."""
    deps = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(dep.split("==") for dep in deps if "==" in dep)


PINS = pins()
CLI = PINS["pulumi"]
COMMAND = PINS["pulumi-command"]
PROXMOXVE = PINS["pulumi-proxmoxve"]


def test_the_sdk_packages_request_the_pinned_plugins():
    requested = {(r.package, r.name, r.version) for r in plugins.requested_plugins()}
    assert requested == {("pulumi-command", "command", COMMAND), ("pulumi-proxmoxve", "proxmoxve", PROXMOXVE)}


class Machine:
    """A scratch HOME and cache, a PATH of the fakes and the system's tools (no `pulumi` unless put there)."""

    def __init__(self, root: Path):
        self.home = root / "home"
        self.cache = root / "cache"
        self.bin = root / "bin"
        self.log = root / "log"
        self.lookups = root / "lookups"
        for d in (self.home, self.cache, self.bin):
            d.mkdir()
        self.log.touch()
        for name in ("getent", "curl"):
            (self.bin / name).symlink_to(FAKES / name)
        self.engine = self.cache / "engine"
        self.env = {
            "HOME": str(self.home),
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "SWARM_CEPH_CACHE": str(self.cache),
            "FAKE_LOG": str(self.log),
            "FAKE_GETENT_LOG": str(self.lookups),
        }

    def cli_on_path(self) -> None:
        (self.bin / "pulumi").symlink_to(FAKES / "pulumi")

    def hand_installed(self, language_host: bool = True) -> None:
        (self.engine / "bin").mkdir(parents=True)
        (self.engine / "bin" / "pulumi").symlink_to(FAKES / "pulumi")
        if language_host:
            (self.engine / "bin" / "pulumi-language-python").symlink_to(FAKES / "pulumi")

    def plugin(self, home: Path, name: str, version: str) -> None:
        (home / "plugins" / f"resource-{name}-v{version}").mkdir(parents=True)

    def run(self, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(PROJECT / "scripts" / "engine.sh")],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path)


def engine_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if "plugins as the SDK packages request" in line]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_nothing_installed_offline_fails_naming_the_cli_and_sends_nothing(machine):
    done = machine.run()
    assert done.returncode == 1 and done.stdout == ""
    assert "no Pulumi CLI" in done.stderr and f"--version {CLI}" in done.stderr
    assert "pulumi plugin install resource NAME VERSION --file PATH" in done.stderr
    assert machine.log.read_text() == ""  # no download tried


def test_hand_installed_engine_is_used_with_its_home(machine):
    machine.hand_installed()
    machine.plugin(machine.engine / "home", "command", COMMAND)
    machine.plugin(machine.engine / "home", "proxmoxve", PROXMOXVE)
    done = machine.run()
    assert done.returncode == 0, done.stderr
    assert f"command {COMMAND} installed; proxmoxve {PROXMOXVE} installed" in engine_line(done)
    # The printed environment puts that engine first on PATH with its PULUMI_HOME.
    shell = f'{done.stdout}\necho "$(command -v pulumi) $PULUMI_HOME"'
    seen = subprocess.run(["bash", "-c", shell], env=machine.env, capture_output=True, text=True, check=True)
    assert seen.stdout.split() == [str(machine.engine / "bin" / "pulumi"), str(machine.engine / "home")]
    assert machine.log.read_text() == ""
    assert not machine.lookups.exists()  # everything is installed: no host name is even looked up


def test_hand_installed_cli_without_its_language_host_fails(machine):
    machine.hand_installed(language_host=False)
    done = machine.run()
    assert done.returncode == 1 and "pulumi-language-python" in done.stderr, done.stderr


def test_a_missing_plugin_offline_fails_naming_it_and_the_fix(machine):
    machine.hand_installed()
    machine.plugin(machine.engine / "home", "command", COMMAND)
    done = machine.run()
    assert done.returncode == 1 and done.stdout == ""
    assert f"pulumi-proxmoxve requests proxmoxve {PROXMOXVE}: not installed" in done.stderr
    assert f"pulumi plugin install resource proxmoxve {PROXMOXVE} --file PATH" in done.stderr
    assert "no download: api.github.com does not resolve (offline)" in done.stderr
    assert len([line for line in done.stderr.splitlines() if "ERROR" in line]) == 1  # the installed one is fine


def test_another_plugin_version_stops_naming_both(machine):
    machine.hand_installed()
    machine.plugin(machine.engine / "home", "command", COMMAND)
    machine.plugin(machine.engine / "home", "proxmoxve", "8.2.0")
    done = machine.run()
    assert done.returncode == 1, done.stderr
    assert f"requests proxmoxve {PROXMOXVE}, but the engine has proxmoxve 8.2.0" in done.stderr


def test_a_missing_plugin_is_downloaded_where_its_host_resolves(machine):
    machine.cli_on_path()
    machine.plugin(machine.home / ".pulumi", "command", COMMAND)
    done = machine.run(FAKE_RESOLVES="api.github.com")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # a pulumi on PATH: nothing to change
    line = engine_line(done)
    assert f"command {COMMAND} installed" in line
    assert f"proxmoxve {PROXMOXVE} downloaded on first use from github://api.github.com/muhlba91/" in line


def test_no_download_when_automatic_acquisition_is_off(machine):
    machine.cli_on_path()
    machine.plugin(machine.home / ".pulumi", "command", COMMAND)
    done = machine.run(FAKE_RESOLVES="api.github.com", PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true")
    assert done.returncode == 1 and f"proxmoxve {PROXMOXVE}: not installed" in done.stderr
    assert "no download: PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION is set" in done.stderr


def test_the_official_installer_runs_where_its_host_resolves(machine):
    done = machine.run(FAKE_RESOLVES="get.pulumi.com api.github.com")
    assert done.returncode == 0, done.stderr
    assert machine.log.read_text().splitlines() == [
        "curl https://get.pulumi.com",
        f"installer --version {CLI} --install-root {machine.engine} --no-edit-path",
    ]
    assert str(machine.engine / "bin") in done.stdout and f"PULUMI_HOME={machine.engine / 'home'}" in done.stdout
    # A fresh PULUMI_HOME: the engine downloads both plugins on first use (their hosts resolve).
    assert "downloaded on first use from https://get.pulumi.com/releases/plugins" in engine_line(done)


def test_a_cli_on_path_wins_over_the_cache(machine):
    machine.cli_on_path()
    machine.hand_installed()
    machine.plugin(machine.home / ".pulumi", "command", COMMAND)
    machine.plugin(machine.home / ".pulumi", "proxmoxve", PROXMOXVE)
    done = machine.run()
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert f"using {machine.bin / 'pulumi'} (on PATH)" in done.stderr


def test_the_cli_version_is_named_when_it_is_not_the_sdks(machine):
    machine.cli_on_path()
    machine.plugin(machine.home / ".pulumi", "command", COMMAND)
    machine.plugin(machine.home / ".pulumi", "proxmoxve", PROXMOXVE)
    done = machine.run(FAKE_PULUMI_VERSION="3.300.0")
    assert done.returncode == 0 and f"pulumi v3.300.0, SDK {CLI};" in engine_line(done)


def test_no_virtualenv_fails_before_looking_for_the_engine(tmp_path):
    empty = tmp_path / "project"
    (empty / "scripts").mkdir(parents=True)
    (empty / "scripts" / "engine.sh").write_text((PROJECT / "scripts" / "engine.sh").read_text())
    done = subprocess.run(
        ["bash", str(empty / "scripts" / "engine.sh")],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "uv sync --frozen" in done.stderr


@pytest.mark.parametrize(
    "value,disabled", [("true", True), ("1", True), ("TRUE", True), ("false", False), ("", False), ("0", False)]
)
def test_acquisition_switch(value, disabled):
    assert plugins.acquisition_disabled({"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": value}) is disabled


def test_download_host():
    assert plugins.download_host("github://api.github.com/muhlba91/pulumi-proxmoxve") == "api.github.com"
    assert plugins.download_host(plugins.DEFAULT_SERVER) == "get.pulumi.com"
