#!/usr/bin/env bash
# serve-check.sh URL SHA256 TIMEOUT_S [DEPLOYMENT [SERVICE]]: wait until URL serves a body whose SHA-256 is SHA256.
# DEPLOYMENT names the deployment being checked (a digest of the stack's deploy step): it only makes the check run
# again after every redeploy. SERVICE: the Swarm service serving URL from this node. nginx keeps the page's open file
# (open_file_cache), so that a stalled CephFS does not stall requests; while it serves another page (the page was
# edited), its containers on this node are told to reload (SIGHUP: new workers with empty caches, open connections
# served to their end), once.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

url=${1:?usage: serve-check.sh URL SHA256 TIMEOUT_S [DEPLOYMENT [SERVICE]]}
want=${2:?} timeout_s=${3:?} service=${5:-}
body=$(mktemp)
trap 'rm -f "$body"' EXIT
reloaded=""
serves() {
  local id ids
  curl -fsS --max-time 5 -o "$body" "$url" 2>/dev/null || return 1
  [[ $(sha256sum <"$body" | cut -d' ' -f1) == "$want" ]] && return 0
  if [[ -n $service && -z $reloaded ]]; then
    reloaded=yes
    ids=$(docker ps -q --filter "label=com.docker.swarm.service.name=$service")
    for id in $ids; do docker kill -s HUP "$id" >/dev/null; done
    log "$url serves another page: $service's containers here reloaded (${ids//$'\n'/ })"
  fi
  return 1
}
retry "$timeout_s" 2 serves || die "$url does not serve the expected page (sha256 $want) after ${timeout_s}s"
echo "serving $want"
