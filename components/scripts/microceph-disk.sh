#!/usr/bin/env bash
# microceph-disk.sh DISK: add DISK to MicroCeph as an OSD, wiping it. Already an OSD: nothing changes.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

disk=${1:?usage: microceph-disk.sh DISK}
# Only the "configured" table counts: the second table lists disks that are merely available.
configured() { microceph disk list | awk '/^Available/ { exit } { print }'; }
if configured | grep -qF -- "$disk"; then
  log "$disk is already an OSD"
else
  [[ -b $disk ]] || die "$disk is not a block device on $(hostname). Fix: check cephDisk / the VM's second disk"
  microceph disk add "$disk" --wipe
fi
echo "osd"
