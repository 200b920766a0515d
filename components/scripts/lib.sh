# shellcheck shell=bash
# Helpers shared by the node-side scripts. components/remote.py inlines this file in place of the line that
# sources it, so a script sent over SSH is self-contained; run from a checkout, the scripts source it.

# MicroCeph's commands live in /snap/bin, which non-interactive SSH sessions may not have on PATH.
PATH=$PATH:/snap/bin:/usr/sbin:/sbin

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# retry TIMEOUT_S INTERVAL_S CMD [ARGS...]: run CMD until it succeeds; fail once TIMEOUT_S have passed.
retry() {
  local timeout_s=$1 interval_s=$2
  shift 2
  local deadline=$((SECONDS + timeout_s))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep "$interval_s"
  done
}

# swarm_state: this engine's Swarm state (inactive, pending, active, error, locked) or "unknown".
swarm_state() {
  docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown
}

# io_mark ROOT: leave this host's marker under ROOT/.swarm-ceph/io for the cross-node IO check.
io_mark() {
  local dir=$1/.swarm-ceph/io
  mkdir -p "$dir"
  hostname >"$dir/.$(hostname).tmp"
  mv -f "$dir/.$(hostname).tmp" "$dir/$(hostname)"
}
