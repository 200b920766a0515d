#!/usr/bin/env bash
# swarm-init.sh ADVERTISE_ADDR [--existing]: make this node the first manager of a new Swarm, unless it already is a
# manager of one (then nothing changes). --existing: the node takes over from a lost first manager; it must already
# be a manager of the Swarm, and a new Swarm is never made.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

addr=${1:?usage: swarm-init.sh ADVERTISE_ADDR [--existing]}
existing=${2:-}
[[ -z $existing || $existing == --existing ]] || die "unknown option '$existing' (--existing)"
state=$(swarm_state)
case $state in
  inactive)
    [[ -z $existing ]] || die "this node is to take over from the lost first manager, but it is in no swarm." \
      "Fix: list a node that is a manager of the swarm first in nodes"
    docker swarm init --advertise-addr "$addr" >/dev/null
    ;;
  active) log "already in a swarm; not initialising" ;;
  *) die "swarm state is '$state'. Fix: repair the node, or 'docker swarm leave --force' on it" ;;
esac
[[ $(docker info --format '{{.Swarm.ControlAvailable}}') == true ]] ||
  die "this node runs the manager-side steps (the first manager in nodes that is not lost) but is a worker of its" \
    "swarm. Fix: list a node that is already a manager first in nodes (promote this one there, by role: manager)," \
    "or 'docker swarm leave --force' on it"
echo "manager"
