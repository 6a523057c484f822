"""Fixtures for the databases tests talk to: a SQLite file and a real PostgreSQL server.

- ``postgres_server`` (session): :class:`PostgresServer`, ``initdb`` + ``pg_ctl start``
  into a temp dir, on 127.0.0.1 and a free port, trust auth, fsync off; stopped at the end.
  Skipped with the reason when no PostgreSQL binaries are found.
- ``pg_url`` (function): a fresh database in that server, dropped after the test.
- ``sqlite_url`` (function): ``sqlite:///<tmp_path>/camnet.db``.
- ``db_url`` (function, parametrised ``sqlite``/``postgresql``): one of the two; the server
  only starts when a ``postgresql`` case runs.

A test module using ``db_url`` imports all four fixtures (pytest finds them by name).
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system
user (created by Debian's package; a ``camnet-pg`` system user is added otherwise) in a
``mkdtemp`` directory it owns: pytest's own tmp dirs sit under a 0700 root directory.
A second independent server is ``PostgresServer(Path(tempfile.mkdtemp()))`` + ``start()``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

SUPERUSER = "postgres"  # the database role; trust auth, no password
FALLBACK_OS_USER = "camnet-pg"
START_TIMEOUT = 30


def _version(bindir: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> ``(15,)``; names that are not versions sort first."""
    parts = bindir.parent.name.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (0,)


def find_bindir() -> Path | None:
    """Return the folder holding ``initdb``/``pg_ctl``/``postgres``, newest version first."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, check=True)
            candidates.append(Path(out.stdout.decode().strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _os_user_as_root() -> str:
    """Return the system user PostgreSQL runs as when we are root; create one if needed."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam("postgres").pw_name
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(FALLBACK_OS_USER).pw_name
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_OS_USER,
        ],
        check=True,
        capture_output=True,
    )
    return FALLBACK_OS_USER


class PostgresServer:
    """One PostgreSQL cluster in ``base`` (data, socket and log), listening on 127.0.0.1."""

    host = "127.0.0.1"

    def __init__(self, base: Path, bindir: Path | None = None, port: int | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise FileNotFoundError("no PostgreSQL binaries (initdb, pg_ctl, postgres)")
        self.bindir = found
        self.base = base
        self.datadir = base / "data"
        self.socket_dir = base / "sock"
        self.log_path = base / "postgres.log"
        self.port = port or free_port()
        self.user = SUPERUSER
        self.os_user = _os_user_as_root() if os.geteuid() == 0 else None
        self._initialised = False
        self.running = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.os_user is not None:
            command = ["runuser", "-u", self.os_user, "--", *command]
        # cwd: the server's user may not be allowed into the caller's working directory.
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.base, check=False)
        if result.returncode != 0:
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )
        return result

    def init(self) -> None:
        """Run ``initdb`` (trust auth, UTF-8, C locale) and write the test settings."""
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.os_user is not None:
            info = pwd.getpwnam(self.os_user)
            for path in (self.base, self.socket_dir):
                os.chown(path, info.pw_uid, info.pw_gid)
        self._run("initdb", "-D", str(self.datadir), "-U", self.user, "--auth=trust")
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "50",
            "fsync": "off",  # a test cluster: speed over durability
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._initialised = True

    def start(self) -> None:
        """Start the server (``initdb`` first if needed); return once it accepts connections."""
        if not self._initialised:
            self.init()
        self._run(
            "pg_ctl", "start", "-D", str(self.datadir), "-l", str(self.log_path),
            "-w", "-t", str(START_TIMEOUT),
        )  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast``: disconnect every client and shut down cleanly."""
        if self.running:
            self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", mode, "-w")
            self.running = False

    def url(self, dbname: str = "postgres") -> str:
        """Return the SQLAlchemy URL of ``dbname`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """Return the libpq conninfo of ``dbname`` (for psycopg directly)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create a database (a unique ``camnet_test_<hex>`` by default); return its name."""
        import psycopg
        from psycopg import sql

        name = name or f"camnet_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Terminate the connections to ``name`` and drop it."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))

    def __repr__(self) -> str:
        return f"PostgresServer({self.host}:{self.port}, running={self.running})"


class _Shared:
    """One server per session, however many test modules import the fixture.

    Each module importing a session fixture gets its own FixtureDef (and cache); without
    this, two modules would start two servers.
    """

    server: PostgresServer | None = None
    users = 0


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, stopped and deleted at the end."""
    pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg 3")
    if _Shared.server is None:
        bindir = find_bindir()
        if bindir is None:
            pytest.skip("no PostgreSQL binaries (Debian package postgresql; make system-deps)")
        base = Path(tempfile.mkdtemp(prefix="camnet-pg-"))
        server = PostgresServer(base, bindir)
        try:
            server.start()
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            raise
        _Shared.server = server
    server = _Shared.server
    _Shared.users += 1
    try:
        yield server
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.server = None
            try:
                server.stop()
            finally:
                shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh PostgreSQL database, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of a SQLite file in the test's tmp dir."""
    return f"sqlite:///{tmp_path}/camnet.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test runs on SQLite and on PostgreSQL (the server starts only when needed)."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url
