#!/usr/bin/env bash
# scripts/test.sh [PYTEST ARGS...]: set up (scripts/setup.sh) and run every test. A missing tool fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$HOME/.local/bin:$PATH"
exec uv run --frozen pytest "$@"
