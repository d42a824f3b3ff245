#!/usr/bin/env bash
# Builds versitygw (Versity's S3 gateway, Apache-2.0), the S3 server the data
# tests archive PostgreSQL's WAL and base backups to, from the Go module pinned
# here into ~/.cache/tierkeeper/versitygw/<version>/bin, only when missing. Its
# posix backend serves a plain directory, so each test region is a temp dir.
#
#   hack/install-versitygw.sh                  build when missing, print the binary's path
#   hack/install-versitygw.sh --print-binary   print the binary's path, build nothing
#
# TIERKEEPER_CACHE overrides ~/.cache/tierkeeper.
set -euo pipefail

version=v1.8.0
cache=${TIERKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tierkeeper}
bin="$cache/versitygw/$version/bin"

if [[ ${1-} == --print-binary ]]; then
  echo "$bin/versitygw"
  exit 0
fi

if [[ -x "$bin/versitygw" ]]; then
  echo "$bin/versitygw"
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "install-versitygw.sh: Go is not installed; versitygw is built from source with it" >&2
  exit 1
fi

mkdir -p "$bin"
staging=$(mktemp -d "$bin/../staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
exec 9>"$bin/../build.lock"
flock 9
if [[ ! -x "$bin/versitygw" ]]; then
  echo "install-versitygw.sh: building versitygw $version (from scratch: a few minutes on 2 cores)" >&2
  # Static, stripped, without local paths; the module's checksum is verified
  # against go.sum's database like any other module download.
  CGO_ENABLED=0 GOBIN="$staging" go install -trimpath -ldflags='-s -w' \
    "github.com/versity/versitygw/cmd/versitygw@$version"
  mv "$staging/versitygw" "$bin/versitygw"
fi
echo "$bin/versitygw"
