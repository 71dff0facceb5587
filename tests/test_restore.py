"""Restore: into the open live database while waitress serves, refusals that change nothing, the offline flow."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry.storage import backups
from registry.storage import sqlite_db as db
from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import SQLiteRegistryStore


def open_store(path: Path) -> SQLiteRegistryStore:
    return SQLiteRegistryStore(db.target_from_path(path)).open()


def put(store: SQLiteRegistryStore, slug: str, updated: int, profiles: dict) -> None:
    store.put_payload(slug, json.dumps(registry_payload(slug, profiles)), updated)


def live_rows(path: Path) -> dict[str, tuple[str, int]]:
    conn = db.connect(db.target_from_path(path), read_only=True)
    try:
        return {
            s: (p, u) for s, p, u in conn.execute("SELECT slug, payload_json, updated_at_ms FROM profile_registries")
        }
    finally:
        conn.close()


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.load(response)


@pytest.fixture
def live(db_path: Path):
    store = open_store(db_path)
    put(store, "default", 1_000, {"alpha": {}, "beta": {}})
    yield store
    store.close()


def test_restore_while_serving_gives_no_failed_request_and_shows_restored_data(live, db_path, make_app, live_server):
    snapshot = backups.create_backup(target_from_path(db_path))
    put(live, "default", 2_000, {"alpha": {}, "beta": {}, "gamma": {}})
    server = live_server(make_app(db_path))
    url = server.url + "/api/chat/profiles"
    assert "gamma" in {i["slug"] for i in get_json(url)[1]}

    failures: list[str] = []
    count = [0]
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                status, body = get_json(url)
                if status != 200 or not isinstance(body, list):
                    failures.append(f"{status} {body!r}")
            except (urllib.error.URLError, OSError, ValueError) as exc:
                failures.append(repr(exc))
            count[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        while count[0] < 20:
            stop.wait(0.01)
        result = backups.restore_snapshot(target_from_path(db_path), snapshot.path)
        status, body = get_json(url)  # the next request after the restore
        mid = count[0]
        while count[0] < mid + 20:
            stop.wait(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert status == 200
    assert {i["slug"] for i in body} == {"alpha", "beta", "mock_parity"}
    assert [c.change for c in result.changes] == ["older"]
    safety = live_rows(result.safety_snapshot.path)
    assert "gamma" in json.loads(safety["default"][0])["profiles"], "the safety snapshot holds the replaced state"


def test_restore_never_renames_replaces_or_unlinks_the_live_file(live, db_path, monkeypatch):
    snapshot = backups.create_backup(target_from_path(db_path))
    put(live, "default", 2_000, {"alpha": {}})
    live_names = {os.path.abspath(db_path), os.path.abspath(f"{db_path}-wal"), os.path.abspath(f"{db_path}-shm")}
    touched: list[str] = []

    def guard(name, real):
        def wrapper(*args, **kwargs):
            for arg in args[:2]:
                if isinstance(arg, (str, os.PathLike)) and os.path.abspath(arg) in live_names:
                    touched.append(f"{name}({arg})")
                    raise AssertionError(f"restore called {name} on the live database {arg}")
            return real(*args, **kwargs)

        return wrapper

    for name in ("replace", "rename", "unlink", "remove"):
        monkeypatch.setattr(os, name, guard(f"os.{name}", getattr(os, name)))
    real_unlink = Path.unlink
    monkeypatch.setattr(Path, "unlink", lambda self, *a, **k: guard("Path.unlink", real_unlink)(self, *a, **k))
    real_shutil_move = shutil.move
    monkeypatch.setattr(shutil, "move", guard("shutil.move", real_shutil_move))
    monkeypatch.setattr(shutil, "copyfile", guard("shutil.copyfile", shutil.copyfile))
    inode = db_path.stat().st_ino
    backups.restore_snapshot(target_from_path(db_path), snapshot.path)
    assert touched == []
    assert db_path.stat().st_ino == inode
    assert live_rows(db_path)["default"][1] == 1_000
    assert Path(f"{db_path}-wal").stat().st_size == 0, "TRUNCATE checkpoint after the copy"


def _corrupt_snapshots(folder: Path, good: Path) -> dict[str, Path]:
    folder.mkdir()
    truncated = folder / "truncated.db"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = folder / "text.db"
    text.write_text("cp: cannot stat './data/profiles.db': No such file or directory\n" * 20)
    no_table = folder / "no_table.db"
    conn = sqlite3.connect(no_table)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()
    bad_payload = folder / "bad_payload.db"
    shutil.copy(good, bad_payload)
    write_row(bad_payload, "default", '{"slug":"default","profiles":')
    conn = sqlite3.connect(bad_payload)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    tampered = folder / good.name  # a listed snapshot whose bytes changed after its manifest was written
    shutil.copy(good, tampered)
    shutil.copy(backups.manifest_path(good), backups.manifest_path(tampered))
    write_row(tampered, "default", json.dumps(registry_payload("default", {"evil": {}})))
    return {
        "truncated": truncated,
        "text": text,
        "no_table": no_table,
        "bad_payload": bad_payload,
        "tampered": tampered,
    }


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("truncated", "not a usable SQLite database|integrity|truncated"),
        ("text", "not a SQLite database"),
        ("no_table", "no profile_registries table"),
        ("bad_payload", "bad payload"),
        ("tampered", "does not match the manifest|checksum"),
    ],
)
def test_corrupt_snapshot_is_refused_and_live_data_is_unchanged(live, db_path, tmp_path, kind, reason):
    good = backups.create_backup(target_from_path(db_path), tmp_path / "good")
    put(live, "default", 2_000, {"alpha": {}, "beta": {}, "gamma": {}})
    snapshot = _corrupt_snapshots(tmp_path / "bad", good.path)[kind]
    before = live_rows(db_path)
    listed_before = backups.list_snapshots(target_from_path(db_path))
    with pytest.raises(backups.SnapshotError, match=reason):
        backups.restore_snapshot(target_from_path(db_path), snapshot)
    assert live_rows(db_path) == before
    assert backups.list_snapshots(target_from_path(db_path)) == listed_before, (
        "no safety snapshot for a refused restore"
    )


def test_offline_copy_over_a_database_with_a_stale_wal_does_not_bring_old_rows_back(live, db_path, tmp_path):
    """Runbook step 5 after a crash: cp the snapshot over profiles.db while the old -wal/-shm are still there."""
    snapshot = backups.create_backup(target_from_path(db_path))
    for i in range(20):
        put(live, f"later{i}", 3_000 + i, {"p": {}})
    # The service empties the -wal after each write; a service killed in the middle of one leaves frames in it.
    writer = db.connect(db.target_from_path(db_path))
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute(
        "INSERT INTO profile_registries VALUES (?, ?, ?)",
        ("inwal", json.dumps(registry_payload("inwal", {"p": {}})), 9),
    )
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal", "-shm"):  # the files as a killed service leaves them
        shutil.copy(f"{db_path}{suffix}", crashed / f"profiles.db{suffix}")
    writer.close()
    assert (crashed / "profiles.db-wal").stat().st_size > 0
    shutil.copy(snapshot.path, crashed / "profiles.db")  # the runbook's restore
    store = open_store(crashed / "profiles.db")
    try:
        assert set(store.snapshot().registries) == {"default"}
    finally:
        store.close()
    moved = sorted(p.name for p in crashed.glob("profiles.db-*.stale-*"))
    assert [n.split(".stale-")[0] for n in moved] == ["profiles.db-shm", "profiles.db-wal"]


def test_a_crashed_databases_own_wal_is_kept(db_path, tmp_path):
    """Without a copy-in, the -wal belongs to the file: recovery must replay it, not move it aside."""
    store = open_store(db_path)
    writer = db.connect(db.target_from_path(db_path))
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute(
        "INSERT INTO profile_registries VALUES (?, ?, ?)",
        ("walonly", json.dumps(registry_payload("walonly", {"p": {}})), 7),
    )
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copy(f"{db_path}{suffix}", crashed / f"profiles.db{suffix}")
    writer.close()
    store.close()
    reopened = open_store(crashed / "profiles.db")
    try:
        assert "walonly" in reopened.snapshot().registries
    finally:
        reopened.close()
    assert not list(crashed.glob("*.stale-*"))


def test_a_snapshot_with_another_page_size_is_refused_while_live_is_wal(live, db_path, tmp_path):
    other = tmp_path / "other" / "profiles.db.bak.20260101-000000"
    other.parent.mkdir()
    conn = sqlite3.connect(other)
    conn.execute("PRAGMA page_size=8192")
    conn.execute(
        "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
        "updated_at_ms INTEGER NOT NULL DEFAULT 0)"
    )
    conn.execute(
        "INSERT INTO profile_registries VALUES ('default', ?, 1)", (json.dumps(registry_payload("default", {"x": {}})),)
    )
    conn.commit()
    conn.close()
    before = live_rows(db_path)
    with pytest.raises(backups.SnapshotError, match="page size 8192 differs"):
        backups.restore_snapshot(target_from_path(db_path), other)
    assert live_rows(db_path) == before
