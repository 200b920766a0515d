#!/usr/bin/env bash
# swarm-leave.sh [TIMEOUT_S]: leave the Swarm if this node is in one (the undo of swarm-init.sh and swarm-join.sh).
# A node that is slow or just back from a fault can fail the leave ("context deadline exceeded" while its Raft or
# dispatcher shuts down): it is tried again until the node is out, for TIMEOUT_S (180); a timeout names Docker's
# last error.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

timeout_s=${1:-180}

if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers; nothing to leave"
  exit 0
fi
last_error=""
left() {
  [[ $(swarm_state) == inactive ]] && return 0
  if ! last_error=$(docker swarm leave --force 2>&1 >/dev/null); then
    log "docker swarm leave failed, trying again: $last_error"
    return 1
  fi
  [[ $(swarm_state) == inactive ]]
}
retry "$timeout_s" 2 left ||
  die "this node did not leave the Swarm within ${timeout_s}s: ${last_error:-state $(swarm_state)}"
echo "left"
