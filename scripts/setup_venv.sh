#!/usr/bin/env bash
# Create or reuse .venv, install the pinned dependencies in one pip call (torch pinned in it), then
# the studio itself (editable).
set -euo pipefail
python="${PYTHON:-python3.11}"
venv=.venv
if ! command -v "$python" >/dev/null; then
  echo "$python not found. On Debian 12 run as root: apt-get install -y python3 python3-venv" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" -ne 0 ]; then
      echo "Python's venv module is missing. Run as root: apt-get update && apt-get install -y python3-venv" >&2
      exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    "$python" -m venv "$venv"
  fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check torch==2.13.0 -r requirements.txt
# The studio itself, editable: the `expression-studio` command and the entry points plugins use.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
touch "$venv/.installed"
