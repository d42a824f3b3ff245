#!/usr/bin/env bash
# Install the tools the tests in tests/tools run: promtool (Prometheus's rule
# checker and rule unit-test runner), from Debian's `prometheus` package. The Lua
# interpreter for the Argo CD health checks is lupa, a Python package of the
# `test` extra (pyproject.toml), so it needs nothing here. Also npm (Debian's `npm`),
# which installs GitHub's example webhook payloads (hack/webhook-examples.sh, run last).
#
# Idempotent: apt-get runs only when a binary is missing. The package's own
# services (prometheus, and the node exporter it recommends) are neither installed
# nor started: only promtool is used.
set -euo pipefail

log() { printf 'install-tools: %s\n' "$*" >&2; }

missing=()
if ! command -v promtool >/dev/null 2>&1; then
  missing+=(prometheus)
fi
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  log "promtool and npm already installed"
  bash "$(dirname "$0")/webhook-examples.sh" >/dev/null
  exit 0
fi

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" "${missing[@]}"

if ! command -v promtool >/dev/null 2>&1; then
  log "install finished but promtool is still missing"
  exit 1
fi
log "promtool at $(command -v promtool): $(promtool --version 2>&1 | head -n1)"
bash "$(dirname "$0")/webhook-examples.sh" >/dev/null
