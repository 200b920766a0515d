#!/usr/bin/env bash
# scripts/demo.sh: the main job on one machine. Sets up (scripts/setup.sh), starts the lab (three Docker-in-Docker
# Swarm nodes and a Ceph cluster across them, lab/lab.sh up), writes the `lab` stack config (hosts mode, storage on
# the lab's CephFS), runs `pulumi up` on it with a local file:// backend under .lab/, and prints the page URLs.
# `scripts/demo.sh down` runs `pulumi destroy` and removes the lab.
#
# The Pulumi engine comes from scripts/engine.sh (a `pulumi` on PATH, else ~/.cache/swarm-ceph/engine, else the
# official installer where it is reachable); without one it stops and says how to install it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

log() { printf 'demo: %s\n' "$*" >&2; }

export PULUMI_BACKEND_URL="file://$repo/.lab/state"
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-swarm-ceph-lab}
export PULUMI_SKIP_UPDATE_CHECK=true
export PATH="$HOME/.local/bin:$PATH"

case ${1:-up} in
  up)
    bash scripts/setup.sh
    engine=$(bash scripts/engine.sh)
    eval "$engine"
    bash lab/lab.sh up
    mkdir -p .lab/state
    # Written once: pulumi keeps the passphrase salt and the encrypted key in it.
    [[ -f Pulumi.lab.yaml ]] || uv run --frozen python lab/stack_config.py >Pulumi.lab.yaml
    pulumi stack select --create lab --secrets-provider passphrase >/dev/null
    pulumi config set --secret swarm-ceph:sshPrivateKey <.lab/id_ed25519
    pulumi config set --secret swarm-ceph:cephClientKey <.lab/ceph/client.key
    pulumi up --yes --skip-preview --stack lab
    log "the page, on every node:"
    pulumi stack output pageUrls --json --stack lab
    ;;
  down)
    if [[ -d .lab/state ]]; then
      engine=$(bash scripts/engine.sh)
      eval "$engine"
      if pulumi stack select lab >/dev/null 2>&1; then
        pulumi destroy --yes --skip-preview --stack lab
        pulumi stack rm --yes lab
      fi
      rm -f Pulumi.lab.yaml
    fi
    bash lab/lab.sh down
    ;;
  *)
    log "usage: scripts/demo.sh [up|down]"
    exit 2
    ;;
esac
