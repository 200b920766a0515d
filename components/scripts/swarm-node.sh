#!/usr/bin/env bash
# swarm-node.sh apply HOSTNAME TIMEOUT_S ROLE AVAILABILITY [KEY=VALUE...]: on a manager, wait until the node is
#   Ready, make its role ROLE (manager or worker: promote or demote), its labels exactly the given set (labels are
#   managed here: others are removed) and its availability AVAILABILITY (active, pause or drain). Only what differs
#   changes, in one `docker node update`. A drained node is waited for (at most TIMEOUT_S) until none of its tasks
#   runs: Swarm stops them after the update has returned, so the `pulumi up` that drains a node ends with the node
#   serving nothing (ready for maintenance).
# swarm-node.sh remove HOSTNAME [TIMEOUT_S]: on a manager, drain the node if it is Ready and wait (at most TIMEOUT_S)
#   until none of its tasks runs (Swarm schedules them on the other nodes); then demote it if it is a manager and
#   remove it from the Swarm. A node that is Down (lost for good) is not waited for.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

action=${1:?usage: swarm-node.sh apply|remove HOSTNAME ...}
host=${2:?usage: swarm-node.sh apply|remove HOSTNAME ...}
shift 2

LOCK_FILE=/run/lock/swarm-ceph-swarm-node.lock
# The Swarm's passing answers, asked again: a manager without a leader or slow to answer (just healed, an election
# going on: "does not have a leader", "context deadline exceeded"), or a node object that changed between the CLI's
# read and its write ("update out of sequence", e.g. another node's demotion running at the same time).
SWARM_WAIT_S=${SWARM_WAIT_S:-60}
passing() {
  [[ $1 == *"update out of sequence"* || $1 == *"context deadline exceeded"* || $1 == *"does not have a leader"* ]]
}
# node_cmd ARGS...: `docker node ARGS`, its output on stdout; again while the Swarm's answer is a passing one (for
# SWARM_WAIT_S at most); any other error is printed to stderr and returned.
node_cmd() {
  local out err errors deadline=$((SECONDS + SWARM_WAIT_S))
  errors=$(mktemp)
  until out=$(docker node "$@" 2>"$errors"); do
    err=$(<"$errors")
    if ! passing "$err" || ((SECONDS >= deadline)); then
      rm -f "$errors"
      printf '%s\n' "$err" >&2
      return 1
    fi
    log "docker node $1: ${err##*desc = }; again"
    sleep 1
  done
  rm -f "$errors"
  [[ -z $out ]] || printf '%s\n' "$out"
}
node_field() { node_cmd inspect --format "$2" "$1"; }
# shellcheck disable=SC2016 # a Go template, not shell
labels_template='{{range $k, $v := .Spec.Labels}}{{$k}}{{"\n"}}{{end}}'
is_ready() { [[ $(node_field "$host" '{{.Status.State}}') == ready ]]; }
demoted() { [[ -z $(node_field "$host" '{{if .ManagerStatus}}member{{end}}') ]]; }
drained() {
  local states
  states=$(docker node ps --format '{{.CurrentState}}' "$host") || return 1
  [[ $states != *Running* ]]
}

case $action in
  apply)
    usage="usage: swarm-node.sh apply HOSTNAME TIMEOUT_S ROLE AVAILABILITY [KEY=VALUE...]"
    timeout_s=${1:?$usage}
    role=${2:?$usage}
    availability=${3:?$usage}
    shift 3
    case $role in
      manager | worker) ;;
      *) die "unknown role '$role' (manager|worker)" ;;
    esac
    case $availability in
      active | pause | drain) ;;
      *) die "unknown availability '$availability' (active|pause|drain)" ;;
    esac
    retry "$timeout_s" 2 is_ready || die "node $host is not Ready in the swarm after ${timeout_s}s"
    current=$(node_field "$host" '{{.Spec.Availability}}') || die "cannot read the availability of node $host"
    changes=()
    [[ $(node_field "$host" '{{.Spec.Role}}') == "$role" ]] || changes+=(--role "$role")
    [[ $current == "$availability" ]] || changes+=(--availability "$availability")
    for kv in "$@"; do
      [[ $(node_field "$host" "{{index .Spec.Labels \"${kv%%=*}\"}}") == "${kv#*=}" ]] || changes+=(--label-add "$kv")
    done
    while IFS= read -r key; do
      [[ -n $key ]] || continue
      wanted=false
      for kv in "$@"; do [[ ${kv%%=*} == "$key" ]] && wanted=true; done
      $wanted || changes+=(--label-rm "$key")
    done < <(node_field "$host" "$labels_template")
    if ((${#changes[@]})); then
      node_cmd update "${changes[@]}" "$host" >/dev/null
    fi
    if [[ $availability == drain ]]; then
      retry "$timeout_s" 1 drained || die "tasks still run on $host ${timeout_s}s after it was drained (docker node ps $host)"
    fi
    echo "ready"
    ;;
  remove)
    timeout_s=${1:-0}
    if ! err=$(node_cmd inspect --format '{{.ID}}' "$host" 2>&1 >/dev/null); then
      [[ $err == *"No such node"* || $err == *"not found"* ]] || die "could not ask the Swarm about $host: $err"
      log "$host is not in the swarm; nothing to remove"
      echo "removed"
      exit 0
    fi
    [[ -z $err ]] || printf '%s\n' "$err" >&2 # the passing answers met on the way
    if is_ready; then
      if [[ $(node_field "$host" '{{.Spec.Availability}}') != drain ]]; then
        node_cmd update --availability drain "$host" >/dev/null
      fi
      retry "$timeout_s" 2 drained || log "warning: tasks still run on $host after ${timeout_s}s; removing it anyway"
    fi
    if [[ $(node_field "$host" '{{.Spec.Role}}') == manager ]]; then
      # One Raft membership change at a time (destroy removes every node at once, all on this manager), and the
      # node removed only once it has left Raft: `node rm` refuses a node that is still a Raft member.
      mkdir -p "${LOCK_FILE%/*}"
      exec 9>"$LOCK_FILE"
      flock 9
      node_cmd demote "$host" >/dev/null
      retry 60 1 demoted || die "$host is still a Raft member 60s after its demotion; run this again"
    fi
    node_cmd rm --force "$host" >/dev/null
    echo "removed"
    ;;
  *) die "unknown action '$action' (apply|remove)" ;;
esac
