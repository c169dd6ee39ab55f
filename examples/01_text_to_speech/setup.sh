#!/usr/bin/env bash
# Installs what the text-to-speech worker needs on this machine: the espeak-ng synthesizer.
# On Runpod the worker image must provide it; the resource declares it, and each worker checks.
set -euo pipefail
if command -v espeak-ng >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "espeak-ng is missing; run: sudo apt-get install -y espeak-ng" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends espeak-ng >/dev/null 2>&1 || {
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends espeak-ng >/dev/null
}
command -v espeak-ng >/dev/null
