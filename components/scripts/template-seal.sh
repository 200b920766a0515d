#!/usr/bin/env bash
# template-seal.sh TIMEOUT_S: on the template VM's first boot, wait for cloud-init to install everything, check that
# it did, then seal the image (cloud-init state, machine-id, SSH host keys) so every clone is a new machine, and
# power off so the VM can be converted into a template. Running it again on a sealed, stopped VM is impossible by
# construction; on a running VM it re-checks and re-seals, which gives the same image.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

timeout_s=${1:?usage: template-seal.sh TIMEOUT_S}

command -v cloud-init >/dev/null 2>&1 || die "cloud-init is missing: this is not the cloud image's first boot"
cloud_init_wait "$timeout_s"
for tool in docker microceph mount.ceph qemu-ga curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing after cloud-init; the template would be incomplete"
done
# read whole before it is searched: a grep stopping at its first match could leave snap dying of SIGPIPE
snaps=$(snap list microceph 2>/dev/null) || die "the microceph snap is not installed (snap list microceph failed)"
grep -q held <<<"$snaps" || die "the microceph snap is not held (snap refresh --hold microceph)"

cloud-init clean --logs
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
sync
# Power off after this SSH session has returned, so the remote command reports success.
setsid -f sh -c 'sleep 3; systemctl poweroff' >/dev/null 2>&1 </dev/null
echo "sealed"
