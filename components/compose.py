"""Compose files as `docker stack deploy` reads them, and the files their Swarm configs are made from.

A compose file may make Swarm configs from files beside it (``configs: KEY: {file: ./NAME}``): a step of its own
puts each such file beside the compose file on the manager, and the deploy step sets ``KEY_DIGEST`` (upper-case,
e.g. ``WEB_CONF_DIGEST``) to a digest of its content. Swarm configs cannot change, so the compose file names the
config with it (``name: web_conf_${WEB_CONF_DIGEST}``): a new content is a new config, and `docker stack deploy`
rolls the service onto it instead of failing ("only updates to Labels are allowed").
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml


class ComposeLoader(yaml.SafeLoader):
    """YAML as Docker reads a compose file (YAML 1.2 integers): ``2222:22`` is a string, not a base-60 number."""


ComposeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ComposeLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))

_SHIPPABLE = re.compile(r"^(?:\./)?([A-Za-z0-9][A-Za-z0-9._-]*)$")


def load(compose: str) -> dict:
    """The compose file's top-level mapping ({} when empty); a YAMLError when it is not YAML or not a mapping."""
    doc = yaml.load(compose, Loader=ComposeLoader) or {}
    if not isinstance(doc, dict):
        raise yaml.YAMLError(f"a compose file is a mapping (services:, configs:...), not a {type(doc).__name__}")
    return doc


def config_files(compose: str) -> dict[str, str]:
    """The Swarm configs made from a file: config KEY -> the file as written (``./NAME`` or ``NAME``)."""
    configs = load(compose).get("configs") or {}
    return {key: str(spec["file"]) for key, spec in configs.items() if isinstance(spec, dict) and "file" in spec}


def digest_variable(config_key: str) -> str:
    """The variable the deploy step sets to the digest of a config's file: ``web_conf`` -> ``WEB_CONF_DIGEST``."""
    return re.sub(r"\W", "_", config_key).upper() + "_DIGEST"


def check_config_files(compose_path: Path, key: str, environment: dict[str, str] | None = None) -> list[str]:
    """Problems with the files the compose file at ``compose_path`` (config key ``key``) makes configs from, and
    with a variable of the stack's ``environment`` that the deploy step sets to a file's digest."""
    try:
        files = config_files(compose_path.read_text())
    except yaml.YAMLError as e:
        return [f"{key} {str(compose_path)!r} cannot be read as a compose file: {e}. Fix: correct it"]
    p: list[str] = []
    for config, file in files.items():
        m = _SHIPPABLE.match(file)
        if not m:
            p.append(
                f"{key}: configs.{config}.file {file!r} is not a file beside the compose file (the deploy step ships "
                "only those). Fix: put it in the compose file's directory and write ./NAME"
            )
        elif not (compose_path.parent / m[1]).is_file():
            p.append(
                f"{key}: configs.{config}.file {file!r} is not a file (looked for {compose_path.parent / m[1]}). "
                "Fix: create it beside the compose file, or remove the config"
            )
        if digest_variable(config) in (environment or {}):
            p.append(
                f"{key.rsplit('.', 1)[0]}.environment.{digest_variable(config)} is reserved: the deploy step sets it "
                f"to the digest of configs.{config}'s file. Fix: remove it"
            )
    return p


def shipped_files(compose: str, directory: Path) -> tuple[dict[str, str], list[str]]:
    """The files the compose file's configs are made from, read from ``directory`` (NAME -> text), and the digest
    variables (``KEY_DIGEST=...``) for the compose file's interpolation."""
    files: dict[str, str] = {}
    digests: list[str] = []
    for config, file in sorted(config_files(compose).items()):
        name = _SHIPPABLE.match(file)[1]  # the config check has made sure that it is one
        files[name] = (directory / name).read_text()
        digests.append(f"{digest_variable(config)}={hashlib.sha256(files[name].encode()).hexdigest()[:16]}")
    return files, digests
