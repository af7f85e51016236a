#!/usr/bin/env bash
# Wheels the device machine lacks for benchmarks/gpu_proof.py (docs/benchmarks.md, "GPU proof").
# Its image has Python 3.12, JAX (CUDA), numpy, pandas, pyarrow, xarray, typer, rich,
# huggingface_hub, safetensors, joblib, matplotlib, fsspec, pyyaml; these are the rest of what
# `ntscale embed` and the proof import (~13 MB). Ray (79 MB) does not fit the 64 MiB the
# call carries with the repository: the proof's `--ray local` step reports "skipped" there.
# Run from the repository root; .whl/ is git-ignored and travels with `carry: [".whl"]`.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
"$py" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
  dm-haiku==0.0.17 jmp pysam==0.24.1 cyvcf2==0.35.0 coloredlogs humanfriendly \
  "zarr>=3.1.6" donfig "numcodecs>=0.16" crc32c dask partd locket pyBigWig==0.3.29 pyfaidx
du -sh .whl
