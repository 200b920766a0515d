#!/usr/bin/env bash
# wait-ready.sh TIMEOUT_S: wait until this host can take part in the platform: cloud-init has finished (where
# cloud-init is installed) without errors and the Docker engine answers. Read-only: safe to run any number of times.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

timeout_s=${1:?usage: wait-ready.sh TIMEOUT_S}

cloud_init_wait "$timeout_s"
retry "$timeout_s" 2 docker info >/dev/null 2>&1 || die "the Docker engine did not answer within ${timeout_s}s"
echo "ready"
