"""Real PostgreSQL and Redis servers for the data tests and the backup benchmark.

Each server runs on loopback on a free port, in a fresh temporary directory,
and is stopped (and its directory removed) afterwards. PostgreSQL refuses to
run as root, so as root the server runs as the `postgres` user that Debian's
package creates (see hack/install-data-deps.sh).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "tierkeeper"
PASSWORD = "s3cret-for-tests"


class ServerUnavailable(Exception):
    """The binaries a server needs are not installed on this machine."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name))


def postgres_bindir() -> Path:
    """Where initdb, pg_ctl and postgres live (Debian keeps them off PATH)."""
    candidates: list[Path] = []
    if env := os.environ.get("TIERKEEPER_PG_BINDIR"):
        candidates.append(Path(env))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "pg_dump")):
            return bindir
    raise ServerUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; "
        "run `make data-deps` (hack/install-data-deps.sh)"
    )


def redis_server_binary() -> Path:
    found = shutil.which("redis-server")
    if found is None:
        raise ServerUnavailable("redis-server not found; run `make data-deps`")
    return Path(found)


def _as_server_user(argv: Sequence[str]) -> list[str]:
    """PostgreSQL's server tools refuse root: run them as `postgres` then."""
    if os.geteuid() != 0:
        return list(argv)
    return ["runuser", "-u", "postgres", "--", *argv]


def _chown_for_server(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    password: str = PASSWORD
    # Extra environment of the server process (and so of archive_command and
    # restore_command), e.g. the object stores' credentials.
    server_env: dict[str, str] = field(default_factory=dict)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password} dbname={dbname}"
        )

    def env(self, dbname: str = "postgres") -> dict[str, str]:
        """Environment for libpq clients (psql, pg_dump, backup.sh) talking to this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(
            PATH=f"{self.bindir}{os.pathsep}{env.get('PATH', '')}",
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.user,
            PGPASSWORD=self.password,
            PGDATABASE=dbname,
            PGCONNECT_TIMEOUT="10",
        )
        return env

    def tool(self, name: str) -> str:
        return str(self.bindir / name)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL through psql (ON_ERROR_STOP); returns unaligned, tuples-only output."""
        result = subprocess.run(
            [self.tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env=self.env(dbname),
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def create_database(self, name: str) -> None:
        self.psql(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def databases(self) -> set[str]:
        return set(self.psql("SELECT datname FROM pg_database").splitlines())

    def configure(self, settings: Mapping[str, str]) -> None:
        """Append settings to postgresql.conf (later lines win over earlier ones)."""
        lines = [
            f"{name} = '{value.replace(chr(39), chr(39) * 2)}'" for name, value in settings.items()
        ]
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# --- test settings ---\n" + "\n".join(lines) + "\n")

    def start(self, *, durable: bool = False, wait: bool = True) -> None:
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            "-c unix_socket_directories=''",
            "-c max_connections=50",
        ]
        if not durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        try:
            subprocess.run(
                _as_server_user(
                    [
                        self.tool("pg_ctl"),
                        "--pgdata",
                        str(self.datadir),
                        "--log",
                        str(self.logfile),
                        "--options",
                        " ".join(options),
                        "--wait" if wait else "--no-wait",
                        "--timeout",
                        "600",
                        "start",
                    ]
                ),
                check=True,
                capture_output=True,
                env={**os.environ, **self.server_env},
            )
        except subprocess.CalledProcessError as e:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise RuntimeError(
                f"PostgreSQL failed to start: {e.stderr!r}\n--- server log ---\n{log}"
            ) from e

    def stop(self) -> None:
        subprocess.run(
            _as_server_user(
                [self.tool("pg_ctl"), "--pgdata", str(self.datadir), "-m", "fast", "stop"]
            ),
            check=False,
            capture_output=True,
        )

    def kill(self) -> None:
        """SIGKILL the postmaster, as a lost node would; its children exit when they notice."""
        pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def new_server_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="tierkeeper-pg-"))
    _chown_for_server(root)
    return root


def chown_tree_for_server(path: Path) -> None:
    """Hand a directory tree (e.g. a restored data directory) to the server's user."""
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for directory, _, files in os.walk(path):
            os.chown(directory, user.pw_uid, user.pw_gid)
            for name in files:
                os.chown(Path(directory) / name, user.pw_uid, user.pw_gid)


@contextlib.contextmanager
def postgres_server(
    *,
    durable: bool = False,
    settings: Mapping[str, str] | None = None,
    server_env: Mapping[str, str] | None = None,
) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster on loopback; password auth (scram) over TCP only.

    `durable=False` turns fsync off, which only matters for crash safety, not
    for anything the tests look at. `settings` go into postgresql.conf.
    """
    bindir = postgres_bindir()
    root = new_server_root()
    server = PostgresServer(
        bindir=bindir, root=root, port=free_port(), server_env=dict(server_env or {})
    )
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    _chown_for_server(pwfile)
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bindir / "initdb"),
                    "--pgdata",
                    str(server.datadir),
                    "--username",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        if settings:
            server.configure(settings)
        server.start(durable=durable)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int
    root: Path
    conf_path: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


# Directives a containerised redis.conf sets for the pod (data dir, listen
# address) that must point at the test's own loopback port and temp dir instead.
LOCAL_DIRECTIVES = ("bind", "port", "dir", "daemonize", "pidfile", "logfile", "unixsocket")


def localize_redis_conf(rendered: str, *, port: int, workdir: Path) -> str:
    """The rendered redis.conf with only its pod-local directives replaced.

    Every other line is kept verbatim; the replacements come last. (Dropping
    rather than overriding is needed for `dir`: Redis changes into it while
    reading the file, and the container's `/data` does not exist here.)
    """
    kept = [
        line
        for line in rendered.splitlines()
        if not line.strip() or line.split()[0].lower() not in LOCAL_DIRECTIVES
    ]
    local = [
        "# --- test-local settings (loopback, temp dir) ---",
        "bind 127.0.0.1",
        f"port {port}",
        f"dir {workdir}",
        "daemonize no",
        f"logfile {workdir / 'redis.log'}",
    ]
    return "\n".join([*kept, *local]) + "\n"


@contextlib.contextmanager
def redis_server(
    rendered_conf: str, *, workdir: Path | None = None, args: Sequence[str] = ()
) -> Iterator[RedisServer]:
    """redis-server on loopback running the given redis.conf (localized, see above).

    With `workdir`, the server keeps its files there (and they stay afterwards),
    so that a second server can start on what the first one left. `args` follow the
    config file on the command line, as the container's do.
    """
    binary = redis_server_binary()
    root = workdir or Path(tempfile.mkdtemp(prefix="tierkeeper-redis-"))
    port = free_port()
    conf_path = root / "redis.conf"
    conf_path.write_text(localize_redis_conf(rendered_conf, port=port, workdir=root))
    process = subprocess.Popen([str(binary), str(conf_path), *args], cwd=root)
    server = RedisServer(process=process, port=port, root=root, conf_path=conf_path)
    try:
        _wait_for_redis(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def _wait_for_redis(server: RedisServer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.root / "redis.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"redis-server exited with {server.process.returncode}:\n{text}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection((server.host, server.port), timeout=1) as sock,
        ):
            sock.sendall(b"PING\r\n")
            # A server with a password answers too: it refuses the unauthenticated PING.
            if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer PING on port {server.port} within {timeout}s")
