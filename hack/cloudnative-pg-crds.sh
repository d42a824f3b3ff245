#!/usr/bin/env bash
# The CRDs of the CloudNativePG release pinned in hack/cloudnative-pg/go.mod (Cluster,
# ScheduledBackup, Backup), from its Go module; prints their directory (see crds-from-module.sh).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/crds-from-module.sh" cloudnative-pg \
  github.com/cloudnative-pg/cloudnative-pg \
  config/crd/bases/postgresql.cnpg.io_clusters.yaml \
  config/crd/bases/postgresql.cnpg.io_scheduledbackups.yaml \
  config/crd/bases/postgresql.cnpg.io_backups.yaml
