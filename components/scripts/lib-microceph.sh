# shellcheck shell=bash
# Helpers of the MicroCeph scripts, inlined after lib.sh (whose log and die they use) by components/scripts, as
# lib.sh is. Apart from lib.sh so that a change here touches the MicroCeph steps only.

# microceph_members: MicroCeph's member list (`cluster list`), or nothing when this node's daemon has no cluster yet
# ("Database is not yet initialized"). Any other failure (right after a member went down the real MicroCeph answered
# "context deadline exceeded") is tried again for 60 s, then ends the script naming it: it must not read as "not a
# member", which would bootstrap or join a node that is one.
microceph_members() {
  local out deadline=$((SECONDS + 60))
  until out=$(microceph cluster list 2>&1); do
    [[ $out != *"not yet initialized"* ]] || return 0
    ((SECONDS < deadline)) || die "could not list the MicroCeph cluster members on $(hostname): $out"
    log "microceph cluster list failed, trying again: $out"
    sleep 3
  done
  printf '%s\n' "$out"
}
