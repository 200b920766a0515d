#!/usr/bin/env bash
# swarm-leave.sh: leave the Swarm if this node is in one (the undo of swarm-init.sh and swarm-join.sh).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers; nothing to leave"
  exit 0
fi
state=$(swarm_state)
if [[ $state != inactive ]]; then
  docker swarm leave --force >/dev/null
fi
echo "left"
