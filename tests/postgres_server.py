"""The PostgreSQL server the tests use, and a fresh database per test.

PROFILE_REGISTRY_TEST_POSTGRES names the server: a DSN of a database the tests may connect to as a role that may
CREATE DATABASE (default postgresql://postgres@127.0.0.1:5432/test, trust authentication). Each test gets its own
database, dropped after it. When the server cannot be reached the tests skip with the reason, unless
PROFILE_REGISTRY_REQUIRE_POSTGRES=1 (set by .ci/run), which turns that skip into a failure.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from functools import cache

import psycopg
import pytest
from psycopg import conninfo, sql

ADMIN_DSN = os.environ.get("PROFILE_REGISTRY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRED = os.environ.get("PROFILE_REGISTRY_REQUIRE_POSTGRES", "") == "1"

_names = itertools.count()


@cache
def unreachable_reason() -> str | None:
    """None when the server answers; else why not (checked once per test session)."""
    try:
        with psycopg.connect(ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return " ".join(str(exc).split())


def require_server() -> None:
    """Skip the calling test (fail it under PROFILE_REGISTRY_REQUIRE_POSTGRES=1) when there is no server."""
    reason = unreachable_reason()
    if reason is None:
        return
    message = f"no PostgreSQL at PROFILE_REGISTRY_TEST_POSTGRES={ADMIN_DSN}: {reason}"
    if REQUIRED:
        pytest.fail(message + " (PROFILE_REGISTRY_REQUIRE_POSTGRES=1)", pytrace=False)
    pytest.skip(message)


def dsn_for(database: str, dsn: str = ADMIN_DSN) -> str:
    """The admin DSN pointed at another database on the same server."""
    params = conninfo.conninfo_to_dict(dsn)
    params["dbname"] = database
    return conninfo.make_conninfo(**params)


def create_database(dsn: str = ADMIN_DSN) -> str:
    """A new, empty database on the server (named after this process and a counter); returns its DSN."""
    name = f"profile_registry_test_{os.getpid()}_{next(_names)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return dsn_for(name, dsn)


def drop_database(database_dsn: str, dsn: str = ADMIN_DSN) -> None:
    """Drop a database made by create_database, disconnecting whoever is still on it."""
    name = conninfo.conninfo_to_dict(database_dsn)["dbname"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name))))


def url_of(database_dsn: str) -> str:
    """A key=value DSN as the postgresql:// URL the command line takes."""
    p = conninfo.conninfo_to_dict(database_dsn)
    auth = str(p.get("user", "")) + (f":{p['password']}" if p.get("password") else "")
    return f"postgresql://{auth + '@' if auth else ''}{p.get('host', 'localhost')}:{p.get('port', 5432)}/{p['dbname']}"


class PrivateServer:
    """A PostgreSQL server of the test's own, on a spare loopback port, that the test may stop and start.

    Made from the installed binaries (/usr/lib/postgresql/*/bin): initdb with trust authentication in a fresh
    folder. initdb and postgres refuse to run as root, so as root they run as the `postgres` user.
    """

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not bins or not os.path.exists(os.path.join(bins[-1], "initdb")):
            message = "no PostgreSQL binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
            if REQUIRED:
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        self.bin = bins[-1]
        # Not under pytest's tmp_path: its parents are root-only, and the server runs as another user.
        self.folder = tempfile.mkdtemp(prefix="profile-registry-pg-")
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, user="postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> str:
        return os.path.join(self.folder, "data")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_owner, os.path.join(self.bin, tool), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder}"
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.folder, "log"), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects every client and shuts down cleanly; `immediate` is a crash (recovery at start)."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_owner, os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate",
                        "-w", "stop"], capture_output=True, check=False, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)
