#!/usr/bin/env bash
# cephfs-create.sh FS_NAME METADATA_POOL DATA_POOL TIMEOUT_S: create the pools and the CephFS filesystem unless
# they exist, then wait until an MDS is active for it.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fs=${1:?usage: cephfs-create.sh FS_NAME METADATA_POOL DATA_POOL TIMEOUT_S}
meta=${2:?} data=${3:?} timeout_s=${4:?}

for pool in "$meta" "$data"; do
  if ! microceph.ceph osd pool ls | grep -qxF -- "$pool"; then
    microceph.ceph osd pool create "$pool" >/dev/null
  fi
done
if ! microceph.ceph fs ls | grep -qF -- "name: $fs,"; then
  microceph.ceph fs new "$fs" "$meta" "$data" >/dev/null
fi
mds_active() { microceph.ceph fs status "$fs" 2>/dev/null | grep -qw active; }
retry "$timeout_s" 3 mds_active || die "no MDS became active for $fs within ${timeout_s}s"
echo "$fs"
