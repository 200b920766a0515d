#!/usr/bin/env bash
# shared-path.sh check ROOT: for storage type "existing": check that ROOT is a writable directory on this node and
# leave this node's IO marker in it.
# shared-path.sh remove ROOT: remove this node's IO marker (the undo; the directory itself is the user's).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: shared-path.sh check|remove ROOT"
action=${1:?$usage} root=${2:?$usage}
case $action in
  check)
    [[ -d $root ]] || die "$root does not exist on $(hostname). Fix: mount the shared storage there, or correct storage.path"
    io_mark "$root"
    echo "shared"
    ;;
  remove)
    if [[ -d $root ]]; then io_unmark "$root"; fi
    echo "removed"
    ;;
  *) die "$usage" ;;
esac
