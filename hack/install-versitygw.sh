#!/usr/bin/env bash
# Builds versitygw (Versity's S3 gateway, Apache-2.0), the S3 server the data
# tests archive PostgreSQL's WAL and base backups to, from the Go module pinned
# here into ~/.cache/tierkeeper/versitygw/<version>/bin, only when missing. Its
# posix backend serves a plain directory, so each test region is a temp dir.
#
#   hack/install-versitygw.sh                  build when missing, print the binary's path
#   hack/install-versitygw.sh --print-binary   print the binary's path, build nothing
set -euo pipefail

exec bash "$(dirname "${BASH_SOURCE[0]}")/install-go-tool.sh" versitygw \
  github.com/versity/versitygw/cmd/versitygw v1.8.0 "$@"
