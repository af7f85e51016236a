#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install ntscale into it.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
# NTSCALE_VENV: use an existing environment that already has ntscale's dependencies (e.g. .ci/run
# reusing the checkout's .venv for a temporary clone). Nothing is installed into it; the caller
# puts this checkout first on PYTHONPATH so its own code is the one imported.
if [ -n "${NTSCALE_VENV:-}" ]; then
  venv="$NTSCALE_VENV"
  if [ ! -x "$venv/bin/python" ]; then
    echo "[ntscale] NTSCALE_VENV=$venv has no bin/python; unset it to create .venv here" >&2
    exit 1
  fi
  return 0 2>/dev/null || exit 0
fi
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "ntscale needs Python >= 3.11; '$python' is $("$python" --version 2>&1). Set PYTHON=python3.11." >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "[ntscale] creating virtual environment in $venv" >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >"$venv/.pip-upgrade.log" 2>&1 || true
fi
stamp="$venv/.ntscale-installed"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[ntscale] installing ntscale and its dependencies (about a minute)" >&2
  if ! "$venv/bin/python" -m pip install -q -e "$root[test]" >"$venv/.pip-install.log" 2>&1; then
    tail -n 40 "$venv/.pip-install.log" >&2
    echo "[ntscale] pip install failed; full log: $venv/.pip-install.log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
