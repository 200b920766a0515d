#!/usr/bin/env bash
# microceph-disk.sh DISK: add DISK to MicroCeph as an OSD, wiping it. Already an OSD: nothing changes.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

disk=${1:?usage: microceph-disk.sh DISK}
# Only the "configured" table counts: the second table lists disks that are merely available. The whole list is read
# before it is searched: a reader stopping early could leave the command dying of SIGPIPE, failing the guard.
disks=$(microceph disk list) || die "could not list MicroCeph's disks on $(hostname)"
configured=$(awk '/^Available/ { exit } { print }' <<<"$disks")
if grep -qF -- "$disk" <<<"$configured"; then
  log "$disk is already an OSD"
else
  [[ -b $disk ]] || die "$disk is not a block device on $(hostname). Fix: check cephDisk / the VM's second disk"
  microceph disk add "$disk" --wipe
fi
echo "osd"
