#!/usr/bin/env bash
# shared-path.sh ROOT: for storage type "existing": check that ROOT is a writable directory on this node and leave
# this node's IO marker in it.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root=${1:?usage: shared-path.sh ROOT}
[[ -d $root ]] || die "$root does not exist on $(hostname). Fix: mount the shared storage there, or correct storage.path"
io_mark "$root"
echo "shared"
