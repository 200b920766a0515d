"""Secrets: join tokens are secret outputs, travel on stdin only, are never logged, and no secret value appears
in clear in any resource input (command lines included)."""

from __future__ import annotations

import copy
import json
import logging

import pytest

from components.host_keys import derive_host_key
from lab.program import (
    FAKE_API_TOKEN,
    FAKE_CEPH_CLIENT_KEY,
    FAKE_CEPH_TOKEN_PREFIX,
    FAKE_HOST_KEY_SEED,
    FAKE_SSH_KEY,
    FAKE_TOKENS,
    is_secret,
    run_program,
    stack_config,
    with_secrets,
)

SECRET_VALUES = [FAKE_API_TOKEN, FAKE_SSH_KEY, *FAKE_TOKENS.values(), FAKE_CEPH_TOKEN_PREFIX, FAKE_CEPH_CLIENT_KEY]
# Steps whose stdout is a secret (join tokens; the MicroCeph filesystem step prints the Ceph client's key), and the
# steps that get those secrets (or swarm-ceph:cephClientKey) on stdin.
TOKEN_STEPS = ["swarm-token.sh", "microceph-add.sh", "cephfs-create.sh"]
TOKEN_CONSUMERS = ["swarm-join.sh", "microceph-join.sh", "cephfs-mount.sh"]


def cephfs_config() -> dict:
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["swarm-ceph:storage"] = {"type": "cephfs", "monitors": ["10.10.1.2", "10.10.1.3"]}
    return cfg


def _clear_parts(value):
    """Every value of an input tree that is not wrapped as a secret."""
    if is_secret(value):
        return
    if isinstance(value, dict):
        for v in value.values():
            yield from _clear_parts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _clear_parts(v)
    else:
        yield value


@pytest.fixture(scope="module")
def cephfs_run():
    return run_program(*with_secrets(cephfs_config()))


@pytest.fixture(params=["dev", "prod", "cephfs"])
def run(request, dev_run, prod_run, cephfs_run):
    return {"dev": dev_run, "prod": prod_run, "cephfs": cephfs_run}[request.param]


def test_no_secret_value_in_clear_in_any_input(run):
    for resource in run.resources.values():
        clear = json.dumps(list(_clear_parts(resource.raw_inputs)))
        for secret in SECRET_VALUES:
            assert secret not in clear, f"{resource.name} carries a secret in clear"


def test_no_secret_on_any_command_line(run):
    for resource in run.of_type("command:remote:Command") + run.of_type("command:local:Command"):
        for field in ("create", "update", "delete"):
            text = resource.inputs.get(field) or ""
            for secret in SECRET_VALUES:
                assert secret not in text, f"{resource.name}.{field} holds a secret"


def test_token_outputs_are_secret_and_unlogged(run):
    steps = [s for script in TOKEN_STEPS for s in run.commands(script)]
    assert len(steps) >= (3 if run.commands("microceph-bootstrap.sh") else 1)
    for step in steps:
        assert "stdout" in step.secret_outputs, step.name
        assert step.inputs["logging"] == "none", step.name


def test_tokens_travel_on_stdin_as_secrets(run):
    consumers = [s for script in TOKEN_CONSUMERS for s in run.commands(script)]
    assert len(consumers) >= 4
    for step in consumers:
        assert is_secret(step.raw_inputs["stdin"]), step.name
        assert step.inputs["logging"] == "none", step.name
        assert "stdout" in step.secret_outputs
        assert step.inputs["addPreviousOutputInEnv"] is False
        assert "environment" not in step.inputs  # sshd AcceptEnv is not assumed, and env is not for secrets


def test_api_token_and_private_keys_are_secret(run):
    (provider,) = run.of_type("pulumi:providers:proxmoxve")
    assert is_secret(provider.raw_inputs["apiToken"])
    (convert,) = run.commands("template-convert.sh")
    assert is_secret(convert.raw_inputs["stdin"]) and convert.inputs["logging"] == "none"
    for step in run.of_type("command:remote:Command"):
        connection = step.raw_inputs["connection"]
        assert is_secret(connection) or is_secret(connection["privateKey"]), step.name


def test_no_step_passes_the_previous_output_in_its_environment(run):
    for step in run.of_type("command:remote:Command"):
        assert step.inputs["addPreviousOutputInEnv"] is False, step.name


def test_host_private_keys_and_their_seed_never_in_clear(run):
    """The VMs' user-data holds their private SSH host keys: the snippets are secret inputs, and neither a key nor
    the seed it derives from shows in clear anywhere."""
    vms = [r for r in run.of_type("proxmoxve:index/vmLegacy:VmLegacy")]
    keys = [derive_host_key(FAKE_HOST_KEY_SEED, vm.inputs["name"]).private_openssh for vm in vms]
    assert len(set(keys)) == len(vms) >= 4  # the template and the nodes, each its own key
    snippets = run.of_type("proxmoxve:index/fileLegacy:FileLegacy")
    assert len(snippets) == len(vms)
    for snippet in snippets:
        assert is_secret(snippet.raw_inputs["sourceRaw"]) or is_secret(snippet.raw_inputs["sourceRaw"]["data"])
    bodies = [key.splitlines()[2] for key in keys]  # a line of base64 that only the private key contains
    for resource in run.resources.values():
        clear = json.dumps(list(_clear_parts(resource.raw_inputs)))
        assert FAKE_HOST_KEY_SEED not in clear, resource.name
        assert not any(body in clear for body in bodies), f"{resource.name} carries a private host key in clear"


def test_the_ceph_client_key_reaches_every_mount_as_a_secret_only(run):
    """MicroCeph's key (the filesystem step's secret stdout) or swarm-ceph:cephClientKey: on stdin, as a secret."""
    mounts = run.commands("cephfs-mount.sh")
    assert len(mounts) >= 3
    for mount in mounts:
        assert is_secret(mount.raw_inputs["stdin"]) and mount.inputs["stdin"] == FAKE_CEPH_CLIENT_KEY, mount.name
    assert FAKE_CEPH_CLIENT_KEY not in json.dumps(run.outputs)


def test_the_ceph_client_key_is_in_no_log_and_no_output(caplog):
    with caplog.at_level(logging.DEBUG):
        run = run_program(*with_secrets(cephfs_config()))
    assert run.commands("cephfs-mount.sh")
    assert FAKE_CEPH_CLIENT_KEY not in caplog.text
    assert FAKE_CEPH_CLIENT_KEY not in json.dumps(run.outputs)
    for resource in run.resources.values():
        assert FAKE_CEPH_CLIENT_KEY not in json.dumps(list(_clear_parts(resource.raw_inputs))), resource.name
