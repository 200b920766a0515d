# shellcheck shell=bash
# Helpers shared by the node-side scripts. components/remote.py inlines this file in place of the line that
# sources it, so a script sent over SSH is self-contained; run from a checkout, the scripts source it.

# Failures inside $(...) stop the script too.
shopt -s inherit_errexit

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

# cloud_init_wait TIMEOUT_S: wait for cloud-init to finish (where it is installed). "degraded" (newer cloud-init's
# exit 2: recoverable errors) is reported and accepted; an error or a timeout fails.
cloud_init_wait() {
  command -v cloud-init >/dev/null 2>&1 || return 0
  local rc=0
  timeout "$1" cloud-init status --wait >/dev/null || rc=$?
  case $rc in
    0) ;;
    2) log "warning: cloud-init finished degraded: $(cloud-init status --long 2>&1 | tr '\n' ' ')" ;;
    *) die "cloud-init did not finish cleanly within ${1}s: $(cloud-init status --long 2>&1 | tr '\n' ' ')" ;;
  esac
}

# systemd_running: systemd is this host's init (not merely installed, as in a container).
systemd_running() {
  command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]
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

# io_unmark ROOT: the undo of io_mark; the marker directories go with the last marker.
io_unmark() {
  rm -f "$1/.swarm-ceph/io/$(hostname)"
  rmdir "$1/.swarm-ceph/io" "$1/.swarm-ceph" 2>/dev/null || true
}

# fstab_set FSTAB MOUNT_POINT LINE: make LINE the only entry for MOUNT_POINT in FSTAB (other lines untouched).
# Prints "changed" or "unchanged".
fstab_set() {
  local fstab=$1 mp=$2 line=$3
  if grep -qxF -- "$line" "$fstab" && [[ $(awk -v mp="$mp" '$2 == mp' "$fstab" | wc -l) == 1 ]]; then
    echo unchanged
    return
  fi
  { awk -v mp="$mp" '$2 != mp' "$fstab" && printf '%s\n' "$line"; } >"$fstab.swarm-ceph"
  cat "$fstab.swarm-ceph" >"$fstab"
  rm -f "$fstab.swarm-ceph"
  echo changed
}

# fstab_remove FSTAB MOUNT_POINT: remove every entry for MOUNT_POINT from FSTAB. Prints "changed" or "unchanged".
fstab_remove() {
  local fstab=$1 mp=$2
  if ! awk -v mp="$mp" '$2 == mp { found = 1 } END { exit !found }' "$fstab"; then
    echo unchanged
    return
  fi
  awk -v mp="$mp" '$2 != mp' "$fstab" >"$fstab.swarm-ceph"
  cat "$fstab.swarm-ceph" >"$fstab"
  rm -f "$fstab.swarm-ceph"
  echo changed
}
