"""A throwaway PostgreSQL cluster on loopback, for tests and benchmarks (a development tool, never imported by
the server).

It runs the distribution's own binaries (Debian's ``postgresql`` package: ``make postgres`` installs it):
``initdb`` makes a cluster in a temporary directory with trust authentication for the user ``postgres``, and
``pg_ctl`` starts it on a free TCP port on 127.0.0.1 with its Unix socket inside that directory, so it touches
nothing of a system cluster. PostgreSQL refuses to run as root: as root (CI, containers) every server-side
command runs as the ``postgres`` user (``nobody`` when that does not exist) through ``runuser``, and the
directory belongs to that user. Clients connect over TCP as the current user.

    with LocalPostgres() as pg:
        url = pg.create_database("store_test")   # postgresql+asyncpg://postgres@127.0.0.1:PORT/store_test
        pg.stop()                                # a real outage: connections are refused
        pg.start()                               # the same data and port again

``stop``/``start`` keep the data directory and the port; ``close`` stops the server and removes everything.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DEFAULT_DATABASE = "infogap"
SUPERUSER = "postgres"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name  # /usr/lib/postgresql/<version>/bin/initdb
    return tuple(int(p) for p in re.findall(r"\d+", version)) or (0,)


def find_bindir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``createdb``: PATH first (symlinks resolved, so the
    sibling binaries are found), then the highest version under /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key, reverse=True):
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return bindir
    return None


def available() -> str | None:
    """None when a cluster can be made here, else the reason."""
    if find_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        if _service_user() is None:
            return "running as root and neither the `postgres` nor the `nobody` user exists to run the server"
        if shutil.which("runuser") is None and shutil.which("su") is None:
            return "running as root and neither `runuser` nor `su` is available to run the server as another user"
    return None


def _service_user() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _utf8_locale() -> list[str]:
    try:
        locales = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        locales = []
    for name in locales:
        if name.lower().replace("-", "") == "c.utf8":
            return [f"--locale={name}"]
    return ["--no-locale"]


class LocalPostgres:
    """A PostgreSQL server in its own temporary directory on 127.0.0.1:``port``, trust auth, superuser ``postgres``."""

    def __init__(self, *, port: int | None = None, workdir: Path | None = None, database: str = DEFAULT_DATABASE):
        self.bindir = find_bindir()
        reason = available()
        if reason is not None or self.bindir is None:
            raise RuntimeError(f"{reason or 'PostgreSQL binaries not found'} (`make postgres` installs them)")
        self._fixed_port = port is not None
        self.port = port or _free_port()
        self.database = database
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="infogap-postgres-")).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.datadir = self.workdir / "data"
        self.socketdir = self.workdir / "socket"
        self.log_file = self.workdir / "postgres.log"
        self._user = _service_user() if os.geteuid() == 0 else None
        self._initialised = False
        self._databases: set[str] = set()

    # -- commands ----------------------------------------------------------------------------------------------

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if self._user is None:
            return argv
        if shutil.which("runuser"):
            return ["runuser", "-u", self._user.pw_name, "--", *argv]
        return ["su", "-s", "/bin/sh", self._user.pw_name, "-c", shlex.join(argv)]

    def _run(self, argv: list[str], *, server_side: bool = True, timeout: float = 120.0, check: bool = True):
        command = self._as_server_user(argv) if server_side else argv
        env = dict(os.environ, LC_ALL="C")
        result = subprocess.run(
            command, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{Path(argv[0]).name} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
                f"\n{self.tail_log()}"
            )
        return result

    def _tool(self, name: str) -> str:
        assert self.bindir is not None
        return str(self.bindir / name)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def init(self) -> None:
        """initdb once (a no-op when the data directory is already a cluster)."""
        if self._initialised or (self.datadir / "PG_VERSION").exists():
            self._initialised = True
            return
        self.socketdir.mkdir(exist_ok=True)
        if self._user is not None:
            for path in (self.workdir, self.socketdir):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
            if not self.log_file.exists():
                self.log_file.touch()
            os.chown(self.log_file, self._user.pw_uid, self._user.pw_gid)
        self._run(
            [
                self._tool("initdb"),
                "-D", str(self.datadir),
                "-U", SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                *_utf8_locale(),
                "--no-sync",  # the cluster is thrown away; fsync stays on in the running server
            ]
        )  # fmt: skip
        self._initialised = True

    def is_running(self) -> bool:
        if not (self.datadir / "PG_VERSION").exists():
            return False
        return self._run([self._tool("pg_ctl"), "-D", str(self.datadir), "status"], check=False).returncode == 0

    def start(self, timeout_s: float = 60.0) -> LocalPostgres:
        """Start (or restart after ``stop``) on the same data directory and port; returns once it accepts
        connections. The default database is created on the first start."""
        self.init()
        if self.is_running():
            return self
        for attempt in range(3):
            result = self._pg_ctl_start(timeout_s)
            if result.returncode == 0:
                break
            port_taken = "already in use" in self.tail_log(10)
            if port_taken and not self._fixed_port and attempt < 2:
                self.port = _free_port()  # another process took the port between the probe and the bind
                continue
            raise RuntimeError(f"pg_ctl start failed ({result.returncode}): {result.stderr.strip()}\n{self.tail_log()}")
        self._wait_accepting(timeout_s)
        if self.database not in self._databases:
            self.create_database(self.database, exist_ok=True)
        return self

    def _pg_ctl_start(self, timeout_s: float) -> subprocess.CompletedProcess:
        options = (
            f"-p {self.port} -k {shlex.quote(str(self.socketdir))} "
            "-c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200"
        )
        return self._run(
            [
                self._tool("pg_ctl"),
                "-D", str(self.datadir),
                "-l", str(self.log_file),
                "-o", options,
                "-w", "-t", str(int(timeout_s)),
                "start",
            ],
            timeout=timeout_s + 30,
            check=False,
        )  # fmt: skip

    def _wait_accepting(self, timeout_s: float) -> None:
        """pg_ctl -w waits for the server to report ready; also wait until the TCP port itself answers."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"postgres is not accepting on port {self.port}: {self.tail_log()}") from None
                time.sleep(0.05)

    def stop(self, mode: str = "fast", timeout_s: float = 60.0) -> None:
        """pg_ctl stop with ``mode`` smart|fast|immediate (immediate is a crash: recovery runs on the next start).
        A no-op when it is not running."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown stop mode {mode!r}")
        if not self.is_running():
            return
        self._run(
            [self._tool("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "-t", str(int(timeout_s)), "stop"],
            timeout=timeout_s + 30,
        )

    def close(self) -> None:
        """Stop the server and remove the temporary directory."""
        try:
            self.stop("immediate")
        except Exception:
            pass
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- databases ---------------------------------------------------------------------------------------------

    def url_for(self, name: str, driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the default database (``infogap``)."""
        return self.url_for(self.database)

    def create_database(self, name: str, *, exist_ok: bool = False) -> str:
        """CREATE DATABASE ``name`` (letters, digits, underscores) and return its SQLAlchemy asyncpg URL."""
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r}: use letters, digits and underscores (at most 63)")
        result = self._run(
            [self._tool("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name],
            server_side=False,
            check=False,
        )
        if result.returncode != 0 and not (exist_ok and "already exists" in result.stderr):
            raise RuntimeError(f"createdb {name} failed ({result.returncode}): {result.stderr.strip()}")
        self._databases.add(name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r}: use letters, digits and underscores (at most 63)")
        self._run(
            [self._tool("dropdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "--if-exists", name],
            server_side=False,
        )
        self._databases.discard(name)

    def tail_log(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
