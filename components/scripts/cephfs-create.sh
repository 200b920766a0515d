#!/usr/bin/env bash
# cephfs-create.sh FS_NAME METADATA_POOL DATA_POOL TIMEOUT_S CLIENT_NAME: create the pools and the CephFS filesystem
# unless they exist, wait until an MDS is active for it, authorize client.CLIENT_NAME (rw on the filesystem's root)
# unless that client exists, and print the client's key: the only line on stdout (the step's stdout is a secret).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: cephfs-create.sh FS_NAME METADATA_POOL DATA_POOL TIMEOUT_S CLIENT_NAME"
fs=${1:?$usage}
meta=${2:?$usage} data=${3:?$usage} timeout_s=${4:?$usage} client=client.${5:?$usage}

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
# `ceph mds stat` reads e.g. "cephfs:1 {0=node1=up:active} 2 up:standby". (Not `ceph fs status`: it colours its
# table even when not on a terminal, so "active" is not a word there; seen with Ceph 16.2 in the lab.)
mds_active() {
  local status
  status=$(microceph.ceph mds stat 2>/dev/null) || return 1
  [[ " $status" == *" $fs:"*"=up:active"* ]]
}
retry "$timeout_s" 3 mds_active || die "no MDS became active for $fs within ${timeout_s}s"

# The client the mounts authenticate as. An existing client is left as it is (its caps are the operator's: it must
# be allowed rw on $fs, e.g. by `ceph fs authorize $fs $client / rw`).
if ! key=$(microceph.ceph auth get-key "$client" 2>/dev/null); then
  microceph.ceph fs authorize "$fs" "$client" / rw >/dev/null || die "could not authorize $client on $fs"
  key=$(microceph.ceph auth get-key "$client") || die "could not read the key of $client"
fi
[[ -n $key ]] || die "$client has an empty key"
printf '%s\n' "$key"
