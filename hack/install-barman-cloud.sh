#!/usr/bin/env bash
# Installs barman-cloud (barman-cloud-wal-archive, -wal-restore, -backup,
# -restore, -backup-delete) from the package registry, pinned in
# hack/barman-cloud/requirements.txt, into a virtualenv of its own, only when
# missing. PostgreSQL's archive_command and restore_command run these tools as
# the server's user (`postgres` when the tests run as root), so the virtualenv
# is built on the system's python3 and cached outside the clone where that user
# can read it: /var/cache/tierkeeper (not the home directory, which it may not
# be able to enter). TIERKEEPER_SHARED_CACHE overrides the place.
#
#   hack/install-barman-cloud.sh                  install when missing, print the bin dir
#   hack/install-barman-cloud.sh --print-bin-dir  print the bin dir, install nothing
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
requirements="$here/barman-cloud/requirements.txt"
pins=$(sha256sum "$requirements" | cut -c1-10)
venv="${TIERKEEPER_SHARED_CACHE:-/var/cache/tierkeeper}/barman-cloud/$pins"

if [[ ${1-} == --print-bin-dir ]]; then
  echo "$venv/bin"
  exit 0
fi
if [[ -e "$venv/.installed" ]]; then
  echo "$venv/bin"
  exit 0
fi

python=/usr/bin/python3
[[ -x $python ]] || python=$(command -v python3)
echo "install-barman-cloud.sh: installing barman-cloud into $venv ($python)" >&2
mkdir -p "$(dirname "$venv")"
chmod a+rx "$(dirname "$(dirname "$venv")")" "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [[ ! -e "$venv/.installed" ]]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$requirements"
  "$venv/bin/barman-cloud-backup" --version >/dev/null
  chmod -R a+rX "$venv"
  touch "$venv/.installed"
fi
echo "$venv/bin"
