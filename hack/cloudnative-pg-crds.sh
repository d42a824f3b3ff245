#!/usr/bin/env bash
# Copies the CRDs of the CloudNativePG release pinned in hack/cloudnative-pg/go.mod
# (Cluster, ScheduledBackup) from its Go module into
# ~/.cache/tierkeeper/cloudnative-pg/<version>/crds, when missing, and prints that
# directory. The integration tests install them, so the API server validates our
# Clusters and ScheduledBackups against CloudNativePG's own schema.
#
# TIERKEEPER_CACHE overrides ~/.cache/tierkeeper.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/cloudnative-pg" && pwd)
cache=${TIERKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tierkeeper}
module=github.com/cloudnative-pg/cloudnative-pg
version=$(awk -v m="$module" '$2 == m { print $3 }' "$here/go.mod")
crds="$cache/cloudnative-pg/$version/crds"

if [[ ! -d $crds ]]; then
  if ! command -v go >/dev/null; then
    echo "cloudnative-pg-crds.sh: Go is not installed; the CRDs come from a Go module" >&2
    exit 1
  fi
  source_dir=$(cd "$here" && go mod download "$module" && go list -m -f '{{.Dir}}' "$module")
  mkdir -p "$(dirname "$crds")"
  staging=$(mktemp -d "$(dirname "$crds")/staging.XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  for kind in clusters scheduledbackups; do
    cp "$source_dir/config/crd/bases/postgresql.cnpg.io_$kind.yaml" "$staging/"
  done
  chmod 755 "$staging" && chmod 644 "$staging"/*.yaml
  mv "$staging" "$crds"
fi

echo "$crds"
