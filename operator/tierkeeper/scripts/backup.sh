#!/bin/sh
# tierkeeper backup: one verified `pg_dump -Fc` of a database into BACKUP_DIR,
# then pruning of the dumps older than RETENTION_DAYS.
#
# Runs in the CronJob `<env>-postgres-backup` (postgres image, POSIX sh); the
# data tests run this very file against a real PostgreSQL.
#
# Usage: backup.sh           dump, verify, publish, then prune
#        backup.sh prune     prune only (e.g. after lowering RETENTION_DAYS)
#
# Environment:
#   PGHOST PGPORT PGUSER PGPASSWORD  standard libpq connection settings
#   PGDATABASE       database to dump (required: it names the dump files)
#   BACKUP_DIR       directory the dumps live in (the mounted backup volume)
#   RETENTION_DAYS   dumps older than this many days are pruned (integer >= 1)
#   TIERKEEPER_NOW   optional clock override, epoch seconds (tests)
#
# Files: a dump is `<db>-YYYYmmddTHHMMSSZ.dump` (UTC). It is written as
# `.<db>-<stamp>.partial.<pid>`, checked with `pg_restore --list`, and only then
# renamed to its final name, so a file with the final name is always complete.
# A temporary file is removed on exit or signal; one left behind by SIGKILL
# never matches the dump pattern and is removed by the next run. Pruning only
# ever touches regular files matching `<db>-<stamp>.dump`, judges their age by
# the stamp in the name, and never removes the newest one. A failed dump
# prunes nothing.
#
# Exit codes:
#   0  dump written, verified, old dumps pruned
#   2  bad usage or configuration (environment variable missing or invalid,
#      BACKUP_DIR unusable)
#   3  pg_dump failed (nothing written, nothing pruned)
#   4  the dump did not verify (nothing kept, nothing pruned)
#   5  the verified dump could not be moved into place (nothing pruned)
#   6  the new dump is safe, but pruning old dumps failed
#   128+N  stopped by signal N (nothing kept, nothing pruned)
#
# The last line on stdout is the path of the new dump.

set -eu

log() { printf 'tierkeeper-backup: %s\n' "$*" >&2; }
die() {
	code=$1
	shift
	log "error: $*"
	exit "$code"
}

is_uint() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	*) return 0 ;;
	esac
}

# --- configuration ----------------------------------------------------------
mode=${1:-backup}
case $mode in
backup | prune) ;;
*) die 2 "unknown argument '$mode' (usage: backup.sh [prune])" ;;
esac

[ -n "${BACKUP_DIR:-}" ] || die 2 "BACKUP_DIR is not set"
[ -n "${PGDATABASE:-}" ] || die 2 "PGDATABASE is not set"
[ -n "${RETENTION_DAYS:-}" ] || die 2 "RETENTION_DAYS is not set"
if ! is_uint "$RETENTION_DAYS" || [ "$RETENTION_DAYS" -lt 1 ]; then
	die 2 "RETENTION_DAYS must be a whole number of days >= 1, got '$RETENTION_DAYS'"
fi
[ -d "$BACKUP_DIR" ] || die 2 "BACKUP_DIR '$BACKUP_DIR' is not a directory"
[ -w "$BACKUP_DIR" ] || die 2 "BACKUP_DIR '$BACKUP_DIR' is not writable"

now=${TIERKEEPER_NOW:-$(date -u +%s)}
is_uint "$now" || die 2 "TIERKEEPER_NOW must be epoch seconds, got '$now'"

# Database names may hold any character; file names keep a safe subset, and
# every other byte (of the UTF-8 name) becomes `_`.
prefix=$(printf '%s' "$PGDATABASE" | LC_ALL=C tr -c 'A-Za-z0-9_.-' '_')

# UTC stamp of an epoch: YYYYmmddTHHMMSSZ (GNU date and busybox date agree on -d @N).
stamp_of() { date -u -d "@$1" +%Y%m%dT%H%M%SZ; }
# A stamp as a 14-digit number that orders like time: YYYYmmddHHMMSS.
stamp_number() { printf '%s' "$1" | tr -d 'TZ'; }

stamp=$(stamp_of "$now") || die 2 "cannot format the time $now"

# --- dump, verify, publish -----------------------------------------------------
dump_pid=
tmp=
cleanup() {
	if [ -n "$dump_pid" ]; then
		kill "$dump_pid" 2>/dev/null || true
		wait "$dump_pid" 2>/dev/null || true
	fi
	if [ -n "$tmp" ]; then rm -f -- "$tmp"; fi
}

dump() {
	final="$BACKUP_DIR/$prefix-$stamp.dump"
	tmp="$BACKUP_DIR/.$prefix-$stamp.partial.$$"

	# Left by an earlier run killed mid-dump. (The CronJob's concurrencyPolicy
	# is Forbid, so no other run is writing.)
	for stale in "$BACKUP_DIR/.$prefix-"*.partial.*; do
		[ -f "$stale" ] || continue
		log "removing $(basename "$stale") left by an interrupted run"
		rm -f -- "$stale"
	done

	trap cleanup EXIT
	trap 'log "stopped by SIGTERM"; exit 143' TERM
	trap 'log "stopped by SIGINT"; exit 130' INT
	trap 'log "stopped by SIGHUP"; exit 129' HUP

	umask 077
	log "dumping database '$PGDATABASE' to $(basename "$final")"
	# In the background, so that a signal interrupts `wait` and the trap runs at once.
	pg_dump --format=custom --no-password --file="$tmp" &
	dump_pid=$!
	rc=0
	wait "$dump_pid" || rc=$?
	dump_pid=
	[ "$rc" -eq 0 ] || die 3 "pg_dump failed with exit code $rc; no dump written, nothing pruned"

	listing=$(pg_restore --list "$tmp") ||
		die 4 "pg_restore --list cannot read the new dump; nothing kept, nothing pruned"
	# (An empty database dumps to a valid archive with no entries: that is fine.)
	entries=$(printf '%s\n' "$listing" | grep -c '^[0-9]' || true)
	sync "$tmp" 2>/dev/null || sync
	mv -f -- "$tmp" "$final" || die 5 "cannot move the verified dump to $final; nothing pruned"
	tmp=
	size=$(wc -c <"$final" | tr -d ' ')
	log "verified $(basename "$final"): $entries archive entries, $size bytes"
}

# --- prune -------------------------------------------------------------------
# The stamp of one of our dumps as a number, or failure for any other file.
dump_number() {
	case $1 in
	"$prefix"-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.dump) ;;
	*) return 1 ;;
	esac
	[ -f "$BACKUP_DIR/$1" ] && [ ! -L "$BACKUP_DIR/$1" ] || return 1
	n=${1#"$prefix"-}
	stamp_number "${n%.dump}"
}

prune() {
	cutoff=$(stamp_number "$(stamp_of $((now - RETENTION_DAYS * 86400)))")
	# (Called under `||`, where `set -e` is off: check what everything hangs on.)
	is_uint "$cutoff" || {
		log "cannot compute the retention cutoff"
		return 1
	}
	newest=0
	for f in "$BACKUP_DIR/$prefix"-*.dump; do
		n=$(dump_number "$(basename "$f")") || continue
		if [ "$n" -gt "$newest" ]; then newest=$n; fi
	done

	pruned=0
	prune_failed=0
	for f in "$BACKUP_DIR/$prefix"-*.dump; do
		name=$(basename "$f")
		n=$(dump_number "$name") || continue
		if [ "$n" -ge "$cutoff" ]; then continue; fi
		if [ "$n" -eq "$newest" ]; then
			log "keeping $name: older than $RETENTION_DAYS days, but the newest dump"
			continue
		fi
		if rm -f -- "$f"; then
			log "pruned $name (older than $RETENTION_DAYS days)"
			pruned=$((pruned + 1))
		else
			log "cannot remove $name"
			prune_failed=1
		fi
	done
	[ "$prune_failed" -eq 0 ] || return 1
	log "pruned $pruned dump(s) older than $RETENTION_DAYS days"
}

if [ "$mode" = prune ]; then
	prune || die 6 "pruning old dumps failed"
	exit 0
fi
dump
prune || die 6 "the new dump $final is safe, but pruning old dumps failed"
printf '%s\n' "$final"
