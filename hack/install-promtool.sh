#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit-test runner, Apache-2.0),
# which tests/tools runs on manifests/monitoring/, from the Go module pinned here
# into ~/.cache/tierkeeper/promtool/<version>/bin, only when missing: the alerts are
# tested by the Prometheus release pinned here, whatever the distribution ships.
#
#   hack/install-promtool.sh                  build when missing, print the binary's path
#   hack/install-promtool.sh --print-binary   print the binary's path, build nothing
set -euo pipefail

# Prometheus 3.x's Go module versions are v0.<minor>.<patch> (v0.316.0 is Prometheus 3.16.0).
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-go-tool.sh" promtool \
  github.com/prometheus/prometheus/cmd/promtool v0.316.0 "$@"
