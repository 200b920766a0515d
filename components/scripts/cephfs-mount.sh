#!/usr/bin/env bash
# cephfs-mount.sh MOUNT_POINT FS_NAME FSTAB_LINE: mount CephFS on this MicroCeph node: ceph-common, /etc/ceph
# links to MicroCeph's conf and keyring, the admin key in a 0600 file (never inline in fstab), exactly one fstab
# line for MOUNT_POINT, mounted; then leave this node's IO marker. Running it again changes nothing.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mp=${1:?usage: cephfs-mount.sh MOUNT_POINT FS_NAME FSTAB_LINE}
fs=${2:?} line=${3:?}
conf=/var/snap/microceph/current/conf
secret=/etc/ceph/$fs.admin.secret

if ! command -v mount.ceph >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q ceph-common >/dev/null
fi
install -d -m 0755 /etc/ceph
for f in ceph.conf ceph.keyring ceph.client.admin.keyring; do
  if [[ -e $conf/$f ]]; then ln -sfn "$conf/$f" "/etc/ceph/$f"; fi
done

key=$(microceph.ceph auth get-key client.admin)
[[ -n $key ]] || die "could not read the client.admin key"
if [[ ! -f $secret ]] || [[ $(<"$secret") != "$key" ]]; then
  (umask 077 && printf '%s\n' "$key" >"$secret.tmp")
  mv -f "$secret.tmp" "$secret"
fi
chmod 0600 "$secret"

# Exactly one fstab line for the mount point: ours.
if [[ $(fstab_set /etc/fstab "$mp" "$line") == changed ]]; then
  systemctl daemon-reload
fi

mkdir -p "$mp"
if [[ $(stat -f -c %T "$mp") != ceph ]]; then
  mount "$mp" 2>/dev/null || true
  ls "$mp" >/dev/null 2>&1 || true # triggers the automount where one is set up
fi
[[ $(stat -f -c %T "$mp") == ceph ]] || die "$mp is not a CephFS mount after mounting (see 'journalctl -u $(systemd-escape -p "$mp").mount')"
io_mark "$mp"
echo "mounted"
