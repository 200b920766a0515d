#!/usr/bin/env bash
# swarm-node.sh apply HOSTNAME TIMEOUT_S ROLE AVAILABILITY [KEY=VALUE...]: on a manager, wait until the node is
#   Ready, make its role ROLE (manager or worker: promote or demote), its labels exactly the given set (labels are
#   managed here: others are removed) and its availability AVAILABILITY (active, pause or drain). Only what differs
#   changes, in one `docker node update`.
# swarm-node.sh remove HOSTNAME [TIMEOUT_S]: on a manager, drain the node if it is Ready and wait (at most TIMEOUT_S)
#   until none of its tasks runs (Swarm schedules them on the other nodes); then demote it if it is a manager and
#   remove it from the Swarm. A node that is Down (lost for good) is not waited for.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

action=${1:?usage: swarm-node.sh apply|remove HOSTNAME ...}
host=${2:?usage: swarm-node.sh apply|remove HOSTNAME ...}
shift 2

node_field() { docker node inspect --format "$2" "$1" 2>/dev/null; }
# shellcheck disable=SC2016 # a Go template, not shell
labels_template='{{range $k, $v := .Spec.Labels}}{{$k}}{{"\n"}}{{end}}'
is_ready() { [[ $(node_field "$host" '{{.Status.State}}') == ready ]]; }
drained() {
  local states
  states=$(docker node ps "$host" --format '{{.CurrentState}}') || return 1
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
      docker node update "${changes[@]}" "$host" >/dev/null
    fi
    echo "ready"
    ;;
  remove)
    timeout_s=${1:-0}
    if ! docker node inspect "$host" >/dev/null 2>&1; then
      log "$host is not in the swarm; nothing to remove"
      echo "removed"
      exit 0
    fi
    if is_ready; then
      if [[ $(node_field "$host" '{{.Spec.Availability}}') != drain ]]; then
        docker node update --availability drain "$host" >/dev/null
      fi
      retry "$timeout_s" 2 drained || log "warning: tasks still run on $host after ${timeout_s}s; removing it anyway"
    fi
    if [[ $(node_field "$host" '{{.Spec.Role}}') == manager ]]; then
      docker node demote "$host" >/dev/null
    fi
    docker node rm --force "$host" >/dev/null
    echo "removed"
    ;;
  *) die "unknown action '$action' (apply|remove)" ;;
esac
