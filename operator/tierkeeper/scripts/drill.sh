#!/bin/sh
# tierkeeper drill: proves that the object store's latest backup restores. It
# restores that base backup and the archived WAL after it (object-store.sh,
# barman-cloud) into a scratch instance, waits until recovery has ended, checks
# what it restored (pg_amcheck on every database where the tool exists; a read
# of every table, which verifies every page's checksum where data checksums are
# on; row counts), then stops the instance and removes its files. The RTO is the
# time from the start until the scratch instance accepts writes.
#
# Runs in the database image (images/postgres/Dockerfile) as the server's user,
# in the drill CronJob's pod; the data tests run this very file against real
# PostgreSQL and real S3 servers.
#
# Usage: drill.sh   (no arguments; everything comes from the environment)
#
# Environment:
#   BACKUP_SERVER_NAME, BACKUP_PRIMARY_*, BACKUP_OFFSITE_*
#                           the stores, as object-store.sh reads them
#   PGUSER                  a superuser of the backed-up database (the scratch
#                           instance trusts local connections from its own
#                           socket only, so no password is needed)
#   DRILL_WORKDIR           where the scratch instance lives (a fresh directory
#                           below it is made, and removed at the end)
#   DRILL_TIMEOUT           seconds the restore and recovery may take (3600)
#   DRILL_OBJECT_STORE_SCRIPT  object-store.sh (default: beside this file)
#   DRILL_RESULT_FILE, DRILL_RESULT_CONFIGMAP, ...
#                           where drill_result.py writes the result
#
# Invariants:
# - Whatever happens (a failure, a signal), the scratch instance is stopped and
#   its directory removed before the result is written: the EXIT trap does it.
# - The scratch instance listens on no TCP port: only its own Unix socket, in
#   the scratch directory (mode 0700), so nothing else can reach the copy.
# - It never archives WAL: a restored copy must not write into the stores of
#   the database it came from.
# - The result's message names what failed and never holds a credential.
#
# Exit codes: 0 the drill passed; 1 it failed (the result says why); 2 bad
# configuration.

set -u
# Nothing here wants a glob; database names are split on new lines only.
set -f

here=$(cd "$(dirname "$0")" && pwd)
object_store=${DRILL_OBJECT_STORE_SCRIPT:-$here/object-store.sh}
timeout=${DRILL_TIMEOUT:-3600}
[ -n "${DRILL_WORKDIR:-}" ] || {
  echo "drill: DRILL_WORKDIR is not set" >&2
  exit 2
}
[ -n "${PGUSER:-}" ] || {
  echo "drill: PGUSER is not set" >&2
  exit 2
}

# shellcheck source=drill_checks.sh
. "$here/drill_checks.sh"

now() { date -u +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

started=$(now)
result=Failed
rto=""
message="the drill stopped before it finished"
scratch=""

cleanup() {
  [ -n "$scratch" ] || return 0
  if [ -f "$scratch/data/postmaster.pid" ]; then
    pg_ctl -D "$scratch/data" -m immediate -w -t 60 stop >/dev/null 2>&1
  fi
  rm -rf "$scratch"
}

finish() {
  trap - EXIT INT TERM HUP
  cleanup
  publish_result
}

fail() {
  message=$1
  exit 1
}

trap finish EXIT
trap 'message="the drill was interrupted by a signal"; exit 1' INT TERM HUP

scratch=$(mktemp -d "$DRILL_WORKDIR/drill.XXXXXX") || fail "cannot make a scratch directory in $DRILL_WORKDIR"
chmod 700 "$scratch"
data=$scratch/data

# 1. The latest base backup, from the primary store or else the off-site one.
if ! sh "$object_store" restore latest "$data" >"$scratch/restore.log" 2>&1; then
  fail "no base backup could be restored from the stores: $(tail -n 1 "$scratch/restore.log" | cut -c1-400)"
fi
chmod 700 "$data"
backup_time=$(sed -n 's/^START TIME: //p' "$data/backup_label" 2>/dev/null)

# 2. Recover to the end of the archived WAL, reachable only through a private socket.
printf '%s\n' "local all all trust" >"$scratch/pg_hba.conf"
cat >>"$data/postgresql.auto.conf" <<EOF
# tierkeeper drill
restore_command = 'sh $object_store restore-wal %f %p'
recovery_target_action = 'promote'
archive_mode = 'off'
EOF
touch "$data/recovery.signal"
export PGHOST="$scratch" PGPORT=5432
unset PGPASSWORD PGDATABASE PGSERVICE
options="-c listen_addresses='' -c unix_socket_directories='$scratch' -c port=5432"
options="$options -c hba_file='$scratch/pg_hba.conf' -c archive_mode=off -c ssl=off"
if ! pg_ctl -D "$data" -l "$scratch/server.log" -o "$options" -w -t "$timeout" start >/dev/null 2>&1; then
  fail "the restored backup did not start: $(last_line "$scratch/server.log" 'FATAL|PANIC')"
fi
deadline=$(($(date +%s) + timeout))
while :; do
  recovering=$(psql -X -A -t -d postgres -c "SELECT pg_is_in_recovery()" 2>/dev/null)
  [ "$recovering" = f ] && break
  if ! pg_ctl -D "$data" status >/dev/null 2>&1; then
    fail "recovery of the restored backup failed: $(last_line "$scratch/server.log" 'FATAL|PANIC')"
  fi
  [ "$(date +%s)" -lt "$deadline" ] || fail "recovery did not end within ${timeout}s"
  sleep 0.2
done
rto=$(seconds_since "$started")

check_restored

result=Passed
message="restored the latest base backup${backup_time:+ (taken $backup_time)} and its WAL in ${rto}s;"
message="$message $checked"
