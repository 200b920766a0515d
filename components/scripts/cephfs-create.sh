#!/usr/bin/env bash
# cephfs-create.sh FS_NAME METADATA_POOL DATA_POOL TIMEOUT_S: create the pools and the CephFS filesystem unless
# they exist, then wait until an MDS is active for it.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fs=${1:?usage: cephfs-create.sh FS_NAME METADATA_POOL DATA_POOL TIMEOUT_S}
meta=${2:?} data=${3:?} timeout_s=${4:?}

# Each listing is read whole before it is searched: a grep stopping at its first match could leave the command dying
# of SIGPIPE, and the guard, under pipefail, reading "not there".
for pool in "$meta" "$data"; do
  pools=$(microceph.ceph osd pool ls) || die "could not list the Ceph pools"
  if ! grep -qxF -- "$pool" <<<"$pools"; then
    microceph.ceph osd pool create "$pool" >/dev/null
  fi
done
filesystems=$(microceph.ceph fs ls) || die "could not list the CephFS filesystems"
if ! grep -qF -- "name: $fs," <<<"$filesystems"; then
  microceph.ceph fs new "$fs" "$meta" "$data" >/dev/null
fi
mds_active() {
  local status
  status=$(microceph.ceph fs status "$fs" 2>/dev/null) || return 1
  grep -qw active <<<"$status"
}
retry "$timeout_s" 3 mds_active || die "no MDS became active for $fs within ${timeout_s}s"
echo "$fs"
