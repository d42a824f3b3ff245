#!/usr/bin/env bash
# Install the tools the tests in tests/tools run beyond promtool (built from its
# pinned Go module by hack/install-promtool.sh). The Lua interpreter for the Argo CD
# health checks is lupa, a Python package of the `test` extra (pyproject.toml), so it
# needs nothing here. npm (Debian's `npm`) installs GitHub's example webhook payloads
# (hack/webhook-examples.sh, run last).
#
# Idempotent: apt-get runs only when a binary is missing.
set -euo pipefail

log() { printf 'install-tools: %s\n' "$*" >&2; }

missing=()
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  log "npm already installed"
  bash "$(dirname "$0")/webhook-examples.sh" >/dev/null
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "missing ${missing[*]} and no apt-get here: install it by hand"
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    log "missing ${missing[*]}: run this script as root (or install sudo)"
    exit 1
  fi
  SUDO=(sudo)
fi

log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

if ! command -v npm >/dev/null 2>&1; then
  log "install finished but npm is still missing"
  exit 1
fi
bash "$(dirname "$0")/webhook-examples.sh" >/dev/null
