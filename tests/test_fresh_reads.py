"""External writes show in the next response without a restart; an unchanged database is not re-parsed."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

import registry.storage.row_loading
import registry.storage.sqlite_store
from registry import host_os


def slugs(url: str) -> set[str]:
    with urllib.request.urlopen(url) as response:
        return {item["slug"] for item in json.load(response)}


@pytest.fixture
def served(tmp_path: Path, make_app, live_server):
    path = tmp_path / "data" / "profiles.db"
    path.parent.mkdir()
    write_row(path, "default", registry_payload("default", {"one": {}}))
    server = live_server(make_app(path))
    return path, server.url + "/api/chat/profiles?registry=default"


def test_write_from_another_connection_shows_next_request(served):
    path, url = served
    assert slugs(url) == {"one", "mock_parity"}
    write_row(path, "default", registry_payload("default", {"one": {}, "two": {}}))
    assert slugs(url) == {"one", "two", "mock_parity"}


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 command-line shell is not installed")
def test_update_with_the_sqlite3_shell_shows_next_request(served):
    path, url = served
    assert slugs(url) == {"one", "mock_parity"}
    payload = json.dumps(registry_payload("default", {"one": {}, "shell": {}})).replace("'", "''")
    update = f"UPDATE profile_registries SET payload_json = '{payload}' WHERE slug = 'default';"
    subprocess.run(["sqlite3", str(path), update], check=True, timeout=30)
    assert slugs(url) == {"one", "shell", "mock_parity"}
    subprocess.run(["sqlite3", str(path), "DELETE FROM profile_registries;"], check=True, timeout=30)
    with pytest.raises(urllib.error.HTTPError) as err:
        slugs(url)
    err.value.close()  # the error holds the response and its socket
    assert err.value.code == 404


def test_unchanged_database_is_not_reparsed(tmp_path: Path, make_app, monkeypatch):
    path = tmp_path / "p.db"
    for name in ("a", "b", "c"):
        write_row(path, name, registry_payload(name, {"p": {}}))
    calls: list[str] = []
    real_parse_row = registry.storage.row_loading.parse_row

    def counting_parse_row(row_slug: str, payload_json: str):
        calls.append(row_slug)
        return real_parse_row(row_slug, payload_json)

    monkeypatch.setattr(registry.storage.row_loading, "parse_row", counting_parse_row)
    client = make_app(path).test_client()
    assert sorted(calls) == ["a", "b", "c"]
    calls.clear()
    for route in ("/api/chat/profiles", "/api/chat/profiles/p", "/api/chat/profile", "/api/health") * 10:
        assert client.get(route).status_code == 200
    assert calls == []
    write_row(path, "b", registry_payload("b", {"p": {}, "q": {}}))
    for _ in range(10):
        client.get("/api/chat/profiles")
    assert calls == ["b"]  # only the changed row, and only once


def test_reader_connections_of_ended_threads_are_closed(tmp_path: Path):
    import gc
    import threading

    from registry.storage.sqlite_db import target_from_path
    from registry.storage.sqlite_store import SQLiteRegistryStore

    path = tmp_path / "p.db"
    write_row(path, "default", registry_payload("default", {"one": {}}))
    store = SQLiteRegistryStore(target_from_path(path)).open()
    try:
        threads = [threading.Thread(target=store.snapshot) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gc.collect()
        assert store.open_readers() == 0
        store.snapshot()
        assert store.open_readers() == 1  # this thread's, kept for its next request
    finally:
        store.close()
    with pytest.raises(registry.storage.sqlite_store.RegistryError):
        store.snapshot()


def traced_store(target):
    """An open store whose calling thread's reader connection records every statement it runs."""
    from registry.storage.sqlite_store import SQLiteRegistryStore

    store = SQLiteRegistryStore(target).open()
    store.snapshot()  # creates this thread's reader
    statements: list[str] = []
    store._local.reader.conn.set_trace_callback(statements.append)
    return store, statements


def test_unchanged_wal_database_costs_no_sqlite_call_and_every_commit_is_seen(tmp_path: Path):
    """The wal-index shortcut (registry/storage/walwatch.py) skips the PRAGMA only while nothing was committed."""
    from registry.storage.sqlite_db import target_from_path

    path = tmp_path / "p.db"
    write_row(path, "default", registry_payload("default", {"one": {}}))
    store, statements = traced_store(target_from_path(path))
    try:
        store.snapshot()
        statements.clear()
        for _ in range(20):
            store.snapshot()
        if host_os.can_map_wal_index():
            assert statements == []  # the header was unchanged: no sqlite3 call, so no GIL handoff
        else:  # Windows (registry/host_os.py): no shortcut, every check asks SQLite
            assert sum("data_version" in s for s in statements) == 20
        other = sqlite3.connect(path)
        try:
            for number in range(30):
                write_row(path, "default", registry_payload("default", {"one": {}, f"p{number}": {}}))
                if number % 10 == 9:
                    # A WAL restart resets the frame counter; the header must still differ from the last one seen.
                    other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                profiles = store.snapshot().registries["default"].registry["profiles"]
                assert f"p{number}" in profiles, number
        finally:
            other.close()
        assert any("data_version" in s for s in statements)
    finally:
        store.close()


def test_database_not_in_wal_mode_is_checked_with_the_pragma(tmp_path: Path):
    from registry.storage.sqlite_db import target_from_dsn

    path = tmp_path / "p.db"
    write_row(path, "default", registry_payload("default", {"one": {}}))
    store, statements = traced_store(target_from_dsn(f"file:{path}?_journal_mode=DELETE"))
    try:
        assert store._wal_index.header() is None
        store.snapshot()
        assert any("data_version" in s for s in statements)
        write_row(path, "default", registry_payload("default", {"one": {}, "two": {}}))
        assert "two" in store.snapshot().registries["default"].registry["profiles"]
    finally:
        store.close()
