#!/usr/bin/env bash
# stack-deploy.sh deploy STACK DIR RESOLVE_IMAGE TIMEOUT_S [VAR=VALUE...] (compose file on stdin): write the
#   compose file to DIR (beside the files its configs are made from: stack-file.sh), `docker stack deploy` it with
#   VAR=VALUE in its environment (compose interpolation), and
#   wait until every service has all its tasks Running and no update in progress (a rolling update of a global
#   service has all its tasks Running between two nodes' turns). An update that was paused or rolled back fails.
#   DATA_DIR=path among the variables (an extra stack's directory on the shared storage) is created first.
# stack-deploy.sh remove STACK TIMEOUT_S: `docker stack rm` and wait until its services and networks are gone (a
#   DATA_DIR stays: it holds the stack's data).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

action=${1:?usage: stack-deploy.sh deploy|remove STACK ...}
stack=${2:?usage: stack-deploy.sh deploy|remove STACK ...}
shift 2

stack_filter=(--filter "label=com.docker.stack.namespace=$stack")

converged() {
  local replicas services states svc update
  services=$(docker service ls "${stack_filter[@]}" -q)
  [[ -n $services ]] || return 1
  replicas=$(docker service ls "${stack_filter[@]}" --format '{{.Replicas}}')
  # every "running/desired" pair equal and non-zero
  while IFS= read -r r; do
    r=${r%% *}
    [[ ${r%/*} == "${r#*/}" && ${r#*/} != 0 ]] || return 1
  done <<<"$replicas"
  # and every task that should run really is Running (Replicas also counts tasks on nodes that are down); the states
  # are read whole first (a grep stopping at its first match could leave docker dying of SIGPIPE)
  for svc in $services; do
    states=$(docker service ps "$svc" --filter desired-state=running --format '{{.CurrentState}}') || return 1
    if [[ -n $states ]] && grep -qv '^Running' <<<"$states"; then
      return 1
    fi
    update=$(docker service inspect "$svc" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}: {{.UpdateStatus.Message}}{{end}}') \
      || return 1
    case ${update%%:*} in
      "" | completed) ;;
      updating | rollback_started) return 1 ;;
      *) die "the update of service $(docker service inspect "$svc" --format '{{.Spec.Name}}') did not complete: $update" ;;
    esac
  done
}

# prune_configs: remove the stack's Swarm configs that none of its services uses any more (a config's file changed:
# the services rolled onto the new one, named by its digest). Run once the stack has converged, so that no task
# of an update or a rollback still needs the old one.
prune_configs() {
  local config services used
  services=$(docker service ls "${stack_filter[@]}" -q)
  # shellcheck disable=SC2086 # one argument per service ID
  used=" $(docker service inspect $services \
    --format '{{range .Spec.TaskTemplate.ContainerSpec.Configs}}{{.ConfigName}} {{end}}' | tr '\n' ' ') "
  for config in $(docker config ls "${stack_filter[@]}" --format '{{.Name}}'); do
    if [[ $used != *" $config "* ]]; then
      if docker config rm "$config" >/dev/null; then
        log "removed config $config (no service of $stack uses it any more)"
      else
        log "warning: could not remove config $config, which no service of $stack uses any more"
      fi
    fi
  done
}

case $action in
  deploy)
    dir=${1:?usage: stack-deploy.sh deploy STACK DIR RESOLVE_IMAGE TIMEOUT_S [VAR=VALUE...]}
    resolve=${2:?} timeout_s=${3:?}
    shift 3
    for var in "$@"; do
      if [[ $var == DATA_DIR=* ]]; then mkdir -p "${var#DATA_DIR=}"; fi
    done
    mkdir -p "$dir"
    cat >"$dir/docker-compose.yml.tmp"
    mv -f "$dir/docker-compose.yml.tmp" "$dir/docker-compose.yml"
    # Swarm refuses a service update made from a stale read ("update out of sequence"): a rolling update in progress
    # bumps the service's version (moby/moby#30794). The deploy is run again then (5 tries).
    for attempt in 1 2 3 4 5; do
      if err=$(env "$@" docker stack deploy --prune --resolve-image "$resolve" -c "$dir/docker-compose.yml" "$stack" \
        2>&1 >/dev/null); then
        break
      fi
      [[ $err == *"update out of sequence"* && $attempt -lt 5 ]] || die "docker stack deploy $stack failed: $err"
      log "docker stack deploy: update out of sequence (try $attempt); again"
      sleep 1
    done
    if ! retry "$timeout_s" 2 converged; then
      docker stack ps --no-trunc "$stack" >&2 || true
      die "stack $stack did not converge within ${timeout_s}s"
    fi
    prune_configs
    echo "deployed"
    ;;
  remove)
    timeout_s=${1:?usage: stack-deploy.sh remove STACK TIMEOUT_S}
    # `docker stack rm` removes the services, then the networks: a network whose tasks Swarm still holds cannot go yet
    # ("is in use by task"; seen in the lab when two stacks go at once), and the command fails with the rest done. It
    # runs again until all are gone.
    why=""
    gone() {
      if [[ -z $(docker service ls "${stack_filter[@]}" -q) && -z $(docker network ls "${stack_filter[@]}" -q) ]]; then
        return 0
      fi
      why=$(docker stack rm "$stack" 2>&1 >/dev/null) || true
      return 1
    }
    retry "$timeout_s" 2 gone || die "stack $stack was not gone within ${timeout_s}s${why:+: $why}"
    echo "removed"
    ;;
  *) die "unknown action '$action' (deploy|remove)" ;;
esac
