#!/usr/bin/env bash
# Usage: crds-from-module.sh NAME MODULE PATH...
#
# Copies the CRD files PATH... (relative to the module's root) of the Go module MODULE, at
# the version pinned in hack/NAME/go.mod, into ~/.cache/tierkeeper/NAME/<version>/crds when
# missing, and prints that directory. The integration tests install them, so the API
# server validates what we write against the project's own schema.
#
# TIERKEEPER_CACHE overrides ~/.cache/tierkeeper.
set -euo pipefail

name=$1 module=$2
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/$name" && pwd)
cache=${TIERKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tierkeeper}
version=$(awk -v m="$module" '$2 == m { print $3 }' "$here/go.mod")
crds="$cache/$name/$version/crds"

missing=()
for path in "$@"; do
  [[ -f $crds/$(basename "$path") ]] || missing+=("$path")
done

if ((${#missing[@]})); then
  if ! command -v go >/dev/null; then
    echo "crds-from-module.sh: Go is not installed; the $name CRDs come from a Go module" >&2
    exit 1
  fi
  source_dir=$(cd "$here" && go mod download "$module" && go list -m -f '{{.Dir}}' "$module")
  mkdir -p "$(dirname "$crds")"
  if [[ ! -d $crds ]]; then
    staging=$(mktemp -d "$(dirname "$crds")/staging.XXXXXX")
    trap 'rm -rf "$staging"' EXIT
    for path in "$@"; do
      cp "$source_dir/$path" "$staging/"
    done
    chmod 755 "$staging" && chmod 644 "$staging"/*.yaml
    mv "$staging" "$crds"
  else
    # A CRD asked for since the directory was made: added beside the others, each file
    # whole (renamed into place), so a reader never sees half of one.
    for path in "${missing[@]}"; do
      part="$crds/.$(basename "$path").part"
      cp "$source_dir/$path" "$part" && chmod 644 "$part"
      mv "$part" "$crds/$(basename "$path")"
    done
  fi
fi

echo "$crds"
