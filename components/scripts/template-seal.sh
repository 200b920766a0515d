#!/usr/bin/env bash
# template-seal.sh TIMEOUT_S HELD_SNAP COMMAND...: on the template VM's first boot, wait for cloud-init to install
# everything, check that it did (each COMMAND is there; HELD_SNAP, unless "-", is installed and held), then seal the
# image (cloud-init state, machine-id, SSH host keys, Docker's engine ID) so every clone is a new machine, and power
# off so the VM can be converted into a template. The program runs it once per template VM; on a running VM it
# re-checks and re-seals, which gives the same image.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: template-seal.sh TIMEOUT_S HELD_SNAP|- COMMAND..."
timeout_s=${1:?$usage}
held_snap=${2:?$usage}
shift 2
(($#)) || die "$usage"

command -v cloud-init >/dev/null 2>&1 || die "cloud-init is missing: this is not the cloud image's first boot"
cloud_init_wait "$timeout_s"
for tool in "$@"; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing after cloud-init; the template would be incomplete"
done
if [[ $held_snap != - ]]; then
  # read whole before it is searched: a grep stopping at its first match could leave snap dying of SIGPIPE
  snaps=$(snap list "$held_snap" 2>/dev/null) || die "the $held_snap snap is not installed (snap list failed)"
  grep -q held <<<"$snaps" || die "the $held_snap snap is not held (snap refresh --hold $held_snap)"
fi

cloud-init clean --logs
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
# Docker's engine ID, made at the template's first daemon start (key.json up to 20.10, engine-id since 23): each
# clone's daemon makes its own at its first start.
rm -f /etc/docker/key.json /var/lib/docker/engine-id
sync
# Power off after this SSH session has returned, so the remote command reports success.
setsid -f sh -c 'sleep 3; systemctl poweroff' >/dev/null 2>&1 </dev/null
echo "sealed"
