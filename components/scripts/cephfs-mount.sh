#!/usr/bin/env bash
# cephfs-mount.sh MOUNT_POINT kernel|fuse SECRET_FILE CONF_FILE CONF_TEXT FSTAB_LINE (the client key on stdin): mount
# a CephFS on this node, whoever runs the cluster: the client's package if missing (kernel: ceph-common's mount.ceph;
# fuse: ceph-fuse), the key (one line) in SECRET_FILE (0600; never inline in fstab or on a command line), CONF_TEXT
# in CONF_FILE, FSTAB_LINE the only fstab line for MOUNT_POINT, mounted and checked to be CephFS; then this node's IO
# marker. Running it again changes nothing.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: cephfs-mount.sh MOUNT_POINT kernel|fuse SECRET_FILE CONF_FILE CONF_TEXT FSTAB_LINE (key on stdin)"
mp=${1:?$usage} client=${2:?$usage} secret=${3:?$usage} conf=${4:?$usage} conf_text=${5:?$usage} line=${6:?$usage}

case $client in
  kernel) helper=mount.ceph package=ceph-common want=ceph ;;
  fuse) helper=ceph-fuse package=ceph-fuse want=fuse.ceph-fuse ;;
  *) die "unknown CephFS client '$client' (kernel|fuse)" ;;
esac

# The key: exactly one non-empty line on stdin. Never printed.
key=$(cat)
[[ -n $key ]] || die "no Ceph client key on stdin"
[[ $key != *$'\n'* ]] || die "the Ceph client key on stdin is more than one line"

if ! command -v "$helper" >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q "$package" >/dev/null; then
    apt-get update -q >/dev/null
    apt-get install -y -q "$package" >/dev/null
  fi
  command -v "$helper" >/dev/null 2>&1 || die "$package is installed but $helper is not on PATH"
fi
install -d -m 0755 "$(dirname "$secret")" "$(dirname "$conf")" # /etc/ceph

if [[ ! -f $secret ]] || [[ $(<"$secret") != "$key" ]]; then
  rm -f "$secret.tmp"
  (umask 077 && printf '%s\n' "$key" >"$secret.tmp")
  mv -f "$secret.tmp" "$secret"
fi
chmod 0600 "$secret"

conf_text=$(printf '%s\n' "$conf_text") # without trailing newlines, as $(<file) reads it back
if [[ ! -f $conf ]] || [[ $(<"$conf") != "$conf_text" ]]; then
  printf '%s\n' "$conf_text" >"$conf.tmp"
  chmod 0644 "$conf.tmp"
  mv -f "$conf.tmp" "$conf"
fi

# Exactly one fstab line for the mount point: ours.
if [[ $(fstab_set /etc/fstab "$mp" "$line") == changed ]] && systemd_running; then
  systemctl daemon-reload
fi

# mounted: CephFS of this client's kind is mounted at $mp (an automount point under it shows as autofs).
mounted() {
  local types
  types=$(findmnt -n -o FSTYPE -T "$mp" 2>/dev/null) || return 1
  grep -qxF -- "$want" <<<"$types"
}
mkdir -p "$mp"
said=""
if ! mounted; then
  said=$(mount "$mp" 2>&1) || true
  ls "$mp" >/dev/null 2>&1 || true # triggers the automount where one is set up
fi
if ! mounted; then
  found=$(findmnt -n -o FSTYPE -T "$mp" 2>/dev/null | tr '\n' ' ') || true
  die "$mp is not a CephFS mount ($want) after mounting: findmnt says '${found% }'${said:+, mount said: $said}." \
    "Check that this node reaches the monitors, that the key is the client's and that it may mount the filesystem" \
    "(see 'journalctl -u $(systemd-escape -p "$mp" 2>/dev/null || echo "<mount unit>").mount')"
fi
io_mark "$mp"
echo "mounted"
