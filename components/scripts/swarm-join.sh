#!/usr/bin/env bash
# swarm-join.sh MANAGER_ADDR ADVERTISE_ADDR (join token on stdin): join this node to the Swarm with the role the
# token carries. Already active: nothing changes. The token goes to the engine API over its socket, from stdin,
# so it never appears in a process list.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

manager=${1:?usage: swarm-join.sh MANAGER_ADDR ADVERTISE_ADDR}
advertise=${2:?usage: swarm-join.sh MANAGER_ADDR ADVERTISE_ADDR}
IFS= read -r token || true # stdin: secrets never travel on a command line

state=$(swarm_state)
if [[ $state == active ]]; then
  log "already a swarm member; not joining"
  echo "joined"
  exit 0
fi
[[ $state == inactive ]] || die "swarm state is '$state'. Fix: 'docker swarm leave --force' on this node, then pulumi up"
[[ $token =~ ^SWMTKN-1-[0-9a-z]+-[0-9a-z]+$ ]] || die "stdin does not hold a swarm join token"

printf '{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s:2377"],"JoinToken":"%s"}' \
  "$advertise" "$manager" "$token" |
  curl -sS --fail-with-body --max-time 120 --unix-socket /var/run/docker.sock \
    -H 'Content-Type: application/json' --data-binary @- http://localhost/swarm/join >/dev/null
is_active() { [[ $(swarm_state) == active ]]; }
retry 60 1 is_active || die "joined, but the swarm state is '$(swarm_state)'"
echo "joined"
