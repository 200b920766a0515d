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
    def present(self) -> bool:
        """Not lost: the host answers, or will again (nodes[].state: present)."""
        return not self.lost

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
    aliases: Sequence[pulumi.Alias] = (),
    once_per: pulumi.Resource | None = None,
) -> command.remote.Command:
    """Run ``script`` with ``args`` on ``node``; ``delete`` names the script (and args) that undoes it.

    Secrets only ever travel on stdin. A ``secret`` step (secret stdin or stdout) logs nothing and its stdout is stored
    as a secret. Changing the script, its arguments, stdin or ``connection`` (host, user, key) re-runs ``create`` in
    place, on the host the step now names: with no ``update`` command and no ``triggers``, pulumi-command updates
    rather than replaces (checked with the real engine: a changed host previews as ``~ update``). That is how a
    manager-side step moves to another manager without its delete running on the old one. Should a step ever be
    replaced, it is undone before it is done again, since the default order (new create, then old delete) would undo
    what the guarded create just found already done.

    On a lost host (nodes[].state: lost) the step keeps its record as it is: no input change can make it run again
    (pulumi-command would fail to dial before any script starts), and when the node leaves `nodes` the record is
    dropped without running its delete. Both flags are written to the state by the `pulumi up` that marks the node
    lost. It waits for nothing either: what it waited for may go meanwhile.

    ``once_per`` makes a one-shot step: it runs once for that resource (e.g. the template VM it seals). Later changes
    to its script, arguments or connection are ignored (its work stays done, and its host may no longer answer: a
    sealed template is stopped), and it runs again only when that resource is replaced."""
    create = script_command(script, *args, sudo=node.sudo)
    waits = [r for r in (node.ready, *depends_on) if r is not None] if node.present else []
    if node.lost:
        frozen = {"retain_on_delete": True, "ignore_changes": LOST_HOST_IGNORED}
    elif once_per is not None:
        frozen = {"ignore_changes": LOST_HOST_IGNORED, "replace_with": [once_per]}
    else:
        frozen = {}
    options = pulumi.ResourceOptions(
        parent=parent,
        depends_on=waits,
        additional_secret_outputs=["stdout"] if secret else None,
        delete_before_replace=True,
        aliases=list(aliases),
        **frozen,
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
