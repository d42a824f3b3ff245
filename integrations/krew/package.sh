#!/usr/bin/env bash
# Builds the krew archive of `kubectl tierkeeper` and its manifest:
#
#   integrations/krew/package.sh VERSION URI HOMEPAGE
#
# writes dist/kubectl-tierkeeper-VERSION.tar.gz (the launcher and the licence) and
# dist/tierkeeper.yaml (the manifest with VERSION, URI, where the archive will be
# downloaded from, the project's HOMEPAGE and the archive's sha256). Upload the archive to URI, then propose
# the manifest to a krew index.
set -euo pipefail

usage="usage: package.sh VERSION URI HOMEPAGE"
version=${1:?$usage}
uri=${2:?$usage}
homepage=${3:?$usage}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dist=${DIST:-$root/dist}
mkdir -p "$dist"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT

cp "$here/kubectl-tierkeeper" "$staging/"
printf 'Apache-2.0: https://www.apache.org/licenses/LICENSE-2.0\n' > "$staging/LICENSE"
archive="$dist/kubectl-tierkeeper-$version.tar.gz"
# Fixed owner, order and times, so the same sources give the same sha256.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
  -C "$staging" -cf - kubectl-tierkeeper LICENSE | gzip -n > "$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)
sed -e "s|{{VERSION}}|$version|" -e "s|{{URI}}|$uri|" -e "s|{{HOMEPAGE}}|$homepage|" \
  -e "s|{{SHA256}}|$sha|" \
  "$here/tierkeeper.yaml" > "$dist/tierkeeper.yaml"
echo "$archive"
echo "$dist/tierkeeper.yaml"
