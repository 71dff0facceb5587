"""The PostgreSQL server the tests use, and a fresh database per test.

PROFILE_REGISTRY_TEST_POSTGRES names the server: a DSN of a database the tests may connect to as a role that may
CREATE DATABASE (default postgresql://postgres@127.0.0.1:5432/test, trust authentication). Each test gets its own
database, dropped after it. When the server cannot be reached the tests skip with the reason, unless
PROFILE_REGISTRY_REQUIRE_POSTGRES=1 (set by .ci/run), which turns that skip into a failure.
"""

from __future__ import annotations

import itertools
import os
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
