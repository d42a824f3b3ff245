#!/usr/bin/env bash
# Builds one command of a Go module, at the version pinned by its caller, into
# ~/.cache/tierkeeper/<name>/<version>/bin, only when missing (hack/install-versitygw.sh).
#
#   hack/install-go-tool.sh NAME PACKAGE VERSION                 build when missing, print the binary's path
#   hack/install-go-tool.sh NAME PACKAGE VERSION --print-binary  print the binary's path, build nothing
#
# TIERKEEPER_CACHE overrides ~/.cache/tierkeeper.
set -euo pipefail

name=$1 package=$2 version=$3
cache=${TIERKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tierkeeper}
bin="$cache/$name/$version/bin"

if [[ ${4-} == --print-binary || -x "$bin/$name" ]]; then
  echo "$bin/$name"
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "install-go-tool.sh: Go is not installed; $name is built from source with it" >&2
  exit 1
fi

mkdir -p "$bin"
staging=$(mktemp -d "$bin/../staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
# One build at a time per version (pytest and make may both ask).
exec 9>"$bin/../build.lock"
flock 9
if [[ ! -x "$bin/$name" ]]; then
  echo "install-go-tool.sh: building $name $version (from scratch: minutes on 2 cores)" >&2
  # Static, stripped, without local paths; the module's checksum is verified
  # against go.sum's database like any other module download.
  CGO_ENABLED=0 GOBIN="$staging" go install -trimpath -ldflags='-s -w' "$package@$version"
  mv "$staging/$name" "$bin/$name"
fi
echo "$bin/$name"
