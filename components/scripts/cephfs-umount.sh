#!/usr/bin/env bash
# cephfs-umount.sh MOUNT_POINT FS_NAME: the undo of cephfs-mount.sh: this node's IO marker removed, unmount, remove
# the fstab line and the key file. Nothing mounted or configured: nothing changes.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mp=${1:?usage: cephfs-umount.sh MOUNT_POINT FS_NAME}
fs=${2:?usage: cephfs-umount.sh MOUNT_POINT FS_NAME}

if command -v systemctl >/dev/null 2>&1; then
  unit=$(systemd-escape -p "$mp")
  systemctl stop "$unit.automount" "$unit.mount" 2>/dev/null || true
fi
if mountpoint -q "$mp"; then
  io_unmark "$mp"
  umount "$mp" || umount -l "$mp"
fi
if [[ $(fstab_remove /etc/fstab "$mp") == changed ]]; then
  systemctl daemon-reload 2>/dev/null || true
fi
rm -f "/etc/ceph/$fs.admin.secret"
echo "unmounted"
