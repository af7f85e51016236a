#!/usr/bin/env bash
# Quick start 2/2: set up .venv and run the whole test suite (no GPU needed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/_venv.sh"
cd "$root"
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0 JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
exec "$venv/bin/python" -m pytest "$@"
