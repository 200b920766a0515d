#!/usr/bin/env bash
# stack-file.sh put DIR NAME (content on stdin): write DIR/NAME (mode 0644), a file a stack's Swarm config is made
#   from (`configs: KEY: {file: ./NAME}` in the compose file the deploy step writes to DIR); unchanged when it
#   already holds that content. Prints its SHA-256.
# stack-file.sh remove DIR NAME: remove DIR/NAME.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: stack-file.sh put|remove DIR NAME"
action=${1:?$usage} dir=${2:?$usage} name=${3:?$usage}
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "'$name' is not a file name"
case $action in
  put)
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.$name.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    cat >"$tmp"
    chmod 0644 "$tmp"
    if cmp -s "$tmp" "$dir/$name" && [[ $(stat -c %a "$dir/$name") == 644 ]]; then
      log "$dir/$name holds this content already"
    else
      mv -f "$tmp" "$dir/$name"
    fi
    read -r sum _ < <(sha256sum "$dir/$name")
    echo "$sum"
    ;;
  remove)
    rm -f "$dir/$name"
    echo "removed"
    ;;
  *) die "unknown action '$action' (put|remove)" ;;
esac
