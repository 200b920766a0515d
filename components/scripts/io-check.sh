#!/usr/bin/env bash
# io-check.sh ROOT TIMEOUT_S HOSTNAME...: check that this node sees the IO marker of every given node under ROOT
# (each node wrote its own), i.e. that the storage really is shared. Read-only.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root=${1:?usage: io-check.sh ROOT TIMEOUT_S HOSTNAME...}
timeout_s=${2:?usage: io-check.sh ROOT TIMEOUT_S HOSTNAME...}
shift 2
sees() { [[ -f $root/.swarm-ceph/io/$1 ]] && [[ $(<"$root/.swarm-ceph/io/$1") == "$1" ]]; }
for host in "$@"; do
  retry "$timeout_s" 1 sees "$host" || die "$(hostname) does not see $host's file under $root: the storage is not shared"
done
echo "sees $#"
