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

# The engine's answer names the reason a join was refused; it is shown (the token scrubbed, should it ever echo it).
if ! answer=$(printf '{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s:2377"],"JoinToken":"%s"}' \
  "$advertise" "$manager" "$token" |
  curl -sS --fail-with-body --max-time 120 --unix-socket /var/run/docker.sock \
    -H 'Content-Type: application/json' --data-binary @- http://localhost/swarm/join 2>&1); then
  answer=${answer//"$token"/<token>}
  if [[ $answer == *"valid join token"* ]]; then
    die "the manager $manager refused the join token (rotated since it was read: the token steps read it once). Fix:" \
      "pulumi up --replace URN, with the URN of the swarm-worker-token (or -manager-token) step from" \
      "'pulumi stack --show-urns'. Engine said: $answer"
  fi
  die "joining the swarm through $manager failed: $answer"
fi
is_active() { [[ $(swarm_state) == active ]]; }
retry 60 1 is_active || die "joined, but the swarm state is '$(swarm_state)'"
echo "joined"
