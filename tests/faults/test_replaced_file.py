"""A database replaced with `mv` under a running server is noticed (its identity changes) and reopened."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from ._support import ServeProcess, registry_json

TOKEN = "replaced-file-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": "application/json"}
SCHEMA = (
    "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
    "updated_at_ms INTEGER NOT NULL DEFAULT 0)"
)


def make_database(path: Path, *slugs: str, extra_sql: str = "") -> None:
    conn = sqlite3.connect(path)
    conn.execute(SCHEMA)
    for slug in slugs:
        conn.execute("INSERT INTO profile_registries VALUES (?, ?, 1)", (slug, registry_json(slug)))
    if extra_sql:
        conn.execute(extra_sql)
    conn.commit()
    conn.close()


def served(server: ServeProcess) -> set[str]:
    status, _, body = server.request("GET", "/api/chat/profiles", headers={"Accept": "application/json"})
    assert status == 200, body
    return {item["registry"] for item in json.loads(body)}


def eventually(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_reads_follow_a_database_replaced_with_mv(tmp_path):
    db = tmp_path / "profiles.db"
    make_database(db, "old")
    server = ServeProcess(["--profile-registries", str(db), "--writable"], tmp_path, PROFILE_REGISTRY_TOKEN=TOKEN)
    try:
        assert served(server) == {"old"}
        replacement = tmp_path / "new.db"
        make_database(replacement, "new")
        os.replace(replacement, db)  # mv new.db profiles.db
        assert eventually(lambda: served(server) == {"new"}), served(server)
        status, _, body = server.request("PUT", "/api/registries/written", registry_json("written").encode(), HEADERS)
        assert status in (200, 201), body
        assert served(server) == {"new", "written"}
        status, _, body = server.request("GET", "/api/health", headers={"Accept": "application/json"})
        assert json.loads(body)["status"] == "ok"
        assert "replaced by another file" in server.log()
    finally:
        server.stop()
    conn = sqlite3.connect(db)
    try:
        assert sorted(r[0] for r in conn.execute("SELECT slug FROM profile_registries")) == ["new", "written"]
    finally:
        conn.close()


def test_a_replacement_with_a_trigger_is_served_read_only(tmp_path):
    db = tmp_path / "profiles.db"
    make_database(db, "old")
    server = ServeProcess(["--profile-registries", str(db), "--writable"], tmp_path, PROFILE_REGISTRY_TOKEN=TOKEN)
    try:
        assert served(server) == {"old"}
        replacement = tmp_path / "new.db"
        make_database(
            replacement,
            "new",
            extra_sql="CREATE TRIGGER eat AFTER UPDATE ON profile_registries BEGIN DELETE FROM profile_registries; END",
        )
        os.replace(replacement, db)
        assert eventually(lambda: served(server) == {"new"}), server.log()
        status, _, body = server.request("PUT", "/api/registries/new", registry_json("new", "x").encode(), HEADERS)
        assert status == 403, body
        assert "extra trigger 'eat'" in json.loads(body)["message"]
        assert served(server) == {"new"}  # the trigger never ran
    finally:
        server.stop()


def test_reads_look_at_the_path_at_most_once_per_recheck_interval(tmp_path, monkeypatch):
    """The hot read path does not stat() the file per request (it released the GIL on every read), yet an `mv`
    is still seen by a read within READ_RECHECK_SECONDS and by the very next write."""
    from registry.domain.model import decode_registry
    from registry.storage import file_identity
    from registry.storage.sqlite_db import target_from_path
    from registry.storage.sqlite_store import SQLiteRegistryStore

    db = tmp_path / "profiles.db"
    make_database(db, "old")
    looks: list[Path] = []
    real_identity = file_identity.identity
    monkeypatch.setattr(file_identity, "identity", lambda path: looks.append(path) or real_identity(path))
    store = SQLiteRegistryStore(target_from_path(db)).open()
    try:
        looks.clear()
        for _ in range(200):
            assert set(store.snapshot().registries) == {"old"}
        assert len(looks) <= 1, f"{len(looks)} stat() calls for 200 reads"

        replacement = tmp_path / "new.db"
        make_database(replacement, "new")
        os.replace(replacement, db)
        looks.clear()
        with store.write("written") as tx:  # a write looks at once: it must not land in a file nobody reads
            tx.put(decode_registry(json.loads(registry_json("written"))))
        assert looks, "the write did not look at the path"
        assert set(store.snapshot().registries) == {"new", "written"}

        os.replace(tmp_path / "profiles.db", tmp_path / "kept.db")
        make_database(replacement, "third")
        os.replace(replacement, db)
        recheck = file_identity.READ_RECHECK_SECONDS
        assert eventually(lambda: set(store.snapshot().registries) == {"third"}, timeout=5 * recheck)
    finally:
        store.close()
