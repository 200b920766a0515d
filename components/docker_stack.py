"""DockerStack: `docker stack deploy` on the leader; for the web stack also the page on the shared storage before it
and the page checked on every node after it. Extra stacks (swarm-ceph:stacks) are the deploy step alone, with their
data directory on the shared storage."""

from __future__ import annotations

import hashlib

import pulumi
from pydantic import BaseModel, ConfigDict

from .config import DATA_DIR_VAR, ExtraStackConfig, StackConfig
from .remote import NodeHandle, run_script

REMOTE_STACKS_DIR = "/opt/swarm-ceph/stacks"
SERVE_TIMEOUT_S = 120


def html_dir(shared_root: str) -> str:
    return f"{shared_root.rstrip('/')}/html"


def data_dir(shared_root: str, stack_name: str) -> str:
    """An extra stack's directory on the shared storage (its DATA_DIR): user data, kept when the stack goes."""
    return f"{shared_root.rstrip('/')}/{stack_name}"


def page_sha256(page: str) -> str:
    return hashlib.sha256(page.encode()).hexdigest()


def deploy_environment(stack: StackConfig, shared_root: str) -> list[str]:
    """The variables the web stack's compose file interpolates (``${VAR}``), as VAR=value arguments."""
    return [
        f"NGINX_IMAGE={stack.image}",
        f"PUBLISHED_PORT={stack.published_port}",
        f"HTML_DIR={html_dir(shared_root)}",
    ]


def extra_environment(stack: ExtraStackConfig, shared_root: str) -> list[str]:
    """An extra stack's variables: DATA_DIR (its directory on the shared storage), then its own, as VAR=value."""
    own = [f"{name}={value}" for name, value in sorted(stack.environment.items())]
    return [f"{DATA_DIR_VAR}={data_dir(shared_root, stack.name)}", *own]


def read_stack_files(stack: StackConfig) -> tuple[str, str]:
    """The compose file and the page, read from the project (paths in config are relative to it; the config check
    has made sure both are files)."""
    return stack.compose_path.read_text(), stack.page_path.read_text()


def serving_nodes(nodes: list[NodeHandle]) -> list[NodeHandle]:
    """The nodes that run a task of the web stack (a global service), so that its page is checked and listed there:
    every node but the drained ones (Swarm moves their tasks away; they stay in the Swarm with their mount). A
    paused node keeps the task it has, so it is checked too; a node paused before its first deploy gets none (Swarm
    schedules nothing new on it) and its check fails: deploy with it active first. A lost node serves nothing."""
    return [n for n in nodes if n.present and n.availability != "drain"]


class WebPage(BaseModel):
    """The web stack's page: published under <shared root>/html before the deploy, then every node in ``nodes``
    (``serving_nodes``: not the drained ones) checks that its own address serves it on ``published_port``."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    page: str
    nodes: list[NodeHandle]
    published_port: int


class DockerStackArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    stack: StackConfig | ExtraStackConfig  # name, resolve_image, deploy_timeout_s
    leader: NodeHandle
    shared_root: str
    compose: str
    environment: list[str]  # VAR=value for the compose file's interpolation (deploy_environment, extra_environment)
    after: list  # pulumi.Resource: the Swarm is complete and the storage is mounted and checked on every node
    web: WebPage | None = None  # the web stack only


class DockerStack(pulumi.ComponentResource):
    def __init__(self, name: str, args: DockerStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:DockerStack", name, None, opts)
        st, web = args.stack, args.web
        self.page = None
        if web is not None:
            self.page = run_script(
                f"{name}-page",
                args.leader,
                "stack-page.sh",
                ["put", html_dir(args.shared_root)],
                parent=self,
                stdin=web.page,
                delete=("stack-page.sh", ["remove", html_dir(args.shared_root)]),
                depends_on=args.after,
            )
        deploy_args = [
            "deploy",
            st.name,
            f"{REMOTE_STACKS_DIR}/{st.name}",
            st.resolve_image,
            st.deploy_timeout_s,
            *args.environment,
        ]
        # The delete removes the stack (its services and networks) and nothing else: an extra stack's DATA_DIR on
        # the shared storage is user data and stays, so that a stack deployed again finds its data.
        self.deploy = run_script(
            f"{name}-deploy",
            args.leader,
            "stack-deploy.sh",
            deploy_args,
            parent=self,
            stdin=args.compose,
            delete=("stack-deploy.sh", ["remove", st.name, st.deploy_timeout_s]),
            # the page waits for args.after: listing them again only costs evaluation time
            depends_on=[self.page] if self.page is not None else args.after,
        )
        self.urls: list[str] = []
        self.checks: dict[str, pulumi.Resource] = {}
        if web is not None:
            sha = page_sha256(web.page)
            # Any change to the deployment (compose file, image, port...) re-runs every node's check after the
            # redeploy.
            deployment = hashlib.sha256("\0".join([args.compose, *map(str, deploy_args)]).encode()).hexdigest()[:16]
            self.urls = [f"http://{n.ip}:{web.published_port}/" for n in web.nodes]
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
                for n, url in zip(web.nodes, self.urls, strict=True)
            }
        self.register_outputs({"urls": self.urls})
