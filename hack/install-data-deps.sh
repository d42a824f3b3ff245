#!/usr/bin/env bash
# Install the real servers the data tests run against: PostgreSQL (server and
# client tools) and Redis, from Debian's packages; and libfaketime (Debian's
# `faketime`), which the backup-retention test runs barman-cloud-backup-delete
# under, since its recovery window is measured from the real clock;
# python3-venv for barman-cloud's virtualenv (hack/install-barman-cloud.sh); and
# rclone, which copies a primary object store into the off-site one (object-store.sh
# mirror), from Debian's package as the database image installs it.
#
# Idempotent: apt-get runs only when a binary is missing. The packages' own
# services are not started (the tests start their own servers on loopback, in
# temporary directories); a policy-rc.d is put in place for the install only,
# and only when the machine has none.
set -euo pipefail

log() { printf 'install-data-deps: %s\n' "$*" >&2; }

# The newest PostgreSQL server bindir Debian's packages installed, if any.
pg_server_bindir() {
  # Glob order is lexical; pick the highest major version numerically.
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then echo "$dir"; fi
  done | sort -t/ -k4,4n | tail -n1
}

missing=()
if [ -z "$(pg_server_bindir)" ] && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
for tool in pg_dump pg_restore psql; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    missing+=(postgresql-client)
    break
  fi
done
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  missing+=(redis-server)
fi
if ! command -v faketime >/dev/null 2>&1; then
  missing+=(faketime)
fi
if ! command -v rclone >/dev/null 2>&1; then
  missing+=(rclone)
fi
# hack/install-barman-cloud.sh builds its virtualenv on Debian's python3 (the server user can run it).
if ! /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  log "PostgreSQL ($(pg_server_bindir)), Redis ($(command -v redis-server)), faketime and rclone already installed"
  exit 0
fi

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" "${missing[@]}"

bindir=$(pg_server_bindir)
if [ -z "$bindir" ] || ! command -v redis-server >/dev/null 2>&1 || ! command -v faketime >/dev/null 2>&1 ||
  ! command -v rclone >/dev/null 2>&1; then
  log "install finished but a server binary is still missing"
  exit 1
fi
log "PostgreSQL server in $bindir, Redis at $(command -v redis-server)"
