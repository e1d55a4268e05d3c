#!/usr/bin/env bash
# What the tests need beyond the two Python environments: Debian's chromium (the report test
# renders report.html headless). Idempotent; needs root or sudo for the first install.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  echo "[setup-test] installing Debian's chromium"
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
