"""Evaluate the Pulumi program under Pulumi's mock runtime and record the resource graph it registers: every
resource with its inputs (secrets marked), dependencies and options.

Used by the unit tests (L1), the engine tests (to compare) and the benchmarks. Nothing here talks to a network.
The mock runtime answers with placeholder outputs (FAKE_*), so that tests can also check where secrets travel."""

from __future__ import annotations

import json
import runpy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS, get_root_resource, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT = Path(__file__).resolve().parent.parent
SECRET_SIG = rpc._special_secret_sig  # noqa: SLF001 - the wire marker of a secret value

# Fake secrets: tests assert that none of them ever shows up where it must not.
FAKE_API_TOKEN = "root@pam!ci=00000000-0000-0000-0000-000000000000"
FAKE_SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE-KEY-c2VjcmV0LWtleS1tYXRlcmlhbA\n-----END OPENSSH PRIVATE KEY-----"
)
FAKE_TOKENS = {
    "worker": "SWMTKN-1-0fakeworkertoken0000000000000000000000000000000000-workerpart0000000000000",
    "manager": "SWMTKN-1-0fakemanagertoken000000000000000000000000000000000-managerpart000000000000",
}
FAKE_HOST_KEY_SEED = "fake-host-key-seed-0123456789abcdef0123456789abcdef"
FAKE_CEPH_TOKEN_PREFIX = "eyJmYWtlLW1pY3JvY2VwaC10b2tlbiI6"
# A Ceph client key of the real shape (base64 of 28 bytes: type 1, created, length 16, "FAKE-client-key!"): the
# MicroCeph filesystem step's stdout under mocks, and swarm-ceph:cephClientKey for storage.type cephfs.
FAKE_CEPH_CLIENT_KEY = "AQAA8VNlAAAAABAARkFLRS1jbGllbnQta2V5IQ=="


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    raw_inputs: dict[str, Any]  # as on the wire: secrets still wrapped
    dependencies: list[str]
    secret_outputs: list[str]
    ignore_changes: list[str]
    delete_before_replace: bool
    retain_on_delete: bool
    aliases: list[str]  # the names (or URNs) of the aliases it was registered with
    replace_with: list[str]  # URNs whose replacement replaces it too
    outputs: dict[str, Any]  # what the mocks answered (e.g. a fake token as a token step's stdout)


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "command:remote:Command":
            create = args.inputs.get("create", "")
            if "swarm-token.sh" in create:
                role = "manager" if create.rstrip().endswith("manager") else "worker"
                outputs["stdout"] = FAKE_TOKENS[role]
            elif "microceph-add.sh" in create:
                outputs["stdout"] = FAKE_CEPH_TOKEN_PREFIX + args.name
            elif "cephfs-create.sh" in create:
                outputs["stdout"] = FAKE_CEPH_CLIENT_KEY + "\n"
            else:
                outputs["stdout"] = "ok"
            outputs["stderr"] = ""
        if args.typ == "proxmoxve:index/vmLegacy:VmLegacy":
            outputs["ipv4Addresses"] = [["127.0.0.1"], ["10.10.1.9"]]
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class _RecordingMonitor(pmocks.MockMonitor):
    def __init__(self, mocks):
        super().__init__(mocks)
        self.registered: dict[str, Registered] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = json.loads(json.dumps(_to_py(request.object)))
            self.registered[response.urn] = Registered(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                inputs=_strip_secrets(raw),
                raw_inputs=raw,
                dependencies=list(request.dependencies),
                secret_outputs=list(request.additionalSecretOutputs),
                ignore_changes=list(request.ignoreChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                retain_on_delete=bool(request.retainOnDelete),
                aliases=[a.spec.name or a.urn for a in request.aliases] + list(request.aliasURNs),
                replace_with=list(request.replace_with),
                outputs=_strip_secrets(_to_py(response.object)) if response.object else {},
            )
        return response


def _to_py(struct) -> Any:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(struct)


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == SECRET_SIG:  # noqa: SLF001
            return _strip_secrets(value.get("value"))
        return {k: _strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secrets(v) for v in value]
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == SECRET_SIG  # noqa: SLF001


@dataclass
class Run:
    resources: dict[str, Registered]
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources.values() if r.type == typ]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources.values() if r.name == name]
        assert len(found) == 1, f"{len(found)} resources named {name}"
        return found[0]

    def commands(self, script: str) -> list[Registered]:
        return [
            r
            for r in self.resources.values()
            if r.type in ("command:remote:Command", "command:local:Command")
            and f" {script} " in " " + r.inputs.get("create", "").replace("'", " ") + " "
        ]

    def ancestors(self, urn: str) -> set[str]:
        """Every custom resource ``urn`` waits for, directly or transitively (a dependency on a component stands
        for all the custom resources under it)."""
        seen: set[str] = set()
        todo = [urn]
        while todo:
            for dep in self.direct_custom_deps(todo.pop()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    def depends_on(self, later: Registered, earlier: Registered) -> bool:
        return earlier.urn in self.ancestors(later.urn)

    def critical_path(self) -> int:
        """Length (in custom resources) of the longest dependency chain."""
        memo: dict[str, int] = {}

        def depth(urn: str) -> int:
            if urn not in memo:
                r = self.resources[urn]
                memo[urn] = (1 if r.custom else 0) + max((depth(d) for d in self.direct_custom_deps(urn)), default=0)
            return memo[urn]

        return max((depth(u) for u, r in self.resources.items() if r.custom), default=0)

    def direct_custom_deps(self, urn: str) -> set[str]:
        """Custom resources ``urn`` directly waits for (a component dependency stands for its custom descendants)."""
        out: set[str] = set()
        for dep in self.resources[urn].dependencies:
            out |= self._customs_under(dep)
        return out

    def _customs_under(self, urn: str) -> set[str]:
        r = self.resources.get(urn)
        if r is None:
            return set()
        if r.custom:
            return {urn}
        out: set[str] = set()
        for child in self.resources.values():
            if child.parent == urn:
                out |= self._customs_under(child.urn)
        return out


def stack_config(stack: str) -> dict[str, Any]:
    """The committed Pulumi.<stack>.yaml config, as the engine would hand it over (objects as JSON text)."""
    doc = yaml.safe_load((PROJECT / f"Pulumi.{stack}.yaml").read_text())
    return {k: v for k, v in doc["config"].items()}


def with_secrets(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    cfg = dict(config)
    secrets = ["swarm-ceph:sshPrivateKey"]
    cfg["swarm-ceph:sshPrivateKey"] = FAKE_SSH_KEY
    if cfg.get("swarm-ceph:infrastructure", "proxmox") == "proxmox":
        cfg["swarm-ceph:proxmoxApiToken"] = FAKE_API_TOKEN
        cfg["swarm-ceph:hostKeySeed"] = FAKE_HOST_KEY_SEED
        secrets += ["swarm-ceph:proxmoxApiToken", "swarm-ceph:hostKeySeed"]
    storage = cfg.get("swarm-ceph:storage") or {}
    if (json.loads(storage) if isinstance(storage, str) else storage).get("type") == "cephfs":
        cfg["swarm-ceph:cephClientKey"] = FAKE_CEPH_CLIENT_KEY
        secrets.append("swarm-ceph:cephClientKey")
    return cfg, secrets


def run_program(config: dict[str, Any], secret_keys: list[str], stack: str = "test", record: bool = True) -> Run:
    """Evaluate __main__.py under mocks with ``config`` (``swarm-ceph:key`` -> value; objects may be dicts).
    ``record=False`` skips recording the graph (for timing the evaluation alone)."""
    monitor = _RecordingMonitor(_Mocks()) if record else pmocks.MockMonitor(_Mocks())
    set_root_resource(None)  # a fresh root stack per run: its exports would otherwise carry over
    pulumi.runtime.set_mocks(_Mocks(), project="swarm-ceph", stack=stack, preview=False, monitor=monitor)
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    pulumi.runtime.set_all_config(encoded, secret_keys)
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    started = time.perf_counter()
    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(PROJECT / "__main__.py"), run_name="__pulumi__")))
    seconds = time.perf_counter() - started
    exports = get_root_resource().outputs
    values = _sync_await(pulumi.Output.all(*exports.values()).future()) if exports else []
    resources = dict(monitor.registered) if record else {}
    return Run(resources=resources, outputs=dict(zip(exports, values, strict=True)), seconds=seconds)


def run_stack(stack: str) -> Run:
    cfg, secrets = with_secrets(stack_config(stack))
    return run_program(cfg, secrets, stack=stack)
