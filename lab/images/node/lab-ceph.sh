#!/usr/bin/env bash
# lab-ceph ACTION [ARGS...]: a Ceph cluster from Debian's packages (18.2 on Debian 13) on the lab nodes, made the
# way an operator makes one by hand (or with pveceph on Proxmox). The program never calls this: to the program it
# is "an existing Ceph cluster" (storage.type: cephfs). lab/lab.sh runs it on the nodes over SSH; every action is
# idempotent.
#
#   lab-ceph init NAMES IPS NETWORK  first node: fsid, ceph.conf, keys and the monmap for the MONs NAMES (a,b,c)
#                                    at IPS (x,y,z); nothing if ceph.conf exists
#   lab-ceph bundle                  first node: what another node needs to join, as a tar on stdout
#   lab-ceph mon                     this node's MON: created once, started
#   lab-ceph quorum TIMEOUT_S        wait until every MON in the monmap is in the quorum
#   lab-ceph daemons [mds|no-mds]    this node's MGR, OSD (bluestore on a file) and MDS: created once, started
#                                    (no-mds: the MDS is created but not started; `start` starts it later)
#   lab-ceph fs FS CLIENT            first node: pools and filesystem FS, client.CLIENT authorized rw on it;
#                                    prints the client's key
#   lab-ceph health TIMEOUT_S        mute the checks the lab lives with, wait for HEALTH_OK (prints
#                                    `ceph health detail` on timeout)
#   lab-ceph start                   start the daemons this node has (the node container's boot)
set -euo pipefail

CONF=/etc/ceph/ceph.conf
ADMIN=/etc/ceph/ceph.client.admin.keyring
BOOTSTRAP_OSD=/var/lib/ceph/bootstrap-osd/ceph.keyring
TMP=/var/lib/ceph/tmp
HOST=$(hostname)
# The OSD's block device: a sparse file on the node's /var/lib/ceph volume (ext4: bluestore needs O_DIRECT, which
# the container's overlay root does not give).
OSD_BLOCK_BYTES=$((3 * 1024 * 1024 * 1024))

log() { printf 'lab-ceph(%s): %s\n' "$HOST" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
ceph() { command ceph --connect-timeout 10 "$@"; }

# retry TIMEOUT_S CMD...: run CMD every 2 s until it succeeds or TIMEOUT_S pass.
retry() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 2
  done
}

running() { pgrep -x "ceph-$1" >/dev/null; }

cmd_init() {
  local names=${1:?NAMES} ips=${2:?IPS} network=${3:?NETWORK} fsid name ip monmap_args=()
  [[ -e $CONF ]] && return 0
  fsid=$(cat /proc/sys/kernel/random/uuid)
  install -d -m 0755 /etc/ceph "$TMP" "${BOOTSTRAP_OSD%/*}"
  IFS=, read -r -a name_list <<<"$names"
  IFS=, read -r -a ip_list <<<"$ips"
  for i in "${!name_list[@]}"; do
    name=${name_list[$i]} ip=${ip_list[$i]}
    monmap_args+=(--addv "$name" "[v2:$ip:3300,v1:$ip:6789]")
  done
  ceph-authtool --create-keyring "$TMP/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$ADMIN" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool --create-keyring "$BOOTSTRAP_OSD" --gen-key -n client.bootstrap-osd \
    --cap mon 'profile bootstrap-osd' --cap mgr 'allow r' >/dev/null
  ceph-authtool "$TMP/mon.keyring" --import-keyring "$ADMIN" >/dev/null
  ceph-authtool "$TMP/mon.keyring" --import-keyring "$BOOTSTRAP_OSD" >/dev/null
  monmaptool --create --fsid "$fsid" "${monmap_args[@]}" "$TMP/monmap" >/dev/null
  chmod 0600 "$ADMIN" "$BOOTSTRAP_OSD" "$TMP/mon.keyring"
  cat >"$CONF.tmp" <<EOF
# The lab's Ceph cluster (lab/images/node/lab-ceph.sh). Sized for a 3-node lab on one machine, with shorter
# failure detection than Ceph's defaults so that tests do not wait minutes.
[global]
fsid = $fsid
mon_initial_members = $names
mon_host = ${ips}
public_network = $network
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
osd_pool_default_size = 3
osd_pool_default_min_size = 2
osd_crush_chooseleaf_type = 1
mon_allow_pool_delete = true
# The MONs' stores share the machine's disk with everything else: warn only when it is nearly full.
mon_data_avail_warn = 5
osd_heartbeat_interval = 1
osd_heartbeat_grace = 5
# An MDS's failover as MicroCeph users get it from the program: Ceph's failure detection (a beacon every 4 s,
# mds_beacon_grace 15 s; a grace at or below the MONs' 5 s tick plus the beacon interval fails no MDS at all: each
# tick resets every beacon's clock, "slow election?"), and the two options the program sets in MicroCeph mode: the
# MONs' wait while a MON is down (storage.mdsBeaconMonDownGraceS; Ceph's 60 s), as a node with a MON and the active
# MDS is one node, and a new active MDS's wait for the clients of its predecessor (storage.mdsReconnectTimeoutS;
# Ceph's 45 s), as that node's own client never comes back in time.
mds_beacon_mon_down_grace = 10
mds_reconnect_timeout = 15

[osd]
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = $OSD_BLOCK_BYTES
osd_memory_target = 536870912

[mds]
mds_cache_memory_limit = 134217728
EOF
  mv "$CONF.tmp" "$CONF"
  log "initialised cluster $fsid (MONs: $names)"
}

cmd_bundle() {
  [[ -e $CONF ]] || die "no $CONF: run 'lab-ceph init' first"
  tar -C / -cf - "${CONF#/}" "${ADMIN#/}" "${BOOTSTRAP_OSD#/}" "${TMP#/}/mon.keyring" "${TMP#/}/monmap"
}

cmd_mon() {
  local dir=/var/lib/ceph/mon/ceph-$HOST
  [[ -e $CONF ]] || die "no $CONF"
  if [[ ! -e $dir/lab-done ]]; then
    rm -rf "$dir"
    install -d "$dir"
    ceph-mon --mkfs -i "$HOST" --monmap "$TMP/monmap" --keyring "$TMP/mon.keyring"
    touch "$dir/lab-done"
    log "MON created"
  fi
  start_mon
}

start_mon() {
  [[ -e /var/lib/ceph/mon/ceph-$HOST/lab-done ]] || return 0
  running mon || ceph-mon -i "$HOST"
}

in_quorum() {
  local status
  status=$(ceph quorum_status -f json 2>/dev/null) || return 1
  python3 -c 'import json, sys; s = json.loads(sys.argv[1]); m = s["monmap"]["mons"]
sys.exit(0 if len(s["quorum_names"]) == len(m) else 1)' "$status"
}

cmd_quorum() {
  retry "${1:?TIMEOUT_S}" in_quorum || die "the MONs did not form a full quorum within ${1}s"
}

osd_id() {
  local dir
  for dir in /var/lib/ceph/osd/ceph-*; do
    if [[ -e $dir/lab-done ]]; then
      echo "${dir##*-}"
      return 0
    fi
  done
  return 1
}

cmd_daemons() {
  local mds=${1:-mds} dir uuid secret id
  [[ -e $CONF ]] || die "no $CONF"
  dir=/var/lib/ceph/mgr/ceph-$HOST
  if [[ ! -s $dir/keyring ]]; then
    install -d "$dir"
    ceph auth get-or-create "mgr.$HOST" mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$dir/keyring.tmp"
    mv "$dir/keyring.tmp" "$dir/keyring"
  fi
  if ! osd_id >/dev/null; then
    uuid=$(cat /proc/sys/kernel/random/uuid)
    secret=$(ceph-authtool --gen-print-key)
    id=$(printf '{"cephx_secret": "%s"}' "$secret" |
      ceph osd new "$uuid" -i - -n client.bootstrap-osd -k "$BOOTSTRAP_OSD")
    dir=/var/lib/ceph/osd/ceph-$id
    rm -rf "$dir"
    install -d "$dir"
    ceph-authtool --create-keyring "$dir/keyring" --name "osd.$id" --add-key "$secret" >/dev/null
    ceph-osd -i "$id" --mkfs --osd-uuid "$uuid" 2>"$dir/mkfs.log" || die "ceph-osd --mkfs failed: $(tail -n 5 "$dir/mkfs.log")"
    touch "$dir/lab-done"
    log "OSD $id created"
  fi
  dir=/var/lib/ceph/mds/ceph-$HOST
  if [[ ! -s $dir/keyring ]]; then
    install -d "$dir"
    ceph auth get-or-create "mds.$HOST" mon 'profile mds' mgr 'profile mds' mds 'allow *' osd 'allow *' \
      -o "$dir/keyring.tmp"
    mv "$dir/keyring.tmp" "$dir/keyring"
  fi
  start_others "$mds"
}

start_others() {
  local mds=${1:-mds} id
  if [[ -s /var/lib/ceph/mgr/ceph-$HOST/keyring ]] && ! running mgr; then ceph-mgr -i "$HOST"; fi
  if id=$(osd_id) && ! running osd; then ceph-osd -i "$id"; fi
  if [[ $mds == mds && -s /var/lib/ceph/mds/ceph-$HOST/keyring ]] && ! running mds; then ceph-mds -i "$HOST"; fi
}

# (`ceph fs status` colours its table even when not on a terminal: read `ceph mds stat`, e.g.
# "cephfs:1 {0=swarm-worker2=up:active} 2 up:standby".)
mds_active() {
  local status
  status=$(ceph mds stat 2>/dev/null) || return 1
  [[ $status == "$1:"*"=up:active"* ]]
}

cmd_fs() {
  local fs=${1:?FS} client=${2:?CLIENT} pools existing
  pools=$(ceph osd pool ls)
  for pool in "${fs}_metadata" "${fs}_data"; do
    grep -qxF -- "$pool" <<<"$pools" || ceph osd pool create "$pool" 16 >/dev/null
  done
  existing=$(ceph fs ls)
  if ! grep -qF -- "name: $fs," <<<"$existing"; then
    ceph fs new "$fs" "${fs}_metadata" "${fs}_data" >/dev/null
  fi
  # A client that vanished (its node stopped) holds its capabilities until its session times out: 60 s by
  # default, 30 s (Ceph's minimum) in the lab, so that a failover test waits less.
  ceph fs set "$fs" session_timeout 30 >/dev/null
  retry 120 mds_active "$fs" || die "no MDS became active for $fs"
  if ! ceph auth get-key "client.$client" >/dev/null 2>&1; then
    ceph fs authorize "$fs" "client.$client" / rw >/dev/null
  fi
  ceph auth get-key "client.$client"
  echo
}

healthy() {
  local health
  health=$(ceph health 2>/dev/null) || return 1
  [[ ${health%% *} == HEALTH_OK ]] # "HEALTH_OK (muted: ...)" too
}

# Debian 13's ceph-mgr cannot load 13 of its Python modules ("PyO3 modules do not yet support subinterpreters"):
# MGR_MODULE_DEPENDENCY for good. The lab mutes exactly that code, sticky (a MGR failover raises it again); any other
# warning still keeps the lab from HEALTH_OK. (MON_DISK_LOW: mon_data_avail_warn in ceph.conf.)
LAB_MUTED_CHECKS=(MGR_MODULE_DEPENDENCY)

cmd_health() {
  local check
  for check in "${LAB_MUTED_CHECKS[@]}"; do
    ceph health mute "$check" --sticky >/dev/null
  done
  if ! retry "${1:?TIMEOUT_S}" healthy; then
    ceph health detail >&2 || true
    die "Ceph is not HEALTH_OK after ${1}s"
  fi
}

cmd_start() {
  [[ -e $CONF ]] || return 0
  start_mon
  start_others
}

action=${1:-}
[[ $# -gt 0 ]] && shift
install -d -m 0755 /var/run/ceph /var/log/ceph
case $action in
  init | bundle | mon | quorum | daemons | fs | health | start) "cmd_$action" "$@" ;;
  *)
    sed -n '2,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
