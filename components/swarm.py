"""SwarmCluster: init on the first manager, join tokens as secrets, parallel joins, labels and availability, clean
leave."""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict

from .remote import NodeHandle, run_script

NODE_READY_TIMEOUT_S = 120


class SwarmClusterArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    nodes: list[NodeHandle]


class SwarmCluster(pulumi.ComponentResource):
    """Per node: ``join`` on the node (token on stdin; delete: leave) and ``node`` on the leader (wait Ready, labels,
    availability; delete: demote/remove). Joins only depend on the token of their role, so they run in parallel. A
    lost node (nodes[].state: lost) has no ``node`` step: removing it is what forgets the node."""

    def __init__(self, name: str, args: SwarmClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:SwarmCluster", name, None, opts)
        leader = next(n for n in args.nodes if n.role == "manager")
        self.leader = leader

        self.init = run_script(
            f"{name}-init", leader, "swarm-init.sh", [leader.ip], parent=self, delete=("swarm-leave.sh", [])
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
        self.joins = {}
        self.members = {}
        for node in args.nodes:
            label_args = [f"{k}={v}" for k, v in sorted(node.labels.items())]
            if node is leader:
                self.members[node.name] = run_script(
                    f"{name}-{node.name}-node",
                    leader,
                    "swarm-node.sh",
                    ["apply", node.name, NODE_READY_TIMEOUT_S, node.availability, *label_args],
                    parent=self,
                    depends_on=[self.init],
                )
                continue
            join = run_script(
                f"{name}-{node.name}-join",
                node,
                "swarm-join.sh",
                [leader.ip, node.ip],
                parent=self,
                stdin=pulumi.Output.secret(self.tokens[node.role].stdout),
                secret=True,
                delete=("swarm-leave.sh", []),
            )
            self.joins[node.name] = join
            if node.lost:
                # No member step: the one it had is deleted, which demotes and removes the node from the Swarm on
                # the leader (`docker node rm --force`), the node itself never answering again.
                continue
            # On the leader; deleting it (scale-down, destroy) demotes and removes the node before it leaves.
            self.members[node.name] = run_script(
                f"{name}-{node.name}-node",
                leader,
                "swarm-node.sh",
                ["apply", node.name, NODE_READY_TIMEOUT_S, node.availability, *label_args],
                parent=self,
                depends_on=[join],
                delete=("swarm-node.sh", ["remove", node.name]),
            )
        self.manager_address = f"{leader.ip}:2377"
        self.register_outputs({"manager_address": self.manager_address})

    @property
    def ready(self) -> list[pulumi.Resource]:
        """Every node is in the Swarm, Ready, with its labels and availability."""
        return list(self.members.values())
