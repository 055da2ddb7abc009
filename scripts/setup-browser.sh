#!/usr/bin/env bash
# Install headless Chromium (Debian's `chromium` package) for the HTML report test
# (tests/test_compare.py). Idempotent: does nothing when a chromium binary is present.
# Needs root or sudo and access to the Debian package mirror.
set -euo pipefail

for exe in chromium chromium-browser; do
    if command -v "$exe" >/dev/null 2>&1; then
        echo "setup-browser: $exe already installed ($(command -v "$exe"))"
        exit 0
    fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup-browser: need root or sudo" >&2; exit 1; }
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The report's text is ASCII (language codes, numbers), so no extra fonts are needed.
$SUDO apt-get install -y -qq --no-install-recommends chromium
command -v chromium >/dev/null 2>&1 || { echo "setup-browser: chromium missing after install" >&2; exit 1; }
echo "setup-browser: $(chromium --version 2>/dev/null || echo chromium installed)"
