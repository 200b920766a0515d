"""DockerStack: the page on the shared storage, `docker stack deploy` on the leader, the page checked on every node."""

from __future__ import annotations

import hashlib

import pulumi
from pydantic import BaseModel, ConfigDict

from .config import StackConfig
from .remote import NodeHandle, run_script

REMOTE_STACKS_DIR = "/opt/swarm-ceph/stacks"
SERVE_TIMEOUT_S = 120


def html_dir(shared_root: str) -> str:
    return f"{shared_root.rstrip('/')}/html"


def page_sha256(page: str) -> str:
    return hashlib.sha256(page.encode()).hexdigest()


def deploy_environment(stack: StackConfig, shared_root: str) -> list[str]:
    """The variables the compose file interpolates (``${VAR}``), as VAR=value arguments."""
    return [
        f"NGINX_IMAGE={stack.image}",
        f"PUBLISHED_PORT={stack.published_port}",
        f"HTML_DIR={html_dir(shared_root)}",
    ]


def read_stack_files(stack: StackConfig) -> tuple[str, str]:
    """The compose file and the page, read from the project (paths in config are relative to it; the config check
    has made sure both are files)."""
    return stack.compose_path.read_text(), stack.page_path.read_text()


class DockerStackArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    stack: StackConfig
    leader: NodeHandle
    nodes: list[NodeHandle]
    shared_root: str
    compose: str
    page: str
    after: list  # pulumi.Resource: the Swarm is complete and the storage is mounted and checked on every node


class DockerStack(pulumi.ComponentResource):
    def __init__(self, name: str, args: DockerStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:DockerStack", name, None, opts)
        st = args.stack
        self.page = run_script(
            f"{name}-page",
            args.leader,
            "stack-page.sh",
            ["put", html_dir(args.shared_root)],
            parent=self,
            stdin=args.page,
            delete=("stack-page.sh", ["remove", html_dir(args.shared_root)]),
            depends_on=args.after,
        )
        deploy_args = [
            "deploy",
            st.name,
            f"{REMOTE_STACKS_DIR}/{st.name}",
            st.resolve_image,
            st.deploy_timeout_s,
            *deploy_environment(st, args.shared_root),
        ]
        self.deploy = run_script(
            f"{name}-deploy",
            args.leader,
            "stack-deploy.sh",
            deploy_args,
            parent=self,
            stdin=args.compose,
            delete=("stack-deploy.sh", ["remove", st.name, st.deploy_timeout_s]),
            depends_on=[self.page],  # which waits for args.after: listing them again only costs evaluation time
        )
        sha = page_sha256(args.page)
        # Any change to the deployment (compose file, image, port...) re-runs every node's check after the redeploy.
        deployment = hashlib.sha256("\0".join([args.compose, *map(str, deploy_args)]).encode()).hexdigest()[:16]
        self.urls = [f"http://{n.ip}:{st.published_port}/" for n in args.nodes]
        # Each node checks its own address: the page's port is open to the LAN only, not between nodes.
        self.checks = {
            n.name: run_script(
                f"{name}-{n.name}-serves",
                n,
                "serve-check.sh",
                [url, sha, SERVE_TIMEOUT_S, deployment],
                parent=self,
                depends_on=[self.deploy],
            )
            for n, url in zip(args.nodes, self.urls, strict=True)
        }
        self.register_outputs({"urls": self.urls})
