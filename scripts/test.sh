#!/usr/bin/env bash
# Set up (first time) and run the whole test suite: unit, CLI, API, browser, fuzz and a small load test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's Chromium drives the browser tests (Playwright's own browser download cannot work offline); the Noto CJK
# and DejaVu fonts render the posters the OCR tests read back (and Chinese in the browser).
packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || packages+=(fonts-noto-cjk)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || packages+=(fonts-dejavu-core)
# OpenCV (under the OCR) links against libGL and GLib; on a Space, packages.txt installs them.
ldconfig -p | grep -q 'libGL.so.1 ' || packages+=(libgl1)
ldconfig -p | grep -q 'libglib-2.0.so.0 ' || packages+=(libglib2.0-0)
if [ "${#packages[@]}" -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi
scripts/setup.sh requirements-dev.txt
exec .venv/bin/python -m pytest -q "$@"
