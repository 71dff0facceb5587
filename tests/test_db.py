"""registry.storage.sqlite_db: path and DSN targets end up with WAL, busy_timeout 5000 and foreign keys on, checked
on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from registry.domain.errors import StartupError
from registry.storage import sqlite_db as db


def pragmas_of(conn: sqlite3.Connection) -> tuple[str, int, int]:
    return (
        conn.execute("PRAGMA journal_mode").fetchone()[0],
        conn.execute("PRAGMA busy_timeout").fetchone()[0],
        conn.execute("PRAGMA foreign_keys").fetchone()[0],
    )


def test_path_form_gets_the_reference_settings(db_path: Path):
    conn = db.connect(db.target_from_path(db_path))
    try:
        assert pragmas_of(conn) == ("wal", 5000, 1)
    finally:
        conn.close()
    assert db_path.exists()


def test_runbook_dsn_form_gets_the_same_settings(tmp_path: Path):
    path = tmp_path / "data" / "profiles.db"
    path.parent.mkdir()
    target = db.target_from_dsn(f"file:{path}?_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on")
    assert target.path == path
    conn = db.connect(target)
    try:
        assert pragmas_of(conn) == ("wal", 5000, 1)
    finally:
        conn.close()


def test_dsn_parameters_become_pragmas(tmp_path: Path):
    target = db.target_from_dsn(f"file:{tmp_path / 'p.db'}?_journal_mode=DELETE&_busy_timeout=1234&_fk=0&_sync=FULL")
    conn = db.connect(target)
    try:
        assert pragmas_of(conn) == ("delete", 1234, 0)
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        conn.close()
    assert target.busy_timeout_ms == 1234


def test_dsn_without_parameters_still_gets_the_defaults(tmp_path: Path):
    conn = db.connect(db.target_from_dsn(f"file:{tmp_path / 'p.db'}"))
    try:
        assert pragmas_of(conn) == ("wal", 5000, 1)
    finally:
        conn.close()


def test_relative_dsn_path_and_percent_decoding(tmp_path: Path):
    assert db.target_from_dsn("file:./data/profiles.db?_journal_mode=WAL").path == Path("data/profiles.db")
    assert db.target_from_dsn("file:my%20db.db").path == Path("my db.db")
    assert db.target_from_dsn(f"file://{tmp_path}/x.db").path == tmp_path / "x.db"


@pytest.mark.parametrize("param", ["_bogus=1", "_journal_mode=WAL&_nope=2", "cache_size=3"])
def test_unknown_dsn_parameter_is_a_startup_error_naming_it(param):
    with pytest.raises(StartupError) as err:
        db.target_from_dsn(f"file:p.db?{param}")
    name = param.split("&")[-1].split("=")[0]
    assert f"unknown parameter '{name}'" in str(err.value)


@pytest.mark.parametrize(
    "dsn, fragment",
    [
        ("", "sqlite profile store: empty dsn"),
        ("file:", "no database path"),
        ("file::memory:", "in-memory"),
        ("file:p.db?mode=memory", "in-memory"),
        ("file:p.db?_busy_timeout=soon", "bad value 'soon' for busy_timeout"),
        ("file:p.db?_journal_mode=sideways", "bad value 'sideways' for journal_mode"),
        ("file:p.db?_foreign_keys=maybe", "bad value 'maybe' for foreign_keys"),
        ("file:p.db?_sync=1;DROP", "bad value"),
    ],
)
def test_bad_dsn_is_a_one_line_startup_error(dsn, fragment):
    with pytest.raises(StartupError) as err:
        db.target_from_dsn(dsn)
    assert fragment in str(err.value)


def test_empty_path_message():
    with pytest.raises(StartupError) as err:
        db.target_from_path("  ")
    assert str(err.value) == "sqlite profile store: empty path"


def test_transaction_rolls_back_on_error(db_path: Path):
    target = db.target_from_path(db_path)
    conn = db.connect(target)
    try:
        conn.execute("CREATE TABLE t (x)")
        with pytest.raises(RuntimeError), db.transaction(conn, target):
            conn.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
        with db.transaction(conn, target):
            conn.execute("INSERT INTO t VALUES (2)")
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    finally:
        conn.close()


def test_a_database_the_store_creates_gets_large_pages_and_an_existing_one_keeps_its_own(tmp_path: Path):
    from conftest import registry_payload, write_row

    from registry.storage.sqlite_store import NEW_DATABASE_PAGE_SIZE, SQLiteRegistryStore

    def page_size(path: Path) -> int:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("PRAGMA page_size").fetchone()[0]
        finally:
            conn.close()

    created = tmp_path / "new.db"
    SQLiteRegistryStore(db.target_from_path(created)).open().close()
    assert page_size(created) == NEW_DATABASE_PAGE_SIZE != 4096

    existing = tmp_path / "go.db"  # written the way the Go reference (and the sqlite3 shell) would: 4 KiB pages
    write_row(existing, "default", registry_payload("default", {"one": {}}))
    store = SQLiteRegistryStore(db.target_from_path(existing)).open()
    try:
        assert "default" in store.snapshot().registries
    finally:
        store.close()
    assert page_size(existing) == 4096
