#!/usr/bin/env bash
# microceph-add.sh HOSTNAME: on a cluster member, print a join token for HOSTNAME (the name must be the joining
# node's hostname). Prints nothing when HOSTNAME already is a member. The caller keeps the token secret.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

host=${1:?usage: microceph-add.sh HOSTNAME}
[[ $host =~ ^[a-z0-9-]+$ ]] || die "'$host' is not a hostname"
# The whole list is read before it is searched: a grep stopping at its first match could leave the command dying of
# SIGPIPE, and the guard, under pipefail, reading "not a member".
members=$(microceph cluster list) || die "could not list the MicroCeph cluster members on $(hostname)"
if grep -qE "(^|[[:space:]|])${host}([[:space:]|]|$)" <<<"$members"; then
  log "$host is already a member"
  exit 0
fi
microceph cluster add "$host"
