#!/usr/bin/env bash
# Create (once) the virtualenv that serves the reference framework in
# benchmarks/concurrency.py: `agentharnessapi` 0.1.0 and uvicorn on Python 3.13 from pyenv.
# Prints the venv's python, or exits 3 with a message when pyenv has no 3.13.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${AGENTIC_REFERENCE_VENV:-var/reference-venv}"
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.installed" ]; then
  PYENV="$(command -v pyenv || echo "$HOME/.pyenv/bin/pyenv")"
  VERSION="$({ "$PYENV" versions --bare 2>/dev/null || true; } | grep -E '^3\.13(\.|$)' | sort -V | tail -1)"
  if [ -z "$VERSION" ]; then
    echo "pyenv has no Python 3.13: the reference framework is skipped" >&2
    exit 3
  fi
  BASE="$("$PYENV" root)/versions/$VERSION/bin/python"
  rm -rf "$VENV"
  "$BASE" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install -q "agentharnessapi==0.1.0" uvicorn >&2
  touch "$VENV/.installed"
fi
echo "$VENV/bin/python"
