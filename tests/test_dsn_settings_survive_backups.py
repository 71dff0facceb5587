"""A database served through a `sqlite-dsn:` entry keeps its settings through backups and restores.

The DSN's settings (journal mode, busy timeout...) travel whole from the command line, the API and the dashboard
to every connection a backup or a restore opens: a `_journal_mode=DELETE` database is never switched to WAL, and
a restore waits for a busy database exactly as long as the DSN says.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry.cli import main
from registry.storage import backups
from registry.storage.sqlite_db import target_from_dsn
from registry.web.auth import AdminToken

TOKEN = "dsn-admin-token"


def dsn_entry(db: Path, busy_timeout_ms: int = 7000) -> str:
    return f"sqlite-dsn:file:{db}?_journal_mode=DELETE&_busy_timeout={busy_timeout_ms}"


def journal_mode_on_disk(db: Path) -> str:
    """The mode the file itself records (WAL is persistent: a plain connection reports it; DELETE is the default)."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def delete_mode_db(tmp_path: Path) -> Path:
    db = tmp_path / "data" / "profiles.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE profile_registries "
        "(slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, updated_at_ms INTEGER NOT NULL DEFAULT 0)"
    )
    conn.close()
    write_row(db, "default", registry_payload("default", {"p": {}}), 1_000)
    assert journal_mode_on_disk(db) == "delete"
    return db


def post(url: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, method="POST", data=b"", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.status, json.load(response)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_api_backup_and_restore_keep_delete_mode_and_busy_timeout(delete_mode_db, make_app, live_server, tmp_path):
    app = make_app(
        dsn_entry(delete_mode_db),
        WRITABLE=True,
        ADMIN_TOKENS=[AdminToken("ops", TOKEN)],
        BACKUP_DIR=str(tmp_path / "s"),
    )
    server = live_server(app)
    status, created = post(server.url + "/api/backups")
    assert status == 201
    assert journal_mode_on_disk(delete_mode_db) == "delete"
    status, restored = post(server.url + f"/api/backups/{created['name']}/restore")
    assert status == 200 and restored["restored"]["name"] == created["name"]
    assert journal_mode_on_disk(delete_mode_db) == "delete"
    assert not Path(f"{delete_mode_db}-wal").exists()
    health = get(server.url + "/api/health")
    assert (health["journal_mode"], health["busy_timeout_ms"]) == ("delete", 7000)


def test_dashboard_backup_and_restore_keep_delete_mode(delete_mode_db, make_app, tmp_path):
    app = make_app(
        dsn_entry(delete_mode_db),
        WRITABLE=True,
        ADMIN_TOKENS=[AdminToken("ops", TOKEN)],
        BACKUP_DIR=str(tmp_path / "s"),
    )
    client = app.test_client()
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    login_page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"token": TOKEN, "csrf_token": csrf.search(login_page).group(1), "next": "/"})
    token = csrf.search(client.get("/").get_data(as_text=True)).group(1)
    assert client.post("/backups", data={"csrf_token": token}).status_code == 303
    assert journal_mode_on_disk(delete_mode_db) == "delete"
    (snapshot,) = backups.list_snapshots(
        target_from_dsn(dsn_entry(delete_mode_db)[len("sqlite-dsn:") :]), tmp_path / "s"
    )
    page = client.get(f"/backups/{snapshot.name}/restore").get_data(as_text=True)
    response = client.post(f"/backups/{snapshot.name}/restore", data={"csrf_token": csrf.search(page).group(1)})
    assert response.status_code == 303
    assert "Restored from" in client.get("/").get_data(as_text=True)
    assert journal_mode_on_disk(delete_mode_db) == "delete"


def test_cli_backup_and_restore_keep_delete_mode(delete_mode_db, capsys):
    entry = dsn_entry(delete_mode_db)
    assert main(["backup", "--profile-registries", entry]) == 0
    snapshot = Path(capsys.readouterr().out.strip())
    assert journal_mode_on_disk(delete_mode_db) == "delete"
    write_row(delete_mode_db, "default", registry_payload("default", {"later": {}}), 2_000)
    assert main(["restore", snapshot.name, "--profile-registries", entry]) == 0
    assert journal_mode_on_disk(delete_mode_db) == "delete"
    assert backups.live_registries(target_from_dsn(entry[len("sqlite-dsn:") :])) == {"default": 1_000}


def test_cli_restore_waits_for_a_busy_database_only_as_long_as_the_dsn_says(delete_mode_db, capsys):
    """With `_busy_timeout=100` a restore into a database another process is writing gives up fast, changing nothing."""
    entry = dsn_entry(delete_mode_db, busy_timeout_ms=100)
    assert main(["backup", "--profile-registries", entry]) == 0
    snapshot = Path(capsys.readouterr().out.strip())
    write_row(delete_mode_db, "default", registry_payload("default", {"later": {}}), 2_000)
    other_writer = sqlite3.connect(delete_mode_db, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        start = time.monotonic()
        assert main(["restore", snapshot.name, "--profile-registries", entry]) == 1
        elapsed = time.monotonic() - start
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()
    assert "locked" in capsys.readouterr().err
    # The default busy timeout is 5 s: a restore that dropped the DSN's 100 ms would wait that long.
    assert elapsed < 3, elapsed
    assert journal_mode_on_disk(delete_mode_db) == "delete"
    assert backups.live_registries(target_from_dsn(entry[len("sqlite-dsn:") :])) == {"default": 2_000}
