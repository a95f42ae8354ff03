#!/usr/bin/env bash
# Set up (first time) and start the app on http://127.0.0.1:7860. Extra arguments go to app.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
exec .venv/bin/python app.py "$@"
