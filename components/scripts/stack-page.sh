#!/usr/bin/env bash
# stack-page.sh put DIR (page on stdin): write DIR/index.html atomically; prints its SHA-256.
# stack-page.sh remove DIR: remove DIR/index.html (and DIR, if then empty).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

action=${1:?usage: stack-page.sh put|remove DIR}
dir=${2:?usage: stack-page.sh put|remove DIR}
case $action in
  put)
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.index.html.XXXXXX")
    cat >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$dir/index.html"
    sha256sum "$dir/index.html" | cut -d' ' -f1
    ;;
  remove)
    rm -f "$dir/index.html"
    rmdir "$dir" 2>/dev/null || true
    echo "removed"
    ;;
  *) die "unknown action '$action' (put|remove)" ;;
esac
