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
# Tests run in NTSCALE_TEST_WORKERS pytest-xdist processes (default 2: on the 2-core CI machine
# many tests wait on subprocesses, Ray start-up and sockets rather than compute). Tests go to
# whichever worker is free (--dist load). Arguments come after, so `-n 0` (or
# NTSCALE_TEST_WORKERS=0) runs serially.
workers="${NTSCALE_TEST_WORKERS:-2}"
exec "$venv/bin/python" -m pytest -n "$workers" --dist load "$@"
