#!/bin/sh
# tierkeeper drill check (CloudNativePG): checks the scratch Cluster that the
# operator bootstrapped from the Environment's object store (bootstrap.recovery)
# and that CloudNativePG reports Ready, with the same checks as drill.sh
# (drill_checks.sh), then writes the result like drill.sh does. The RTO is the
# time from the drill's start (the scratch Cluster's creation) to the checks'
# end.
#
# Runs in CloudNativePG's image, in the check Job's pod, whose labels only the
# scratch Cluster's NetworkPolicy admits: it never reaches the live database.
#
# Environment:
#   PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSSLMODE
#                           the scratch Cluster's read-write service and superuser
#   DRILL_STARTED_AT        the drill's start, in seconds since the epoch
#   DRILL_RESULT_CONFIGMAP, ...
#                           where drill_result.py writes the result
#
# Exit codes: 0 the drill passed; 1 it failed (the result says why).

set -u
set -f

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=drill_checks.sh
. "$here/drill_checks.sh"

result=Failed
rto=""
message="the check stopped before it finished"
scratch=$(mktemp -d) || exit 1

finish() {
  trap - EXIT INT TERM HUP
  rm -rf "$scratch"
  publish_result
}

fail() {
  message=$1
  exit 1
}

trap finish EXIT
trap 'message="the check was interrupted by a signal"; exit 1' INT TERM HUP

check_restored
rto=$(($(date -u +%s) - ${DRILL_STARTED_AT:-0}))
result=Passed
message="restored the latest base backup and its WAL into a scratch Cluster, Ready and checked ${rto}s after the drill began; $checked"
