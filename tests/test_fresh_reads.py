"""External writes show in the next response without a restart; an unchanged database is not re-parsed."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

import registry.store


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
    assert err.value.code == 404


def test_unchanged_database_is_not_reparsed(tmp_path: Path, make_app, monkeypatch):
    path = tmp_path / "p.db"
    for name in ("a", "b", "c"):
        write_row(path, name, registry_payload(name, {"p": {}}))
    calls: list[str] = []
    real_parse_row = registry.store.parse_row

    def counting_parse_row(row_slug: str, payload_json: str):
        calls.append(row_slug)
        return real_parse_row(row_slug, payload_json)

    monkeypatch.setattr(registry.store, "parse_row", counting_parse_row)
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

    from registry.db import target_from_path
    from registry.store import SQLiteRegistryStore

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
    with pytest.raises(registry.store.RegistryError):
        store.snapshot()
