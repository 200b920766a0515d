"""SwarmCluster: the Swarm made on the leader, join tokens as secrets, parallel joins, roles, labels and
availability, clean leave."""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict

from .remote import NodeHandle, run_script

NODE_READY_TIMEOUT_S = 120
NODE_DRAIN_TIMEOUT_S = 120  # a removed node's tasks start elsewhere first; it is removed anyway after this


class SwarmClusterArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    nodes: list[NodeHandle]


def leader_of(nodes: list[NodeHandle]) -> NodeHandle:
    """Where every manager-side step runs: the first manager in `nodes` that is not lost (config refuses a config
    without one)."""
    return next(n for n in nodes if n.role == "manager" and n.present)


class SwarmCluster(pulumi.ComponentResource):
    """Per node: ``join`` on the node (delete: leave the Swarm) and ``node`` on the leader (wait Ready, role, labels,
    availability; delete: drain it until its tasks run elsewhere, demote and remove it).

    The leader's ``join`` makes the Swarm (``swarm-init.sh``, which finds it there on every later run); every other
    node's joins with its role's token (on stdin), so the joins run in parallel once the tokens are read. The
    leader leaves last on destroy: everything it runs depends on its ``join``.

    When the first manager is marked lost, the next manager in `nodes` becomes the leader in the same `pulumi up`:
    every manager-side step is updated in place to run there (its create re-runs and finds its work done; no
    delete runs on the lost host), its ``join`` becomes the ``swarm-init.sh`` that finds the Swarm (``--existing``:
    it never makes a new one), and the lost node's ``node`` step forgets it: demote and `docker node rm --force`,
    on the leader. A lost node's own steps keep their records unchanged (``run_script``)."""

    def __init__(self, name: str, args: SwarmClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:SwarmCluster", name, None, opts)
        managers = [n for n in args.nodes if n.role == "manager"]
        leader = leader_of(args.nodes)
        self.leader = leader

        def join_name(node: NodeHandle) -> tuple[str, list[pulumi.Alias]]:
            # The first manager's join was named "<name>-init" before every node had one: the alias keeps
            # existing stacks' step (renaming it would delete it, and its delete makes the manager leave).
            first = node is managers[0]
            return f"{name}-{node.name}-join", [pulumi.Alias(name=f"{name}-init")] if first else []

        step, aliases = join_name(leader)
        self.init = run_script(
            step,
            leader,
            "swarm-init.sh",
            [leader.ip, *(["--existing"] if leader is not managers[0] else [])],
            parent=self,
            delete=("swarm-leave.sh", []),
            aliases=aliases,
        )
        self.tokens = {
            role: run_script(
                f"{name}-{role}-token",
                leader,
                "swarm-token.sh",
                [role],
                parent=self,
                secret=True,
                depends_on=[self.init],
            )
            for role in sorted({n.role for n in args.nodes if n is not leader})
        }
        self.joins = {leader.name: self.init}
        for node in args.nodes:
            if node is leader:
                continue
            step, aliases = join_name(node)
            self.joins[node.name] = run_script(
                step,
                node,
                "swarm-join.sh",
                [leader.ip, node.ip],
                parent=self,
                stdin=pulumi.Output.secret(self.tokens[node.role].stdout),
                secret=True,
                delete=("swarm-leave.sh", []),
                aliases=aliases,
            )
        self.members = {node.name: self._member(name, leader, node) for node in args.nodes}
        self.manager_address = f"{leader.ip}:2377"
        self.register_outputs({"manager_address": self.manager_address})

    def _member(self, name: str, leader: NodeHandle, node: NodeHandle) -> pulumi.Resource:
        """The node's ``node`` step, on the leader, after its join."""
        labels = [f"{k}={v}" for k, v in sorted(node.labels.items())]
        apply = ["apply", node.name, NODE_READY_TIMEOUT_S, node.role, node.availability, *labels]
        if node.lost:
            # Forget it: demoted if a manager and removed from the Swarm, the node itself never dialed. Nothing is
            # left to undo, so no delete: dropping its entry later drops this record.
            script, delete = ["remove", node.name], None
        elif node is leader:
            script, delete = apply, None  # it cannot remove itself: it leaves (its join's delete)
        else:
            # drain, demote and remove, before it leaves
            script, delete = apply, ("swarm-node.sh", ["remove", node.name, NODE_DRAIN_TIMEOUT_S])
        return run_script(
            f"{name}-{node.name}-node",
            leader,
            "swarm-node.sh",
            script,
            parent=self,
            depends_on=[self.joins[node.name]] if node.present else [self.init],
            delete=delete,
        )

    @property
    def ready(self) -> list[pulumi.Resource]:
        """Every node is in the Swarm, Ready, with its role, labels and availability; every lost one is forgotten."""
        return list(self.members.values())
