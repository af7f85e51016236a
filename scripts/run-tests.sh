#!/usr/bin/env bash
# Quick start 2/2: set up .venv and run the whole test suite (no GPU needed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/_venv.sh"
cd "$root"
# Two tests use Debian programs: the report's browser test (chromium) and the haplotype check
# against `bcftools consensus`. CI (CI=true, root, apt) installs them; elsewhere those two
# tests skip, naming the package, when the program is missing.
missing=()
for tool in chromium bcftools; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ -n "${CI:-}" ] && [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ]; then
  echo "[ntscale] CI: installing ${missing[*]} for the browser and bcftools tests" >&2
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") \
       >"$venv/.apt-tools.log" 2>&1; then
    echo "[ntscale] apt-get install failed (see $venv/.apt-tools.log); those tests skip" >&2
  fi
fi
# This checkout's code first, whatever the environment has installed (an editable install may
# point at another checkout when NTSCALE_VENV is shared).
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0 JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
# Two pytest-xdist workers by default, a whole test file at a time (--dist loadfile: a
# module-scoped fixture is built once): ~12 min instead of ~21 on 2 cores (docs/benchmarks.md,
# "the lost xdist worker"). NTSCALE_TEST_WORKERS=0 runs in one process (or `-n 0` after it).
# A dead worker ends the run (--max-worker-restart 0): pytest-xdist 3.8 can wait forever after
# replacing a worker under loadfile (its issue #784). When a worker ended without a message,
# its in-process Ray driver had exited: /tmp/ntsr*/session_latest/logs/python-core-driver-*.log.
workers="${NTSCALE_TEST_WORKERS:-2}"
# Files go out longest first (--no-loadscope-reorder keeps the order tests/conftest.py sets
# from tests/file_seconds.json; xdist would otherwise order files by their number of tests).
exec "$venv/bin/python" -m pytest -n "$workers" --dist loadfile --no-loadscope-reorder \
  --max-worker-restart 0 "$@"
