#!/usr/bin/env bash
# microceph-add.sh HOSTNAME: on a cluster member, print a join token for HOSTNAME (the name must be the joining
# node's hostname). Prints nothing when HOSTNAME already is a member. The caller keeps the token secret. A token
# made earlier for HOSTNAME that was never used (its join failed) makes MicroCeph refuse a new one ("UNIQUE
# constraint failed: internal_token_records.name"): that record is deleted and the token made again.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=lib-microceph.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-microceph.sh"

host=${1:?usage: microceph-add.sh HOSTNAME}
[[ $host =~ ^[a-z0-9-]+$ ]] || die "'$host' is not a hostname"
# The whole list is read before it is searched: a grep stopping at its first match could leave the command dying of
# SIGPIPE, and the guard, under pipefail, reading "not a member".
members=$(microceph_members)
[[ -n $members ]] || die "$(hostname) is not a MicroCeph cluster member: it cannot add $host"
if grep -qE "(^|[[:space:]|])${host}([[:space:]|]|$)" <<<"$members"; then
  log "$host is already a member"
  exit 0
fi
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
if ! token=$(microceph cluster add "$host" 2>"$errors"); then
  grep -qF "UNIQUE constraint failed: internal_token_records.name" "$errors" ||
    die "microceph cluster add $host failed: $(<"$errors")"
  log "an unused join token for $host exists (an earlier join did not happen): made again"
  microceph cluster sql "delete from internal_token_records where name = '$host'" >/dev/null
  token=$(microceph cluster add "$host")
fi
printf '%s\n' "$token"
