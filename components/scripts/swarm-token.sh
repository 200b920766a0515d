#!/usr/bin/env bash
# swarm-token.sh worker|manager: print the Swarm join token of that role (read-only). The caller keeps it secret.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

role=${1:?usage: swarm-token.sh worker|manager}
[[ $role == worker || $role == manager ]] || die "role must be worker or manager, not '$role'"
docker swarm join-token -q "$role"
