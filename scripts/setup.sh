#!/usr/bin/env bash
# Create .venv and install the pinned requirements. Usage: scripts/setup.sh [requirements file]
set -euo pipefail
cd "$(dirname "$0")/.."
reqs="${1:-requirements.txt}"
python3 -m venv .venv
stamp=".venv/.installed-$(cat "$reqs" requirements*.txt constraints.txt | sha1sum | cut -c1-12)"
if [ ! -e "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -r "$reqs"
  touch "$stamp"
fi
