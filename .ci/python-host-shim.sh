#!/usr/bin/env bash
# Installed by .ci/toolchain.sh as bin/pulumi-language-python when the Python language host had to be built from
# an older sdk/v3 (the proxy here refuses the current host's module). That host differs from a current one in two
# ways this shim covers:
#   - it learns the virtualenv only from a -virtualenv flag, which current CLIs no longer pass: the shim reads
#     runtime.options.virtualenv from ./Pulumi.yaml (the engine starts the host in the project directory);
#   - it lists the program's packages with `python -m pip`, and uv virtualenvs have no pip: the toolchain's own
#     pip (../pip) goes on PYTHONPATH.
# `toolchain: uv` means nothing to that host; the virtualenv must already exist (`uv sync --frozen`).
set -euo pipefail

here=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")
export PYTHONPATH="$here/../pip${PYTHONPATH:+:$PYTHONPATH}"

venv=""
if [[ -f Pulumi.yaml ]]; then
    venv=$(sed -n 's/^[[:space:]]*virtualenv:[[:space:]]*//p' Pulumi.yaml | head -n 1 | tr -d "\"'[:space:]")
fi
if [[ -n $venv ]]; then
    exec "$here/pulumi-language-python.real" -virtualenv="$venv" "$@"
fi
exec "$here/pulumi-language-python.real" "$@"
