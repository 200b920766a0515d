#!/usr/bin/env bash
# microceph-disk.sh DISK: add DISK to MicroCeph as an OSD, wiping it. Already an OSD of this node: nothing changes.
#
# The guard reads this node's disks only (`disk list --host-only`, as JSON): the plain listing holds every member's,
# and with the same cephDisk path on every node (the default on Proxmox) the second and third nodes found the first
# one's row and added no OSD (seen on the real MicroCeph 18.2.4). A disk's path is the one given to `disk add`, or
# the /dev/disk/by-id link MicroCeph records for a kernel name (/dev/sdb): both are compared as the device they
# resolve to.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

disk=${1:?usage: microceph-disk.sh DISK}
[[ -b $disk ]] || die "$disk is not a block device on $(hostname). Fix: check cephDisk / the VM's second disk"

command -v python3 >/dev/null || die "python3 is needed on $(hostname) to read MicroCeph's disk list (JSON)"
listing=$(microceph disk list --host-only --json) || die "could not list MicroCeph's disks on $(hostname)"
configured=$(python3 -c '
import json, os, sys
disk, device = sys.argv[1], os.path.realpath(sys.argv[1])
paths = [d["path"] for d in json.load(sys.stdin)["ConfiguredDisks"] or []]
print(str(any(p == disk or os.path.realpath(p) == device for p in paths)).lower())' "$disk" <<<"$listing") ||
  die "MicroCeph's disk list on $(hostname) is not the JSON expected: $listing"
if $configured; then
  log "$disk is already an OSD of $(hostname)"
else
  microceph disk add "$disk" --wipe >&2 # its report (a PATH | STATUS table) to the log: stdout is the step's result
fi
echo "osd"
