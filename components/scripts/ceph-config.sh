#!/usr/bin/env bash
# ceph-config.sh set|rm WHO OPTION VALUE [ANSWER_S]: one option in the central configuration of MicroCeph's Ceph
# (`ceph config`).
#   set: sets OPTION to VALUE for WHO (mon, mds, ...) unless Ceph already reads VALUE there.
#   rm:  removes it (back to Ceph's default) if it still reads VALUE; a value set since by someone else is theirs, and
#        is left as it is. A cluster that does not answer is left as it is, with a warning: removing a tuning
#        must not keep a destroy from going on (the cluster goes with the nodes, or stays yours, tuned).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: ceph-config.sh set|rm WHO OPTION VALUE [ANSWER_S]"
action=${1:?$usage} who=${2:?$usage} option=${3:?$usage} value=${4:?$usage}
answer_s=${5:-60} # a MON election or a quorum still forming: a command is tried again this long
[[ $action == set || $action == rm ]] || die "$usage"

# ceph_config ARGS...: `ceph config ARGS...`, its answer on stdout (Ceph's messages go to stderr); tried again while
# the MONs do not answer. A refusal (an unknown option: ENOENT, 2; a bad value: EINVAL, 22) ends it at once.
ceph_config() {
  local out rc deadline=$((SECONDS + answer_s))
  while true; do
    rc=0
    out=$(timeout 30 microceph.ceph config "$@") || rc=$?
    # 124: no answer within 30 s (the CLI waits for a MON that long and more). Anything else is Ceph's answer.
    if ((rc != 124 || SECONDS >= deadline)); then
      printf '%s\n' "$out"
      return "$rc"
    fi
    log "ceph config $* did not answer ($rc), trying again"
    sleep 3
  done
}

# same A B: A and B are the same value: as numbers when both are (Ceph prints a float option as 15.000000), else as text
same() {
  local number='^-?[0-9]+([.][0-9]+)?$'
  if [[ $1 =~ $number && $2 =~ $number ]]; then
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0) }'
  else
    [[ $1 == "$2" ]]
  fi
}

if ! current=$(ceph_config get "$who" "$option"); then
  [[ $action == rm ]] || die "could not read $option for $who from Ceph's configuration"
  log "warning: could not read $option for $who; if set, remove it by hand: microceph.ceph config rm $who $option"
  exit 0
fi
case $action in
  set)
    if same "$current" "$value"; then
      log "$who $option is $current already"
    else
      ceph_config set "$who" "$option" "$value" >/dev/null || die "could not set $option to $value for $who"
      log "$who $option: $current -> $value"
    fi
    ;;
  rm)
    if ! same "$current" "$value"; then
      log "$who $option reads $current, not $value (Ceph's default, or set by someone else since): left as it is"
    elif ceph_config rm "$who" "$option" >/dev/null; then
      log "$who $option: back to Ceph's default"
    else
      log "warning: could not remove $option for $who; remove it by hand: microceph.ceph config rm $who $option"
    fi
    ;;
esac
