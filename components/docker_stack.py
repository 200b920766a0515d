"""DockerStack: `docker stack deploy` on the leader, after a step per file its Swarm configs are made from; for the
web stack also the page on the shared storage before it and the page checked on every node after it. Extra stacks
(swarm-ceph:stacks) have no page: their data directory is on the shared storage."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pulumi
from pydantic import BaseModel, ConfigDict

from . import compose as compose_files
from .config import DATA_DIR_VAR, ExtraStackConfig, PublishedPort, StackConfig
from .remote import NodeHandle, run_script

REMOTE_STACKS_DIR = "/opt/swarm-ceph/stacks"
SERVE_TIMEOUT_S = 120
WEB_SERVICE = "web"  # the web stack's service serving the page (told to reload when it serves an older one)


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
        f"STACK_NAME={stack.name}",
        f"NGINX_IMAGE={stack.image}",
        f"PUBLISHED_PORT={stack.published_port}",
        f"HTML_DIR={html_dir(shared_root)}",
    ]


def extra_environment(stack: ExtraStackConfig, shared_root: str) -> list[str]:
    """An extra stack's variables: DATA_DIR (its directory on the shared storage), then its own, as VAR=value."""
    own = [f"{name}={value}" for name, value in sorted(stack.environment.items())]
    return [f"{DATA_DIR_VAR}={data_dir(shared_root, stack.name)}", *own]


_VARIABLE = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def interpolate(text: str, environment: list[str]) -> str | None:
    """``text`` with the compose file's ``$VAR``, ``${VAR}``, ``${VAR:-default}``... filled from ``environment``
    (VAR=value items) as `docker stack deploy` fills them; None when a variable has neither a value nor a default."""
    env = dict(item.split("=", 1) for item in environment)
    unresolved = False

    def fill(m: re.Match) -> str:
        nonlocal unresolved
        if m[0] == "$$":
            return "$"
        name, op, default = m[1] or m[4], m[2], m[3]
        value = env.get(name)
        if value is None or (value == "" and op and op.startswith(":")):
            if op in ("-", ":-"):
                return default
            unresolved = True
            return ""
        return value

    out = _VARIABLE.sub(fill, text)
    return None if unresolved else out


def compose_published_ports(compose: str, environment: list[str]) -> list[PublishedPort]:
    """The ports a compose file publishes on the nodes (long and short syntax, ranges expanded), as far as they can
    be read before the deploy: an entry whose published port is random or not resolvable is left out."""
    found: list[PublishedPort] = []
    services = compose_files.load(compose).get("services") or {}
    for service in services.values():
        for entry in (service or {}).get("ports") or []:
            if isinstance(entry, dict):
                published = entry.get("published")
                text = None if published is None else interpolate(str(published), environment)
                protocol = interpolate(str(entry.get("protocol", "tcp")), environment)
            elif isinstance(entry, str) and (filled := interpolate(entry, environment)) is not None:
                spec, _, protocol = filled.partition("/")  # [IP:]PUBLISHED:TARGET[/PROTOCOL]
                parts = spec.rsplit(":", 2)
                text, protocol = (parts[-2] if len(parts) > 1 else None), protocol or "tcp"
            else:
                continue  # a bare container port (Swarm picks the published one), or not resolvable
            span = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip()) if text else None
            if span is None or protocol not in ("tcp", "udp"):
                continue
            low, high = int(span[1]), int(span[2] or span[1])
            found += [PublishedPort(port=port, protocol=protocol) for port in range(low, min(high, 65535) + 1)]
    return list(dict.fromkeys(found))


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
    compose_path: Path  # beside it, the files its configs are made from (compose.shipped_files)
    environment: list[str]  # VAR=value for the compose file's interpolation (deploy_environment, extra_environment)
    after: list  # pulumi.Resource: the Swarm is complete and the storage is mounted and checked on every node
    web: WebPage | None = None  # the web stack only
    # The ports the PVE security group opens to the LAN for this stack; None without one (infrastructure: hosts).
    firewall_ports: list[PublishedPort] | None = None


class DockerStack(pulumi.ComponentResource):
    def __init__(self, name: str, args: DockerStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swarm-ceph:index:DockerStack", name, None, opts)
        st, web = args.stack, args.web
        compose = args.compose_path.read_text()
        files, digests = compose_files.shipped_files(compose, args.compose_path.parent)
        environment = [*args.environment, *digests]
        stack_dir = f"{REMOTE_STACKS_DIR}/{st.name}"
        if args.firewall_ports is not None:
            _warn_closed_ports(self, name, args, compose, environment)
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
        # The files the compose file's configs are made from, beside it on the manager: a step each, its content on
        # stdin (a readable diff); the deploy step sets their digests, which name the configs.
        self.files = [
            run_script(
                f"{name}-file-{file}",
                args.leader,
                "stack-file.sh",
                ["put", stack_dir, file],
                parent=self,
                stdin=text,
                delete=("stack-file.sh", ["remove", stack_dir, file]),
                depends_on=args.after,
            )
            for file, text in files.items()
        ]
        deploy_args = [
            "deploy",
            st.name,
            stack_dir,
            st.resolve_image,
            st.deploy_timeout_s,
            *environment,
        ]
        # The delete removes the stack (its services and networks) and nothing else: an extra stack's DATA_DIR on
        # the shared storage is user data and stays, so that a stack deployed again finds its data.
        self.deploy = run_script(
            f"{name}-deploy",
            args.leader,
            "stack-deploy.sh",
            deploy_args,
            parent=self,
            stdin=compose,
            delete=("stack-deploy.sh", ["remove", st.name, st.deploy_timeout_s]),
            # the page and the files wait for args.after: listing them again only costs evaluation time
            depends_on=[*([self.page] if self.page is not None else args.after), *self.files],
        )
        self.urls: list[str] = []
        self.checks: dict[str, pulumi.Resource] = {}
        if web is not None:
            sha = page_sha256(web.page)
            # Any change to the deployment (compose file, image, port...) re-runs every node's check after the
            # redeploy.
            deployment = hashlib.sha256("\0".join([compose, *map(str, deploy_args)]).encode()).hexdigest()[:16]
            self.urls = [f"http://{n.ip}:{web.published_port}/" for n in web.nodes]
            # Each node checks its own address: the page's port is open to the LAN only, not between nodes.
            self.checks = {
                n.name: run_script(
                    f"{name}-{n.name}-serves",
                    n,
                    "serve-check.sh",
                    [url, sha, SERVE_TIMEOUT_S, deployment, f"{st.name}_{WEB_SERVICE}"],
                    parent=self,
                    depends_on=[self.deploy],
                )
                for n, url in zip(web.nodes, self.urls, strict=True)
            }
        self.register_outputs({"urls": self.urls})


def _warn_closed_ports(
    stack: DockerStack, name: str, args: DockerStackArgs, compose: str, environment: list[str]
) -> None:
    """A warning when the compose file publishes a port the PVE security group keeps closed to the LAN."""
    closed = [p for p in compose_published_ports(compose, environment) if p not in args.firewall_ports]
    if not closed:
        return
    if isinstance(args.stack, ExtraStackConfig):
        fix = f"add them to swarm-ceph:stacks[].publishedPorts of the stack named {args.stack.name}"
    else:
        fix = "publish the page on swarm-ceph:stack.publishedPort (the web compose file's ${PUBLISHED_PORT})"
    pulumi.log.warn(
        f"{name}: its compose file publishes {', '.join(map(str, closed))}, which the PVE security group does not "
        f"open, so the LAN cannot reach them. Fix: {fix}",
        resource=stack,
    )
