#!/usr/bin/env bash
# Quick start 1/2: set up .venv and run the main job on the bundled example genome and checkpoint.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/_venv.sh"
cd "$root"
# This checkout's code first (NTSCALE_VENV may hold an editable install of another one).
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$venv/bin/ntscale" example "$@"
