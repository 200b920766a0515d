#!/usr/bin/env bash
# scripts/engine.sh: find the Pulumi engine (the CLI, its Python language host and the resource plugins) and print
# the environment that uses it, for `eval "$(bash scripts/engine.sh)"`. In this order:
#   1. a `pulumi` already on PATH (installed from https://www.pulumi.com/docs/install/; it fetches the plugins
#      pinned in pyproject.toml by itself): prints nothing to change;
#   2. ../shared/engine beside the project (this project's offline workplace and its CI: the CLI v3.259.0 and the
#      plugins command 1.2.1 and proxmoxve 8.3.0, built from their tagged sources), unpacked once under
#      ${SWARM_CEPH_CACHE:-~/.cache/swarm-ceph}/engine by its install.sh.
# Otherwise it fails and says how to install the CLI. Nothing is skipped or replayed without the engine.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${SWARM_CEPH_SHARED_ENGINE:-$repo/../shared/engine}

if command -v pulumi >/dev/null 2>&1; then
  echo "engine: using $(command -v pulumi) ($(pulumi version 2>/dev/null || echo 'version unknown'))" >&2
  exit 0
fi
if [[ -f $shared/install.sh ]]; then
  dest=${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}/engine
  exec bash "$shared/install.sh" "$dest"
fi
cat >&2 <<EOF
engine: ERROR: no Pulumi CLI on PATH and no $shared/install.sh.
engine: Install the Pulumi CLI (https://www.pulumi.com/docs/install/, e.g. \`curl -fsSL https://get.pulumi.com | sh\`,
engine: then put ~/.pulumi/bin on PATH); it downloads the resource plugins this project pins (command 1.2.1,
engine: proxmoxve 8.3.0) on first use.
EOF
exit 1
