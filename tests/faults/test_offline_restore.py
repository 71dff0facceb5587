"""The runbook's offline restore after `kill -9`: stop hard, `cp` a runbook backup over the file, start. The
restored data is what is served: no committed frame left in the `-wal` brings replaced rows back."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

from ._support import ServeProcess, registry_json

TOKEN = "offline-restore-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": "application/json"}


def make_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
        "updated_at_ms INTEGER NOT NULL DEFAULT 0)"
    )
    conn.execute("INSERT INTO profile_registries VALUES ('keep', ?, 1)", (registry_json("keep"),))
    conn.commit()
    conn.close()


def served_registries(server: ServeProcess) -> set[str]:
    status, _, body = server.request("GET", "/api/chat/profiles", headers={"Accept": "application/json"})
    assert status == 200, body
    return {item["registry"] for item in json.loads(body)}


def put_registry(server: ServeProcess, slug: str, description: str = "") -> None:
    status, _, body = server.request(
        "PUT", f"/api/registries/{slug}", registry_json(slug, description).encode(), HEADERS
    )
    assert status in (200, 201), body


def wait_for_empty_wal(db: Path, timeout: float = 10.0) -> None:
    """An idle service leaves no committed frame in the -wal (emptied after the write, or soon after)."""
    wal = Path(f"{db}-wal")
    deadline = time.monotonic() + timeout
    while wal.exists() and wal.stat().st_size > 0:
        assert time.monotonic() < deadline, f"-wal still holds {wal.stat().st_size} bytes while idle"
        time.sleep(0.05)


def test_offline_restore_after_kill_9_serves_the_backup_not_the_replaced_rows(tmp_path):
    db = tmp_path / "profiles.db"
    make_database(db)
    server = ServeProcess(["--profile-registries", str(db), "--writable"], tmp_path, PROFILE_REGISTRY_TOKEN=TOKEN)
    try:
        put_registry(server, "early")
        wait_for_empty_wal(db)
        copy = tmp_path / "profiles.db.bak.20260101-000000"
        shutil.copyfile(db, copy)  # runbook step 4, while the service runs and is idle
        put_registry(server, "late")  # written after the backup: the restore must take it away
        put_registry(server, "keep", "changed after the backup")
        assert served_registries(server) == {"keep", "early", "late"}
        wait_for_empty_wal(db)
    finally:
        server.proc.kill()  # kill -9: no clean shutdown
        server.proc.wait(timeout=10)
        server.stop()  # the child is gone already: this only closes its log pipe
    shutil.copyfile(copy, db)  # runbook step 5: replace the DB with the known-good backup
    server = ServeProcess(["--profile-registries", str(db)], tmp_path)
    try:
        assert served_registries(server) == {"keep", "early"}
        status, _, body = server.request(
            "GET", "/api/chat/profiles/p0?registry=keep", headers={"Accept": "application/json"}
        )
        assert status == 200 and "changed after the backup" not in body.decode(), body
    finally:
        server.stop()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert sorted(r[0] for r in conn.execute("SELECT slug FROM profile_registries")) == ["early", "keep"]
    finally:
        conn.close()


def test_a_clean_stop_leaves_no_wal_beside_the_database(tmp_path):
    db = tmp_path / "profiles.db"
    make_database(db)
    server = ServeProcess(["--profile-registries", str(db), "--writable"], tmp_path, PROFILE_REGISTRY_TOKEN=TOKEN)
    put_registry(server, "early")
    server.stop()  # SIGTERM
    assert server.proc.returncode == 0, server.log()
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0


def killed_service_files(db: Path, crashed: Path, checkpoint_first: bool) -> sqlite3.Connection:
    """A WAL database with a row in the -wal as a killed service leaves it; returns the writer still open."""
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO profile_registries VALUES ('late', ?, 2)", (registry_json("late"),))
    if checkpoint_first:
        # Checkpointed into the main file but not emptied: a kill between the checkpoint and the truncation.
        writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        writer.execute("INSERT INTO profile_registries VALUES ('later', ?, 3)", (registry_json("later"),))
        writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
    crashed.mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{db}{suffix}", crashed / f"profiles.db{suffix}")
    assert (crashed / "profiles.db-wal").stat().st_size > 0
    return writer


def wal_database(path: Path) -> None:
    make_database(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def test_a_checkpointed_wal_of_a_killed_service_is_not_replayed_over_a_runbook_copy(tmp_path):
    from registry.storage.sqlite_db import target_from_path
    from registry.storage.sqlite_store import SQLiteRegistryStore

    db = tmp_path / "profiles.db"
    wal_database(db)
    backup = tmp_path / "profiles.db.bak.20260101-000000"
    shutil.copyfile(db, backup)  # a runbook cp: a WAL-mode file, like the live one
    crashed = tmp_path / "crashed"
    writer = killed_service_files(db, crashed, checkpoint_first=True)
    writer.close()
    shutil.copyfile(backup, crashed / "profiles.db")  # runbook step 5
    store = SQLiteRegistryStore(target_from_path(crashed / "profiles.db")).open()
    try:
        assert set(store.snapshot().registries) == {"keep"}
    finally:
        store.close()
    moved = sorted(p.name.split(".stale-")[0] for p in crashed.glob("*.stale-*"))
    assert moved == ["profiles.db-shm", "profiles.db-wal"]


def test_a_killed_services_own_checkpointed_wal_is_replayed(tmp_path):
    from registry.storage.sqlite_db import target_from_path
    from registry.storage.sqlite_store import SQLiteRegistryStore

    db = tmp_path / "profiles.db"
    wal_database(db)
    crashed = tmp_path / "crashed"
    writer = killed_service_files(db, crashed, checkpoint_first=True)
    writer.execute("INSERT INTO profile_registries VALUES ('newest', ?, 4)", (registry_json("newest"),))
    for suffix in ("-wal", "-shm"):  # the kill came after one more commit, before its checkpoint
        shutil.copyfile(f"{db}{suffix}", crashed / f"profiles.db{suffix}")
    writer.close()
    store = SQLiteRegistryStore(target_from_path(crashed / "profiles.db")).open()
    try:
        assert set(store.snapshot().registries) == {"keep", "late", "later", "newest"}
    finally:
        store.close()
    assert not list(crashed.glob("*.stale-*"))
