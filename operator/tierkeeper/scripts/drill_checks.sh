# tierkeeper drill checks: what every drill runs on the database it restored,
# sourced (with $here set to this directory) by drill.sh (builtin: a scratch instance on a private socket) and by
# drill_check.sh (CloudNativePG: a scratch Cluster reached over TCP). One copy,
# so both kinds of drill check the same things.
#
# check_restored: pg_amcheck (heap and B-tree) on every database where the tool
# exists; a full read of every table of every database, which verifies every
# page's checksum where data checksums are on; row counts. Connects as libpq's
# environment says (PGHOST, PGPORT, PGUSER, PGPASSWORD), writes its scratch
# files below $scratch, calls `fail MESSAGE` on the first problem, and sets
# $checked to a summary for the result's message.
#
# Invariant: the checks only read (pg_amcheck --install-missing adds the amcheck
# extension to the restored copy, never to the live database).

newline='
'

# last_line FILE PATTERN: the last line of FILE matching PATTERN, for messages.
last_line() { grep -E "$2" "$1" 2>/dev/null | tail -n 1 | cut -c1-400; }

# publish_result: logs $result and $message, hands them and $rto to drill_result.py
# (beside this file), and exits 0 if the drill passed, else 1.
publish_result() {
  echo "drill: $result: $message"
  DRILL_FINISHED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ) DRILL_RESULT=$result \
    DRILL_RTO_SECONDS=$rto DRILL_MESSAGE=$message python3 "$here/drill_result.py" || exit 1
  [ "$result" = Passed ] || exit 1
  exit 0
}

check_restored() {
  # Integrity: pg_amcheck (heap and B-tree) on every database, where the tool exists.
  databases=$(psql -X -A -t -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1")
  if command -v pg_amcheck >/dev/null 2>&1; then
    if ! pg_amcheck --all --install-missing >"$scratch/amcheck.log" 2>&1; then
      fail "pg_amcheck found corruption in the restored backup: $(grep -v '^ *$' "$scratch/amcheck.log" | head -n 2 | tr -s ' \n' '  ' | cut -c1-400)"
    fi
    amcheck="pg_amcheck found no corruption"
  else
    amcheck="pg_amcheck is not installed, no structural check"
  fi

  # A full read of every table of every database (no index may stand in for the heap),
  # which also verifies each page's checksum where data checksums are on.
  checksums=$(psql -X -A -t -d postgres -c "SHOW data_checksums")
  tables=0
  rows=0
  list_tables="SELECT format('SELECT count(*) FROM ONLY %I.%I;', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm') AND n.nspname <> 'information_schema'
    AND n.nspname NOT LIKE 'pg\_%' ORDER BY 1"
  IFS=$newline
  for database in $databases; do
    if ! psql -X -A -t -v ON_ERROR_STOP=1 -d "$database" -c "$list_tables" >"$scratch/tables.sql" 2>"$scratch/read.log" ||
      ! PGOPTIONS="-c enable_indexscan=off -c enable_indexonlyscan=off -c enable_bitmapscan=off" \
        psql -X -A -t -v ON_ERROR_STOP=1 -d "$database" -f "$scratch/tables.sql" >"$scratch/counts" 2>>"$scratch/read.log"; then
      fail "reading database $database of the restored backup failed: $(last_line "$scratch/read.log" 'ERROR|FATAL')"
    fi
    tables=$((tables + $(wc -l <"$scratch/tables.sql")))
    rows=$(awk -v sum="$rows" '{ sum += $1 } END { printf "%d", sum }' "$scratch/counts")
  done
  unset IFS

  checked="$amcheck in $(echo "$databases" | wc -l) databases; read $tables tables, $rows rows"
  checked="$checked (data checksums $checksums)"
}
