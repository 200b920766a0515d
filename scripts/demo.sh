#!/usr/bin/env bash
# scripts/demo.sh: the main job on one machine. Sets up (scripts/setup.sh), starts the lab (three Docker-in-Docker
# Swarm nodes, lab/lab.sh up), writes the `lab` stack config (hosts mode), runs `pulumi up` on it with a local
# file:// backend under .lab/, and prints the page URLs. `scripts/demo.sh down` destroys the stack and the lab.
#
# The Pulumi CLI comes from PATH, else from .ci/toolchain.sh (built offline from Go modules). Without either, the
# lab stack's steps are replayed without the engine (lab/replay.py: the program's own steps, in its dependency
# order, no Pulumi state), and it says so loudly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

log() { printf 'demo: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

export PULUMI_BACKEND_URL="file://$repo/.lab/state"
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-swarm-ceph-lab}
export PULUMI_SKIP_UPDATE_CHECK=true

# find_pulumi: put a Pulumi CLI on PATH; false if there is none to be had.
find_pulumi() {
  command -v pulumi >/dev/null 2>&1 && return 0
  local toolchain
  if toolchain=$(bash .ci/toolchain.sh); then
    export PATH="$toolchain/bin:$PATH" PULUMI_HOME="$toolchain/home"
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    return 0
  fi
  return 1
}

no_engine() {
  log "WARNING: no Pulumi CLI with the command provider plugin here (install them: https://www.pulumi.com/docs/install/;"
  log ".ci/toolchain.sh could not build them here: see its errors). Replaying the lab stack's steps WITHOUT the Pulumi"
  log "engine: no state, no preview, no diff."
}

export PATH="$HOME/.local/bin:$PATH"
case ${1:-up} in
  up)
    bash scripts/setup.sh
    bash lab/lab.sh up
    if find_pulumi; then
      mkdir -p .lab/state
      # Written once: pulumi keeps the passphrase salt and the encrypted key in it.
      [[ -f Pulumi.lab.yaml ]] || uv run --frozen python lab/stack_config.py >Pulumi.lab.yaml
      pulumi stack select --create lab --secrets-provider passphrase >/dev/null
      pulumi config set --secret swarm-ceph:sshPrivateKey <.lab/id_ed25519
      pulumi up --yes --stack lab
      log "the page, on every node:"
      pulumi stack output pageUrls --json --stack lab
    else
      no_engine
      uv run --frozen python -m lab.replay up
    fi
    ;;
  down)
    if [[ -d .lab/state ]] && find_pulumi; then
      pulumi destroy --yes --stack lab
      pulumi stack rm --yes lab
      rm -f Pulumi.lab.yaml
    elif [[ -n $(bash lab/lab.sh status 2>/dev/null | grep -w running || true) ]]; then
      no_engine
      uv run --frozen python -m lab.replay down
    fi
    bash lab/lab.sh down
    ;;
  *) die "usage: scripts/demo.sh [up|down]" ;;
esac
