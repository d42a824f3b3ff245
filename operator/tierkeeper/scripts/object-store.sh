#!/bin/sh
# tierkeeper object store: PostgreSQL's WAL archive and base backups in S3
# object stores, through barman-cloud, for a primary store and an optional
# off-site one (another region).
#
# Runs in the postgres container (archive_command, restore_command), in the
# base-backup sidecar and in the off-site mirror's CronJob (POSIX sh); the data
# tests run this very file against real PostgreSQL and real S3 servers.
#
# Usage:
#   object-store.sh archive-wal WAL_PATH       archive_command = '... archive-wal %p'
#   object-store.sh restore-wal WAL_NAME DEST  restore_command = '... restore-wal %f %p'
#   object-store.sh base-backup [OPTION...]    a base backup into every store (options go
#                                              to barman-cloud-backup, e.g.
#                                              --immediate-checkpoint; the default is a
#                                              spread checkpoint, gentle on the server)
#   object-store.sh prune                      apply the retention policy in every store
#   object-store.sh mirror                     copy what the primary store holds of this
#                                              database into the off-site store (rclone),
#                                              then apply the retention policy there: the
#                                              off-site copy of a database whose archiver
#                                              writes to one store only (CloudNativePG)
#   object-store.sh scheduled "M H DOM MON DOW"
#                                              forever: at each minute the (numeric)
#                                              cron line matches, base-backup, then prune
#   object-store.sh cron-matches "M H DOM MON DOW" "M H DOM MON DOW"
#                                              exit 0 when the time (2nd) matches the line
#   object-store.sh restore BACKUP_ID DIR [OPTION...]
#                                              a base backup into DIR; BACKUP_ID may be
#                                              `latest`, or `auto` with --target-time T
#
# Environment (per store SLOT, PRIMARY and, optionally, OFFSITE):
#   BACKUP_<SLOT>_URL                 s3://bucket/path-prefix (required for PRIMARY;
#                                     OFFSITE is used only when set)
#   BACKUP_<SLOT>_ENDPOINT            S3 endpoint URL (optional: AWS's own)
#   BACKUP_<SLOT>_REGION              region (optional)
#   BACKUP_<SLOT>_ACCESS_KEY_ID       credentials, from the store's Secret
#   BACKUP_<SLOT>_SECRET_ACCESS_KEY
#   BACKUP_<SLOT>_CA_BUNDLE           path of a CA bundle file (optional)
#   BACKUP_SERVER_NAME                the folder of this database in the stores
#   BACKUP_RETENTION                  e.g. `RECOVERY WINDOW OF 7 DAYS` (prune, mirror)
#   PGHOST PGPORT PGUSER PGPASSWORD   libpq settings for base-backup
#
# Invariants:
# - Credentials reach barman-cloud and rclone through their environment only,
#   never through a process argument (a subshell exports them, then execs the tool).
# - archive-wal succeeds only when every configured store holds the segment:
#   PostgreSQL keeps a segment until its archive_command succeeds, so no
#   segment is recycled before the off-site copy has it, and a store outage
#   leaves the backlog in pg_wal rather than losing it.
# - restore-wal and restore read the primary store first and fall back to the
#   off-site one, so either store alone is enough to restore.
# - mirror only ever adds to the off-site store (`rclone copy`, never `sync`), and
#   overwrites nothing there but a backup's backup.info: a wiped or encrypted
#   primary cannot wipe the off-site copy, nor touch its WAL or backup data. Only
#   barman-cloud's retention deletes there, as in the primary.
#
# Exit codes: 0 done; 1 a store (or barman-cloud) failed; 2 bad usage or
# configuration.

set -eu
# Cron lines hold `*`: nothing here ever wants a glob.
set -f

die() {
  echo "object-store: $*" >&2
  exit 2
}

slots() {
  echo PRIMARY
  if [ -n "${BACKUP_OFFSITE_URL:-}" ]; then echo OFFSITE; fi
}

# read_store SLOT: SLOT's settings into url, key, secret, endpoint, region, ca_bundle.
read_store() {
  eval "url=\${BACKUP_${1}_URL:-}"
  [ -n "$url" ] || die "BACKUP_${1}_URL is not set"
  eval "key=\${BACKUP_${1}_ACCESS_KEY_ID:-}"
  eval "secret=\${BACKUP_${1}_SECRET_ACCESS_KEY:-}"
  eval "endpoint=\${BACKUP_${1}_ENDPOINT:-}"
  eval "region=\${BACKUP_${1}_REGION:-}"
  eval "ca_bundle=\${BACKUP_${1}_CA_BUNDLE:-}"
}

# with_store SLOT COMMAND [ARGS...]: run a barman-cloud COMMAND against SLOT's
# store as `COMMAND [--endpoint-url E] ARGS...`, its credentials in the environment.
with_store() {
  slot=$1
  command=$2
  shift 2
  read_store "$slot"
  (
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION AWS_CA_BUNDLE
    if [ -n "$key" ]; then export AWS_ACCESS_KEY_ID="$key"; fi
    if [ -n "$secret" ]; then export AWS_SECRET_ACCESS_KEY="$secret"; fi
    if [ -n "$region" ]; then export AWS_DEFAULT_REGION="$region"; fi
    if [ -n "$ca_bundle" ]; then export AWS_CA_BUNDLE="$ca_bundle"; fi
    if [ -n "$endpoint" ]; then
      exec "$command" --endpoint-url "$endpoint" "$@"
    fi
    exec "$command" "$@"
  )
}

# The one object barman-cloud writes twice: a base backup's backup.info (STARTED
# when the backup begins, DONE when its data is all uploaded). Everything else it
# writes (WAL segments, histories, backup data) is written once.
BACKUP_INFO=/base/*/backup.info

# rclone_copy OPTION...: `rclone copy OPTION... primary:FOLDER offsite:FOLDER` for this
# database's folder in each store. The remotes exist only in rclone's environment
# (RCLONE_CONFIG_<REMOTE>_*, from the BACKUP_<SLOT>_* variables): no config file, no
# credential in an argument.
rclone_copy() {
  (
    # rclone's S3 SDK reads AWS_CA_BUNDLE itself, and fails on it: its CA is --ca-cert.
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION AWS_CA_BUNDLE
    export RCLONE_CONFIG=/dev/null
    for slot in PRIMARY OFFSITE; do
      read_store "$slot"
      export "RCLONE_CONFIG_${slot}_TYPE=s3"
      export "RCLONE_CONFIG_${slot}_ACCESS_KEY_ID=$key"
      export "RCLONE_CONFIG_${slot}_SECRET_ACCESS_KEY=$secret"
      # The buckets exist: credentials that may not create one must still copy.
      export "RCLONE_CONFIG_${slot}_NO_CHECK_BUCKET=true"
      if [ -n "$endpoint" ]; then
        export "RCLONE_CONFIG_${slot}_PROVIDER=Other" "RCLONE_CONFIG_${slot}_ENDPOINT=$endpoint"
      else
        export "RCLONE_CONFIG_${slot}_PROVIDER=AWS"
      fi
      if [ -n "$region" ]; then export "RCLONE_CONFIG_${slot}_REGION=$region"; fi
    done
    if [ -n "$ca_file" ]; then export RCLONE_CA_CERT="$ca_file"; fi
    exec rclone copy --verbose --stats-one-line "$@" \
      "primary:${BACKUP_PRIMARY_URL#s3://}/$server" "offsite:${BACKUP_OFFSITE_URL#s3://}/$server"
  )
}

# field_matches FIELD VALUE MIN: VALUE is in one numeric cron field (`*`, `n`, `a-b`,
# each with an optional `/step`, comma-separated), whose smallest value is MIN.
field_matches() {
  for part in $(echo "$1" | tr ',' ' '); do
    step=1
    case "$part" in */*)
      step=${part#*/}
      part=${part%/*}
      ;;
    esac
    case "$part" in
      '*') low=$3 high=99 ;;
      *-*) low=${part%-*} high=${part#*-} ;;
      *)
        low=$part high=$part
        if [ "$step" -ne 1 ]; then high=99; fi
        ;;
    esac
    if [ "$2" -ge "$low" ] && [ "$2" -le "$high" ] && [ $(($2 - low)) -ge 0 ] &&
      [ $((($2 - low) % step)) -eq 0 ]; then
      return 0
    fi
  done
  return 1
}

# cron_matches "M H DOM MON DOW" M H DOM MON DOW: cron's rule, including that a
# restricted day of month and day of week match when either does (7 is Sunday too).
cron_matches() {
  # shellcheck disable=SC2086 # splitting the line into its five fields
  set -- $1 "$2" "$3" "$4" "$5" "$6"
  field_matches "$1" "$6" 0 && field_matches "$2" "$7" 0 && field_matches "$4" "$9" 1 || return 1
  dow=$5
  if [ "$dow" != "${dow#*7}" ]; then dow="$dow,0"; fi
  if [ "$3" != "*" ] && [ "$5" != "*" ]; then
    field_matches "$3" "$8" 1 || field_matches "$dow" "${10}" 0
  else
    field_matches "$3" "$8" 1 && field_matches "$dow" "${10}" 0
  fi
}

if [ "${1:-}" = cron-matches ]; then
  [ $# -eq 3 ] || die "usage: object-store.sh cron-matches LINE TIME"
  # shellcheck disable=SC2086 # the time's five fields
  cron_matches "$2" $3
  exit
fi

server=${BACKUP_SERVER_NAME:-}
[ -n "$server" ] || die "BACKUP_SERVER_NAME is not set"
[ $# -ge 1 ] || die "usage: object-store.sh archive-wal|restore-wal|base-backup|prune|mirror|restore ..."
action=$1
shift

case "$action" in
  archive-wal)
    [ $# -eq 1 ] || die "usage: object-store.sh archive-wal WAL_PATH"
    for slot in $(slots); do
      eval "url=\$BACKUP_${slot}_URL"
      with_store "$slot" barman-cloud-wal-archive --gzip "$url" "$server" "$1" || exit 1
    done
    ;;
  restore-wal)
    [ $# -eq 2 ] || die "usage: object-store.sh restore-wal WAL_NAME DEST"
    for slot in $(slots); do
      eval "url=\$BACKUP_${slot}_URL"
      if with_store "$slot" barman-cloud-wal-restore "$url" "$server" "$1" "$2"; then exit 0; fi
    done
    exit 1
    ;;
  base-backup)
    # Every store gets its own backup, even when an earlier one failed.
    status=0
    for slot in $(slots); do
      eval "url=\$BACKUP_${slot}_URL"
      with_store "$slot" barman-cloud-backup "$@" "$url" "$server" || status=1
    done
    exit "$status"
    ;;
  prune)
    [ $# -eq 0 ] || die "usage: object-store.sh prune"
    [ -n "${BACKUP_RETENTION:-}" ] || die "BACKUP_RETENTION is not set"
    status=0
    for slot in $(slots); do
      eval "url=\$BACKUP_${slot}_URL"
      with_store "$slot" barman-cloud-backup-delete --retention-policy "$BACKUP_RETENTION" \
        "$url" "$server" || status=1
    done
    exit "$status"
    ;;
  mirror)
    [ $# -eq 0 ] || die "usage: object-store.sh mirror"
    [ -n "${BACKUP_RETENTION:-}" ] || die "BACKUP_RETENTION is not set"
    # rclone takes one CA file for both remotes and then trusts nothing else: the
    # system's roots (a store on a public endpoint) and each store's own bundle.
    ca_file=""
    for slot in PRIMARY OFFSITE; do
      read_store "$slot"
      if [ -n "$ca_bundle" ] && [ -z "$ca_file" ]; then
        ca_file=$(mktemp)
        trap 'rm -f "$ca_file"' EXIT
        cat /etc/ssl/certs/ca-certificates.crt >"$ca_file" 2>/dev/null || :
      fi
      if [ -n "$ca_bundle" ]; then cat "$ca_bundle" >>"$ca_file"; fi
    done
    # backup.info first, then everything else: a backup.info copied as DONE had all its
    # data in the primary before the second copy lists it, so a copy that succeeds
    # leaves no DONE backup without its data. backup.info alone may replace its older
    # copy (STARTED becomes DONE); anything else already off-site is left as it is.
    rclone_copy --include "$BACKUP_INFO" || exit 1
    rclone_copy --ignore-existing --exclude "$BACKUP_INFO" || exit 1
    # Retention only after a whole copy, by the primary's policy: a primary that cannot
    # be read leaves the off-site copy as it was. What it prunes that the primary still
    # holds, the next copy brings back, until the primary's own retention prunes it too.
    with_store OFFSITE barman-cloud-backup-delete --retention-policy "$BACKUP_RETENTION" \
      "$BACKUP_OFFSITE_URL" "$server" || exit 1
    echo "object-store: off-site copy done"
    ;;
  scheduled)
    [ $# -eq 1 ] || die "usage: object-store.sh scheduled \"M H DOM MON DOW\""
    line=$1
    last=""
    while :; do
      # shellcheck disable=SC2046 # the five fields of the time
      set -- $(date -u '+%M %H %d %m %w')
      now="${1#0} ${2#0} ${3#0} ${4#0} $5"
      # shellcheck disable=SC2086 # the time's five fields
      if [ "$now" != "$last" ] && cron_matches "$line" $now; then
        last=$now
        # Pruning only after a base backup succeeded: never leave fewer backups behind.
        if sh "$0" base-backup && sh "$0" prune; then
          echo "object-store: scheduled base backup done"
        else
          echo "object-store: scheduled base backup failed" >&2
        fi
      fi
      sleep 15
    done
    ;;
  restore)
    [ $# -ge 2 ] || die "usage: object-store.sh restore BACKUP_ID DIR [OPTION...]"
    backup_id=$1
    dir=$2
    shift 2
    for slot in $(slots); do
      eval "url=\$BACKUP_${slot}_URL"
      if with_store "$slot" barman-cloud-restore "$@" "$url" "$server" "$backup_id" "$dir"; then
        exit 0
      fi
    done
    exit 1
    ;;
  *)
    die "unknown action: $action"
    ;;
esac
