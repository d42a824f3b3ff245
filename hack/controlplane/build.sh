#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok) from the Go modules pinned beside this
# script into ~/.cache/tierkeeper/controlplane/<version>/bin, building only the
# binaries that are missing, and copies KWOK's default stages (node and pod
# lifecycle, volume provisioning) from the pinned module into <version>/kwok-stages.
# <version> is the Kubernetes version plus a digest of this script and the pins,
# so changing either builds into a fresh directory.
#
#   hack/controlplane/build.sh                  build what is missing, print the bin dir
#   hack/controlplane/build.sh --print-bin-dir  print the bin dir, build nothing
#
# TIERKEEPER_CACHE overrides ~/.cache/tierkeeper.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${TIERKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tierkeeper}
k8s_version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/kubernetes/go.mod")
pins=$(cat "$here"/build.sh "$here"/{kubernetes,etcd,kwok}/go.mod | sha256sum | cut -c1-10)
bin="$cache/controlplane/$k8s_version-$pins/bin"

if [[ ${1-} == --print-bin-dir ]]; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "build.sh: Go is not installed; the control plane is built from source with it" >&2
  exit 1
fi

mkdir -p "$bin"
staging=$(mktemp -d "$bin/../staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
# One build at a time per version (pytest and `tierkeeper dev` may both ask).
exec 9>"$bin/../build.lock"
flock 9

# Static binaries, no C toolchain needed, stripped; built without local paths.
export CGO_ENABLED=0
# Kubernetes' own build stamps these (hack/lib/version.sh); without them
# `kubectl version` and the API server's /version say v0.0.0-master.
minor=${k8s_version#v1.}
minor=${minor%%.*}
k8s_stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_stamp+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  k8s_stamp+=" -X $pkg.gitTreeState=clean"
done

# [stamp=LDFLAGS] build MODULE_DIR BINARY=PACKAGE...: one `go build` for all the
# missing binaries of a module (they share its compile cache), into the staging
# dir, then moved into place, so an interrupted build never leaves a truncated
# binary behind.
build() {
  local module=$1 out="$staging/$1" pairs=() packages=() pair
  local goflags=(-trimpath "-ldflags=-s -w${stamp-}")
  shift
  for pair in "$@"; do
    [[ -x "$bin/${pair%%=*}" ]] || pairs+=("$pair")
  done
  ((${#pairs[@]})) || return 0
  mkdir -p "$out"
  for pair in "${pairs[@]}"; do packages+=("${pair#*=}"); done
  echo "build.sh: building ${pairs[*]%%=*} (from scratch: about 15 minutes on 2 cores)" >&2
  if ((${#packages[@]} == 1)); then
    (cd "$here/$module" && go build "${goflags[@]}" -o "$out/${pairs[0]%%=*}" "${packages[0]}")
  else
    (cd "$here/$module" && go build "${goflags[@]}" -o "$out/" "${packages[@]}")
  fi
  for pair in "${pairs[@]}"; do mv "$out/${pair%%=*}" "$bin/"; done
}

stamp=$k8s_stamp build kubernetes \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
  kubectl=k8s.io/kubernetes/cmd/kubectl
build etcd etcd=go.etcd.io/etcd/server/v3
build kwok kwok=sigs.k8s.io/kwok/cmd/kwok

stages="$bin/../kwok-stages"
if [[ ! -d $stages ]]; then
  kwok_dir=$(cd "$here/kwok" && go mod download sigs.k8s.io/kwok && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  mkdir -p "$staging/kwok-stages"
  for set in node/fast node/heartbeat-with-lease pod/fast volume/fast; do
    cp "$kwok_dir/kustomize/stage/$set"/*.yaml "$staging/kwok-stages/"
  done
  rm -f "$staging/kwok-stages/kustomization.yaml"
  mv "$staging/kwok-stages" "$stages"
fi

echo "$bin"
