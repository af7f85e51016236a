#!/usr/bin/env bash
# Workflow 1: embed the whole bundled genome (both strands), then print what was written.
# Usage: workflows/embed_genome.sh [extra `ntscale embed` flags, e.g. --ray local]
set -euo pipefail
cd "$(dirname "$0")/.."
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
ntscale embed --config workflows/embed_genome.yaml "$@"
python -c "import ntscale.store as st; print(st.open('out/workflows/genome.zarr'))"
