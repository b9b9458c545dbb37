#!/usr/bin/env bash
# Prove that constraints.txt resolves from the public index alone: --isolated ignores every pip
# config file and PIP_* variable (so no local wheel folder, find-links or extra index), and
# --ignore-installed makes pip look every pin up instead of trusting what is already here.
# A pin that only a local build satisfies (torch==2.13.0+cpu) fails here, as it would on a
# fresh machine or in the worker image's `uv pip install --constraint constraints.txt`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! "$PYTHON" -m pip install --isolated --disable-pip-version-check --dry-run --no-deps \
    --ignore-installed --quiet --report - -r constraints.txt >"$log" 2>&1; then
  echo "check-pins: constraints.txt does not resolve from PyPI alone:" >&2
  grep -E "ERROR|No matching|Could not find" "$log" >&2 || tail -20 "$log" >&2
  exit 1
fi
echo "check-pins: all $(grep -cE '^[A-Za-z0-9]' constraints.txt) pins resolve from PyPI alone"
