"""What the platform components know about a node, and the one way they run a script on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import pulumi
import pulumi_command as command
from pydantic import BaseModel, ConfigDict

from .scripts import script_command


class NodeHandle(BaseModel):
    """A host the platform runs on, whatever created it (a Proxmox clone or a host you brought).

    ``ready`` is the resource that proves the host answers (its readiness step): every remote step on the host
    depends on it, so at destroy time each step is undone while its host still exists."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str
    ip: str | pulumi.Output  # an Output only for a template built with DHCP
    role: Literal["manager", "worker"]
    labels: dict[str, str]
    ssh_user: str
    ssh_port: int
    private_key: Any  # pulumi.Output[str], secret
    dial_error_limit: int = 60
    per_dial_timeout: int = 10
    host_key: str | None = None
    lost: bool = False  # nodes[].state: lost: the host is gone for good; its steps are never run again
    availability: str = "active"  # Swarm availability: active, pause or drain (config: nodes[].availability)
    ready: Any = None  # pulumi.Resource

    @property
    def sudo(self) -> bool:
        return self.ssh_user != "root"

    def connection(self) -> command.remote.ConnectionArgs:
        return command.remote.ConnectionArgs(
            host=self.ip,
            port=self.ssh_port,
            user=self.ssh_user,
            private_key=self.private_key,
            dial_error_limit=self.dial_error_limit,
            per_dial_timeout=self.per_dial_timeout,
            host_key=self.host_key,
        )


# Every input of a remote step: on a lost host none of them may change the step (see run_script).
LOST_HOST_IGNORED = [
    "connection",
    "create",
    "update",
    "delete",
    "stdin",
    "environment",
    "logging",
    "triggers",
    "add_previous_output_in_env",
]


def run_script(
    name: str,
    node: NodeHandle,
    script: str,
    args: Sequence[object] = (),
    *,
    parent: pulumi.Resource,
    stdin: pulumi.Input[str] | None = None,
    delete: tuple[str, Sequence[object]] | None = None,
    secret: bool = False,
    depends_on: Sequence[pulumi.Resource] = (),
) -> command.remote.Command:
    """Run ``script`` with ``args`` on ``node``; ``delete`` names the script (and args) that undoes it.

    Secrets only ever travel on stdin. A ``secret`` step (secret stdin or stdout) logs nothing and its stdout is stored
    as a secret. Changing the script, its arguments or stdin re-runs ``create`` in place: with no
    ``update`` command and no ``triggers``, pulumi-command updates rather than replaces. A change of ``connection``
    (host, user, key) does replace the step; it is then undone before it is done again, since the default order
    (new create, then old delete) would undo what the guarded create just found already done."""
    create = script_command(script, *args, sudo=node.sudo)
    deps = [node.ready, *depends_on] if node.ready is not None else list(depends_on)
    options = pulumi.ResourceOptions(
        parent=parent,
        depends_on=deps,
        additional_secret_outputs=["stdout"] if secret else None,
        delete_before_replace=True,
    )
    if node.lost:
        # The host is gone for good: the step keeps its record as it is (no input change can make it run again:
        # pulumi-command would fail to dial before any script starts), and when the node leaves `nodes` the record
        # is dropped without running its delete. Both flags are written to the state by this `pulumi up`.
        # It waits for nothing either: what it waited for may go meanwhile.
        options = pulumi.ResourceOptions(
            parent=parent,
            additional_secret_outputs=options.additional_secret_outputs,
            delete_before_replace=True,
            retain_on_delete=True,
            ignore_changes=LOST_HOST_IGNORED,
        )
    return command.remote.Command(
        name,
        connection=node.connection(),
        create=create,
        delete=script_command(delete[0], *delete[1], sudo=node.sudo) if delete else None,
        stdin=stdin,
        logging=command.remote.Logging.NONE if secret else command.remote.Logging.STDOUT_AND_STDERR,
        add_previous_output_in_env=False,
        opts=options,
    )
