#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what the tests need (Debian's chromium for the
# browser tests, axe-core from the npm registry for the accessibility checks, the Python packages
# in .venv), then pytest. Extra arguments go to pytest, e.g. scripts/test.sh -k register.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.14.1

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]} ..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$(cat .cache/axe/version 2>/dev/null)" != "$AXE_VERSION" ] || [ ! -f .cache/axe/axe.min.js ]; then
  echo "Fetching axe-core $AXE_VERSION ..."
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null && tar xzf "axe-core-$AXE_VERSION.tgz" package/axe.min.js)
  mkdir -p .cache/axe
  mv "$tmp/package/axe.min.js" .cache/axe/axe.min.js
  echo "$AXE_VERSION" > .cache/axe/version
  rm -rf "$tmp"
fi

source scripts/venv.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
