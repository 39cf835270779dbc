#!/usr/bin/env bash
# Installs what the tests need (system packages when apt-get is available, then Python packages) and runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  need=()
  for pkg in chromium ffmpeg libosmesa6 libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri fonts-dejavu-core; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
python -m pip install -q -r requirements-dev.txt
python -m pytest "$@"
