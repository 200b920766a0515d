#!/usr/bin/env bash
# cephfs-umount.sh MOUNT_POINT SECRET_FILE CONF_FILE: the undo of cephfs-mount.sh: this node's IO marker removed,
# unmounted, the fstab line, the key file and the client config removed. Nothing mounted or configured: nothing
# changes.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: cephfs-umount.sh MOUNT_POINT SECRET_FILE CONF_FILE"
mp=${1:?$usage} secret=${2:?$usage} conf=${3:?$usage}

# The marker lives on the shared filesystem: removed while it is still mounted (stopping the units unmounts it).
if mountpoint -q "$mp"; then
  io_unmark "$mp" || log "warning: could not remove this node's IO marker under $mp"
fi
if systemd_running; then
  unit=$(systemd-escape -p "$mp")
  systemctl stop "$unit.automount" "$unit.mount" 2>/dev/null || true
fi
if mountpoint -q "$mp"; then
  umount "$mp" || umount -l "$mp"
fi
if [[ $(fstab_remove /etc/fstab "$mp") == changed ]] && systemd_running; then
  systemctl daemon-reload
fi
rm -f "$secret" "$conf"
echo "unmounted"
