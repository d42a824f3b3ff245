#!/usr/bin/env bash
# GitHub's own example webhook payloads, one or more for every event type, for the
# parser tests of the deploy hook (tests/unit/test_webhook_examples.py): the npm package
# @octokit/webhooks-examples, pinned, installed with npm into
# ~/.cache/tierkeeper/webhooks-examples/<version> only when missing. Prints the directory
# holding the package's index files.
#
# TIERKEEPER_CACHE overrides ~/.cache/tierkeeper.
set -euo pipefail

VERSION=7.6.1
PACKAGE=@octokit/webhooks-examples

log() { printf 'webhook-examples: %s\n' "$*" >&2; }

cache=${TIERKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tierkeeper}
prefix="$cache/webhooks-examples/$VERSION"
package="$prefix/node_modules/$PACKAGE"

if [ ! -f "$package/api.github.com/index.json" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    log "npm is missing: install Node.js (Debian: apt-get install npm)"
    exit 1
  fi
  log "installing $PACKAGE@$VERSION into $prefix"
  mkdir -p "$prefix"
  # --ignore-scripts: the package is data; nothing of it runs here.
  npm install --prefix "$prefix" --no-audit --no-fund --ignore-scripts --no-save \
    "$PACKAGE@$VERSION" >&2
  installed=$(node -p "require('$package/package.json').version")
  if [ "$installed" != "$VERSION" ]; then
    log "installed version $installed, wanted $VERSION"
    exit 1
  fi
fi
echo "$package"
