#!/usr/bin/env bash
# serve-check.sh URL SHA256 TIMEOUT_S [DEPLOYMENT]: wait until URL serves a body whose SHA-256 is SHA256. Read-only.
# DEPLOYMENT names the deployment being checked (a digest of the stack's deploy step): it only makes the check run
# again after every redeploy.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

url=${1:?usage: serve-check.sh URL SHA256 TIMEOUT_S}
want=${2:?} timeout_s=${3:?}
serves() { [[ $(curl -fsS --max-time 5 "$url" 2>/dev/null | sha256sum | cut -d' ' -f1) == "$want" ]]; }
retry "$timeout_s" 2 serves || die "$url does not serve the expected page (sha256 $want) after ${timeout_s}s"
echo "serving $want"
