#!/bin/sh
# tierkeeper recover: a new database from another database's backups
# (postgres.bootstrap.recovery), run by the builtin StatefulSet's init container
# before PostgreSQL starts; the data tests run this very file.
#
# When PGDATA holds no database, it fetches the source's base backup (the latest
# one, or the latest one before RECOVERY_TARGET_TIME) through object-store.sh,
# replays the source's archived WAL up to the target (else to its end) with
# object-store.sh restore-wal as the restore_command, promotes, and stops.
# PostgreSQL then starts on it as a primary of its own.
#
# Environment:
#   PGDATA                  the data directory the server will run on
#   RECOVERY_TARGET_TIME    recover what was committed at or before it (optional)
#   POSTGRES_USER           the role whose password is set to POSTGRES_PASSWORD:
#   POSTGRES_PASSWORD       the new database's own credentials, not the source's
#   BACKUP_SERVER_NAME      the source's folder in its stores, and
#   BACKUP_PRIMARY_* (BACKUP_OFFSITE_*)  the source's stores, as object-store.sh takes them
#
# Invariants:
# - PGDATA appears only once the database is recovered and promoted: the work is
#   done beside it and renamed into place, so a pod restarted midway starts over
#   instead of running on half a restore (or on an empty, newly made database).
# - Nothing is ever written to the source's stores: archive_mode is off for as long
#   as the source's store settings are in use. The server archives later, with its
#   own settings, into its own folder; the new timeline's history file is left
#   marked for it to archive.
# - Credentials stay in the environment and in standard input, never in an argument.
#
# Exit codes: 0 recovered (or nothing to do); 1 the restore or the recovery failed;
# 2 bad configuration.

set -eu

die() {
  echo "recover: $*" >&2
  exit 2
}

[ -n "${PGDATA:-}" ] || die "PGDATA is not set"
[ -n "${POSTGRES_USER:-}" ] || die "POSTGRES_USER is not set"
[ -n "${POSTGRES_PASSWORD:-}" ] || die "POSTGRES_PASSWORD is not set"
store="$(cd "$(dirname "$0")" && pwd)/object-store.sh"
[ -r "$store" ] || die "$store not found"

if [ -s "$PGDATA/PG_VERSION" ]; then
  echo "recover: $PGDATA holds a database already: nothing to do"
  exit 0
fi
if [ -d "$PGDATA" ]; then
  rmdir "$PGDATA" 2>/dev/null || die "$PGDATA holds files but no database: not touched"
fi

work="$PGDATA.recovering"
rm -rf "$work"
if [ -n "${RECOVERY_TARGET_TIME:-}" ]; then
  echo "recover: the base backup of $BACKUP_SERVER_NAME before $RECOVERY_TARGET_TIME"
  sh "$store" restore auto "$work" --target-time "$RECOVERY_TARGET_TIME" || exit 1
else
  echo "recover: the latest base backup of $BACKUP_SERVER_NAME"
  sh "$store" restore latest "$work" || exit 1
fi
chmod 700 "$work"
{
  echo "# tierkeeper recover"
  echo "restore_command = 'sh $store restore-wal %f %p'"
  echo "recovery_target_action = 'promote'"
  echo "archive_mode = 'off'"
  if [ -n "${RECOVERY_TARGET_TIME:-}" ]; then
    echo "recovery_target_time = '$RECOVERY_TARGET_TIME'"
  fi
} >>"$work/postgresql.auto.conf"
touch "$work/recovery.signal"

sockets=$(mktemp -d)
log="$work.log"
: >"$log"
pg_ctl --pgdata "$work" --log "$log" --no-wait \
  --options "-c listen_addresses='' -c unix_socket_directories='$sockets'" start >/dev/null
# Recovery ends in promotion (the target, or the end of the archived WAL, was
# reached) or the server stops (e.g. the target is past the archived WAL). A
# server not running for 5 checks in a row has stopped (the first ones may come
# before it has written its pid file).
down=0
while :; do
  # The base backup's own control file says "in production" until the server
  # starts recovering; the server removes recovery.signal when recovery ends.
  state=$(pg_controldata "$work" | sed -n 's/^Database cluster state: *//p')
  if [ ! -e "$work/recovery.signal" ] && [ "$state" = "in production" ]; then break; fi
  if pg_ctl --pgdata "$work" status >/dev/null 2>&1; then down=0; else down=$((down + 1)); fi
  if [ "$down" -ge 5 ]; then
    cat "$log" >&2
    echo "recover: the recovery stopped before it reached its target (state: $state)" >&2
    exit 1
  fi
  sleep 1
done
pg_ctl --pgdata "$work" --mode fast --wait stop >/dev/null
cat "$log"
rm -f "$log"
rmdir "$sockets"

# The source's recovery settings go, and the role gets this database's password.
# Single-user mode needs no login, whatever the source's pg_hba.conf allows.
password=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
role=$(printf '%s' "$POSTGRES_USER" | sed 's/"/""/g')
printf '%s\n' \
  "ALTER SYSTEM RESET restore_command;" \
  "ALTER SYSTEM RESET recovery_target_action;" \
  "ALTER SYSTEM RESET recovery_target_time;" \
  "ALTER SYSTEM RESET archive_mode;" \
  "ALTER ROLE \"$role\" PASSWORD '$password';" |
  postgres --single -D "$work" -c archive_mode=off -c log_min_messages=warning postgres >/dev/null

# The new timeline's history file, for the server to archive into its own folder.
# (Timeline IDs are fixed-width hex: the glob's order is theirs.)
history=""
for file in "$work"/pg_wal/*.history; do
  if [ -e "$file" ]; then history=${file##*/}; fi
done
if [ -n "$history" ] && [ ! -e "$work/pg_wal/archive_status/$history.done" ]; then
  touch "$work/pg_wal/archive_status/$history.ready"
fi

mv "$work" "$PGDATA"
echo "recover: $PGDATA recovered from $BACKUP_SERVER_NAME and promoted"
