#!/usr/bin/env bash
# stack-page.sh put DIR (page on stdin): write DIR/index.html atomically, unless it already holds the page (mode
#   0644): then nothing is written. A write to the shared storage renames in a directory every node's nginx reads,
#   which CephFS makes wait for every client holding it, a stopped node's too (until its session times out); so a
#   rerun that changes nothing (the leader moved, the step updated in place) must not write. Prints its SHA-256.
# stack-page.sh remove DIR: remove DIR/index.html (and DIR, if then empty).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

action=${1:?usage: stack-page.sh put|remove DIR}
dir=${2:?usage: stack-page.sh put|remove DIR}
sha256() { local sum _; read -r sum _ < <(sha256sum "$1"); echo "$sum"; }
case $action in
  put)
    page=$(mktemp)
    trap 'rm -f "$page"' EXIT
    cat >"$page"
    sha=$(sha256 "$page")
    if [[ -f $dir/index.html && $(sha256 "$dir/index.html") == "$sha" && $(stat -c %a "$dir/index.html") == 644 ]]; then
      echo "$sha"
      exit 0
    fi
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.index.html.XXXXXX")
    cat "$page" >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$dir/index.html"
    sha256 "$dir/index.html"
    ;;
  remove)
    rm -f "$dir/index.html"
    rmdir "$dir" 2>/dev/null || true
    echo "removed"
    ;;
  *) die "unknown action '$action' (put|remove)" ;;
esac
