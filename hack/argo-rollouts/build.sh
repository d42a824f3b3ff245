#!/usr/bin/env bash
# Builds the Argo Rollouts controller (the bench's peer, bench/peer.py) from the Go
# module pinned beside this script into ~/.cache/tierkeeper/argo-rollouts/<version>/bin,
# only when it is missing, and copies the pinned module's CRDs into <version>/crds.
# <version> is the Argo Rollouts version plus a digest of this script and the pins,
# so changing either builds into a fresh directory.
#
#   hack/argo-rollouts/build.sh                  build if missing, print the version dir
#   hack/argo-rollouts/build.sh --print-dir      print the version dir, build nothing
#
# TIERKEEPER_CACHE overrides ~/.cache/tierkeeper.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${TIERKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tierkeeper}
module=github.com/argoproj/argo-rollouts
version=$(awk -v m="$module" '$1 == m { print $2 }' "$here/go.mod")
pins=$(cat "$here"/build.sh "$here"/go.mod | sha256sum | cut -c1-10)
dir="$cache/argo-rollouts/$version-$pins"

if [[ ${1-} == --print-dir ]]; then
  echo "$dir"
  exit 0
fi
if [[ -x $dir/bin/rollouts-controller && -d $dir/crds ]]; then
  echo "$dir"
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "build.sh: Go is not installed; the Argo Rollouts controller is built from source with it" >&2
  exit 1
fi

# The pinned release requires the Go of go.mod's `go` line: `auto` lets an older local Go
# fetch that toolchain as a module, like any other dependency (a newer one is used as is).
export GOTOOLCHAIN=auto
export CGO_ENABLED=0

mkdir -p "$dir"
exec 9>"$dir/build.lock"
flock 9
staging=$(mktemp -d "$dir/staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT

if [[ ! -x $dir/bin/rollouts-controller ]]; then
  echo "build.sh: building rollouts-controller $version (from scratch: about 15 minutes on 2 cores)" >&2
  (cd "$here" && go build -trimpath -ldflags="-s -w" -o "$staging/rollouts-controller" \
    "$module/cmd/rollouts-controller")
  mkdir -p "$dir/bin"
  mv "$staging/rollouts-controller" "$dir/bin/"
fi

if [[ ! -d $dir/crds ]]; then
  src=$(cd "$here" && go mod download "$module" && go list -m -f '{{.Dir}}' "$module")
  mkdir -p "$staging/crds"
  cp "$src"/manifests/crds/*-crd.yaml "$staging/crds/"
  mv "$staging/crds" "$dir/crds"
fi

echo "$dir"
