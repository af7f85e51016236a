#!/usr/bin/env bash
# Workflow 2: score every variant of the bundled VCF; writes the Zarr store, a bgzipped
# VCF with the scores as INFO fields and a TSV (one row per ALT allele).
# Usage: workflows/score_variants.sh [extra `ntscale score` flags, e.g. --ray local]
set -euo pipefail
cd "$(dirname "$0")/.."
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
ntscale score --config workflows/score_variants.yaml "$@"
head -3 out/workflows/scores.tsv
