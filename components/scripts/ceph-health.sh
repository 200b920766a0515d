#!/usr/bin/env bash
# ceph-health.sh EXPECTED_OSDS TIMEOUT_S: wait until Ceph reports at least EXPECTED_OSDS OSDs up and HEALTH_OK.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

expected=${1:?usage: ceph-health.sh EXPECTED_OSDS TIMEOUT_S}
timeout_s=${2:?usage: ceph-health.sh EXPECTED_OSDS TIMEOUT_S}

healthy() {
  local stat
  stat=$(microceph.ceph osd stat 2>/dev/null) || return 1
  # e.g. "3 osds: 3 up (since 2m), 3 in (since 2m); epoch: e17"
  [[ $stat =~ ([0-9]+)\ up ]] || return 1
  ((BASH_REMATCH[1] >= expected)) || return 1
  [[ $(microceph.ceph health 2>/dev/null) == HEALTH_OK* ]]
}
if ! retry "$timeout_s" 5 healthy; then
  die "Ceph did not reach $expected OSDs up and HEALTH_OK within ${timeout_s}s: $(microceph.ceph -s 2>&1 | tr '\n' ' ')"
fi
echo "HEALTH_OK"
