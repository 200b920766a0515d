#!/usr/bin/env bash
# microceph-bootstrap.sh MON_IP TIMEOUT_S: bootstrap a new MicroCeph cluster on this node, unless this node is
# already a member of one; then wait until Ceph answers.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=lib-microceph.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-microceph.sh"

mon_ip=${1:?usage: microceph-bootstrap.sh MON_IP TIMEOUT_S}
timeout_s=${2:?usage: microceph-bootstrap.sh MON_IP TIMEOUT_S}
command -v microceph >/dev/null || die "microceph is not installed (the template installs the snap)"

members=$(microceph_members)
if [[ -n $members ]]; then
  log "already a MicroCeph cluster member; not bootstrapping"
else
  microceph cluster bootstrap --mon-ip "$mon_ip"
fi
ceph_answers() { microceph.ceph status >/dev/null 2>&1; }
retry "$timeout_s" 3 ceph_answers || die "Ceph did not answer within ${timeout_s}s after bootstrap"
echo "bootstrapped"
