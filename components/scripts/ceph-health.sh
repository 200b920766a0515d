#!/usr/bin/env bash
# ceph-health.sh EXPECTED_OSDS TIMEOUT_S [ACCEPTED_CODE...]: wait until Ceph reports at least EXPECTED_OSDS OSDs up
#   and is healthy: HEALTH_OK, or HEALTH_WARN whose every warning (not muted) is one of ACCEPTED_CODE (health check
#   codes, e.g. MON_DISK_LOW: storage.healthAccept). An error, or any other warning, is waited out; at TIMEOUT_S the
#   step fails with Ceph's status. Prints "HEALTH_OK", or "HEALTH_WARN accepted: CODE..." (the warnings also go to
#   the log, whole).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: ceph-health.sh EXPECTED_OSDS TIMEOUT_S [ACCEPTED_CODE...]"
expected=${1:?$usage}
timeout_s=${2:?$usage}
shift 2
accepted=" $* "

verdict="" last="" # last: Ceph's latest answer, for the failure message
healthy() {
  local stat detail code codes=""
  last=""
  stat=$(microceph.ceph osd stat 2>/dev/null) || return 1
  last=$stat
  # e.g. "3 osds: 3 up (since 2m), 3 in (since 2m); epoch: e17"
  [[ $stat =~ ([0-9]+)\ up ]] || return 1
  ((BASH_REMATCH[1] >= expected)) || return 1
  # e.g. "HEALTH_WARN 1 pool(s) ...", then a line per check: "[WRN] CODE: summary" ("(MUTED) [WRN] ..." when muted)
  detail=$(microceph.ceph health detail 2>/dev/null) || return 1
  last=$detail
  case $detail in
    HEALTH_OK*) verdict=HEALTH_OK && return 0 ;;
    HEALTH_WARN*) ;;
    *) return 1 ;;
  esac
  while read -r code; do
    [[ $code == "WRN "* && $accepted == *" ${code#WRN } "* ]] || return 1
    codes+=" ${code#WRN }"
  done < <(sed -n 's/^\[\(WRN\|ERR\)\] \([A-Z0-9_]*\):.*/\1 \2/p' <<<"$detail")
  [[ -n $codes ]] || return 1
  log "Ceph warns, accepted (storage.healthAccept):"$'\n'"$detail"
  verdict="HEALTH_WARN accepted:$codes"
}
if ! retry "$timeout_s" 5 healthy; then
  # the OSD count, or the summary and a line per check without the checks' details
  status=$(grep -E '^(HEALTH_|\[|\(MUTED\)|[0-9]+ osds)' <<<"$last" | tr '\n' ' ') || status="no answer"
  die "Ceph did not reach $expected OSDs up and health (HEALTH_OK, or warnings among: ${*:-none}) within ${timeout_s}s: $status"
fi
echo "$verdict"
