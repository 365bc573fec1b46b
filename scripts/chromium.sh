#!/usr/bin/env bash
# Install headless Chromium and its WebDriver from Debian packages, for the browser tests
# (tests/example/test_assistant_page.py). Does nothing when both are already there.
# Runs apt-get as root, through sudo otherwise (when sudo is available).
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null; then
  SUDO=(sudo)
else
  echo "chromium.sh: need root or sudo to install chromium and chromium-driver" >&2
  exit 1
fi

echo "Installing chromium and chromium-driver from Debian packages..." >&2
"${SUDO[@]}" apt-get update -qq >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
