#!/usr/bin/env bash
# Set up (first time) and run the whole test suite: unit, CLI, API, browser, fuzz and a small load test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  # Debian's Chromium drives the browser tests; Playwright's own browser download cannot work offline.
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk
fi
scripts/setup.sh requirements-dev.txt
exec .venv/bin/python -m pytest -q "$@"
