#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info` on this machine.
#
# Idempotent: does nothing when the engine is already up. Otherwise installs
# Debian's docker.io if dockerd is missing, starts dockerd in the background
# (detached, logging to $DOCKERD_LOG) and waits at most $DOCKER_WAIT_SECONDS.
#
#   DOCKERD_LOG          default /var/log/swarm-ceph-lab-dockerd.log
#   DOCKER_WAIT_SECONDS  default 60
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/swarm-ceph-lab-dockerd.log}
DOCKER_WAIT_SECONDS=${DOCKER_WAIT_SECONDS:-60}

log() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

docker_up() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && docker_up; then
    log "engine is up"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    die "docker engine is not reachable and starting it needs root (run as root or start dockerd yourself)"
fi

# dockerd lives in /usr/sbin, which a user's PATH (su without -, sudo on some systems) may lack
PATH=$PATH:/usr/sbin:/sbin
if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd not found: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq docker.io >/dev/null || die "apt-get install docker.io failed"
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is still not on PATH"
fi

# The host engine's own pid file (pgrep would also see the lab nodes' nested dockerds).
pidfile=/var/run/docker.pid
pid=""
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid=$(cat "$pidfile")
    log "dockerd is already running (pid $pid); waiting for it"
else
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: own session, so the engine outlives this script and its process group.
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    pid=$!
fi

deadline=$((SECONDS + DOCKER_WAIT_SECONDS))
until docker_up; do
    sleep 1
    if ! kill -0 "$pid" 2>/dev/null; then
        log "last lines of $DOCKERD_LOG:"
        tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
        die "dockerd (pid $pid) exited while starting"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        log "last lines of $DOCKERD_LOG:"
        tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
        die "docker engine did not answer 'docker info' within ${DOCKER_WAIT_SECONDS}s"
    fi
done
log "engine is up after $((SECONDS))s"
