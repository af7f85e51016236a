#!/usr/bin/env bash
# Quick start 2/2: set up .venv and run the whole test suite (no GPU needed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/_venv.sh"
cd "$root"
# The report's browser test needs Debian's chromium; CI (CI=true, root, apt) installs it,
# elsewhere the test skips with the install command when chromium is missing.
if [ -n "${CI:-}" ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ]; then
  echo "[ntscale] CI: installing chromium for the report's browser test" >&2
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
       >"$root/.venv/.apt-chromium.log" 2>&1; then
    echo "[ntscale] chromium install failed (see .venv/.apt-chromium.log); browser test skips" >&2
  fi
fi
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0 JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
exec "$venv/bin/python" -m pytest "$@"
