#!/usr/bin/env bash
# swarm-init.sh ADVERTISE_ADDR: make this node the first manager of a new Swarm, unless it already is a manager of
# one (then nothing changes).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

addr=${1:?usage: swarm-init.sh ADVERTISE_ADDR}
state=$(swarm_state)
case $state in
  inactive) docker swarm init --advertise-addr "$addr" >/dev/null ;;
  active) log "already in a swarm; not initialising" ;;
  *) die "swarm state is '$state'. Fix: repair the node, or 'docker swarm leave --force' on it" ;;
esac
[[ $(docker info --format '{{.Swarm.ControlAvailable}}') == true ]] ||
  die "this node is in a swarm but not a manager. Fix: 'docker swarm leave --force' on it, or make it the first manager"
echo "manager"
