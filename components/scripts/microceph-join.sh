#!/usr/bin/env bash
# microceph-join.sh (join token on stdin): join this node to the MicroCeph cluster. Already a member: nothing
# changes. Note: `microceph cluster join` only takes the token as an argument, so it is visible in this node's
# process list while the join runs; the token is single-use and bound to this hostname.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=lib-microceph.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-microceph.sh"

IFS= read -r token || true # stdin: secrets never travel on a command line
command -v microceph >/dev/null || die "microceph is not installed (the template installs the snap)"
members=$(microceph_members)
if [[ -n $members ]]; then
  log "already a MicroCeph cluster member; not joining"
  echo "joined"
  exit 0
fi
[[ -n $token ]] || die "no join token on stdin. Fix: 'microceph cluster remove $(hostname)' on a member, then pulumi up"
microceph cluster join "$token"
echo "joined"
