#!/usr/bin/env bash
# Usage: apt-install.sh PACKAGE...
#
# Installs Debian packages with apt-get, as root or through sudo, without their
# recommends. Their postinst may not start system-wide daemons: a policy-rc.d that
# refuses every start is put in place for the install, and only when the machine
# has none. The install-*.sh scripts call it for what they find missing.
set -euo pipefail

log() { printf 'apt-install: %s\n' "$*" >&2; }

if ! command -v apt-get >/dev/null 2>&1; then
  log "missing $* and no apt-get here: install them by hand"
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    log "missing $*: run this script as root (or install sudo)"
    exit 1
  fi
  SUDO=(sudo)
fi

policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  trap '"${SUDO[@]}" rm -f "$policy"' EXIT
fi

log "installing $*"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
