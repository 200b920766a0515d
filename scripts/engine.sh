#!/usr/bin/env bash
# scripts/engine.sh: find the Pulumi engine (the CLI, its Python language host, the resource plugins) and print the
# environment that uses it, for `eval "$(bash scripts/engine.sh)"`. In this order:
#   1. a `pulumi` on PATH (whatever the user installed): nothing to change;
#   2. an engine under ${SWARM_CEPH_CACHE:-~/.cache/swarm-ceph}/engine: `bin/` holds the CLI and
#      `pulumi-language-python`, `home/` is its PULUMI_HOME (plugins put there by
#      `pulumi plugin install resource NAME VERSION --file PATH`); an offline machine's engine is put there by hand;
#   3. the official installer (https://get.pulumi.com) of the CLI version the SDK is pinned to, into that folder:
#      tried only where get.pulumi.com resolves, so an offline machine sends nothing anywhere;
#   4. otherwise an error that says what is missing and how to install it.
# Then, before any `pulumi` command runs, scripts/plugins.py checks that the plugins the SDK packages in .venv
# request are the ones the engine will load (or download), and says so in one line; a mismatch stops.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${SWARM_CEPH_CACHE:-$HOME/.cache/swarm-ceph}/engine
python=$repo/.venv/bin/python
installer=https://get.pulumi.com

log() { printf 'engine: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

[[ -x $python ]] || die "no Python environment in $repo/.venv (its SDK packages name the plugins). Fix: uv sync --frozen"
# The CLI version this project is tested with: the pulumi SDK's pin (pyproject.toml, uv.lock).
version=$("$python" -c 'import importlib.metadata as m; print(m.version("pulumi"))')

cache_env() {
  # shellcheck disable=SC2016 # $PATH is expanded where the output is evaluated
  printf 'export PATH=%q:"$PATH"\nexport PULUMI_HOME=%q\n' "$dest/bin" "$dest/home"
}

official_install() {
  log "no Pulumi CLI: installing v$version from $installer into $dest"
  local script
  script=$(mktemp)
  curl -fsSL "$installer" -o "$script" || die "could not download $installer"
  sh "$script" --version "$version" --install-root "$dest" --no-edit-path >&2 ||
    die "the official installer failed (see above)"
  rm -f "$script"
  mkdir -p "$dest/home"
}

missing_cli() {
  die "no Pulumi CLI: none on PATH, none in $dest/bin, and $installer does not resolve (offline).
  Fix: install the Pulumi CLI v$version (https://www.pulumi.com/docs/install/:
    curl -fsSL $installer | sh -s -- --version $version), then put ~/.pulumi/bin on PATH;
  or, offline, put an engine in $dest by hand: bin/pulumi and bin/pulumi-language-python (v$version),
    home/ as PULUMI_HOME with the plugins the SDK packages request, each by
    PULUMI_HOME=$dest/home pulumi plugin install resource NAME VERSION --file PATH"
}

if command -v pulumi >/dev/null 2>&1; then
  env_out=""
  log "using $(command -v pulumi) (on PATH)"
elif [[ -e $dest/bin/pulumi ]]; then
  [[ -x $dest/bin/pulumi-language-python ]] ||
    die "$dest/bin has the CLI but not its Python language host. Fix: put pulumi-language-python v$version beside it"
  env_out=$(cache_env)
  log "using $dest/bin/pulumi (PULUMI_HOME=$dest/home)"
elif getent hosts "${installer#https://}" >/dev/null 2>&1; then
  official_install
  env_out=$(cache_env)
else
  missing_cli
fi

eval "$env_out"
"$python" "$repo/scripts/plugins.py"
[[ -z $env_out ]] || printf '%s\n' "$env_out"
