#!/usr/bin/env bash
# microceph-add.sh HOSTNAME: on a cluster member, print a join token for HOSTNAME (the name must be the joining
# node's hostname). Prints nothing when HOSTNAME already is a member. The caller keeps the token secret.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

host=${1:?usage: microceph-add.sh HOSTNAME}
[[ $host =~ ^[a-z0-9-]+$ ]] || die "'$host' is not a hostname"
if microceph cluster list | grep -qE "(^|[[:space:]|])${host}([[:space:]|]|$)"; then
  log "$host is already a member"
  exit 0
fi
microceph cluster add "$host"
