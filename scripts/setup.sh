#!/usr/bin/env bash
# scripts/setup.sh: set up this machine for swarm-ceph (idempotent; a second run does no work).
#   - Debian packages the tests use: shellcheck, cloud-init (for `cloud-init schema`), curl, openssh-client; for
#     the VM lab (lab/vm, tests/test_vm.py): qemu-system-x86, qemu-utils, cloud-image-utils, mmdebstrap, extlinux,
#     syslinux-common, fdisk, iproute2, dpkg-dev (dpkg-scanpackages: the lab's local apt repository)
#   - uv, and the locked Python environment in .venv (uv sync --frozen)
#   - a running Docker engine for the lab (lab/ensure-docker.sh installs docker.io if needed and starts dockerd)
#   - the Pulumi engine (scripts/engine.sh: a `pulumi` on PATH, else the one in ~/.cache/swarm-ceph/engine, else
#     Pulumi's official installer where get.pulumi.com resolves) and its plugin check
# Needs root (or sudo) for apt-get. Prints what it installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'setup: %s\n' "$*" >&2; }
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo -n "$@"; fi; }

missing=()
for pkg in shellcheck cloud-init curl openssh-client \
  qemu-system-x86 qemu-utils cloud-image-utils mmdebstrap extlinux syslinux-common fdisk iproute2 dpkg-dev; do
  [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  as_root apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v uv >/dev/null 2>&1; then
  log "pip install uv"
  python3 -m pip install -q --user uv 2>/dev/null || python3 -m pip install -q uv
  export PATH="$HOME/.local/bin:$PATH"
fi
command -v uv >/dev/null || { log "error: uv is not on PATH after installing it"; exit 1; }
# Bytecode compiled once here: the program imports large provider SDKs on every run.
uv sync --frozen --quiet --compile-bytecode
bash lab/ensure-docker.sh
engine=$(bash scripts/engine.sh)
eval "$engine"
log "ready: $(uv run --frozen python --version), shellcheck $(shellcheck --version | sed -n 's/^version: //p'), cloud-init $(cloud-init --version 2>&1 | awk '{print $2}'), docker $(docker version --format '{{.Server.Version}}'), pulumi $(pulumi version)"
