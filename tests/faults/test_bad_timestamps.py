"""A row whose updated_at_ms is text or infinite is quarantined like any bad row: serve starts, the list answers,
health and `inspect` name it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from ._support import START_TIMEOUT, ServeProcess, child_env, registry_json

SCHEMA = (
    "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
    "updated_at_ms INTEGER NOT NULL DEFAULT 0)"
)


def put(db: Path, slug: str, updated_at_ms: object) -> None:
    """As an operator would with the sqlite3 shell: `UPDATE ... SET updated_at_ms = 'yesterday'` (or 9e999)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "INSERT OR REPLACE INTO profile_registries VALUES (?, ?, ?)", (slug, registry_json(slug), updated_at_ms)
        )
        conn.commit()
    finally:
        conn.close()


def test_text_and_infinite_timestamps_are_quarantined_at_start_and_at_run_time(tmp_path):
    db = tmp_path / "profiles.db"
    conn = sqlite3.connect(db)
    conn.execute(SCHEMA)
    conn.close()
    put(db, "good", 1_760_000_000_000)
    put(db, "texty", "yesterday")
    server = ServeProcess(["--profile-registries", str(db)], tmp_path)
    try:
        status, _, body = server.request("GET", "/api/chat/profiles")
        assert status == 200, body
        assert {item["registry"] for item in json.loads(body)} >= {"good"}
        put(db, "endless", float("inf"))  # appears while the service runs
        status, _, body = server.request("GET", "/api/chat/profiles")
        assert status == 200, body
        status, _, body = server.request("GET", "/api/health")
        health = json.loads(body)
        assert health["status"] == "degraded"
        assert {q["slug"]: q["reason"] for q in health["quarantined"]} == {
            "endless": "updated_at_ms is not an integer: inf",
            "texty": "updated_at_ms is not an integer: 'yesterday'",
        }
        assert "Traceback" not in server.log()
    finally:
        server.stop()
    inspect = subprocess.run(
        [sys.executable, "-m", "registry", "inspect", "--db", str(db)],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=START_TIMEOUT, check=False,
    )
    assert inspect.returncode == 1, inspect.stderr
    assert "BAD: updated_at_ms is not an integer: inf" in inspect.stdout
    assert "BAD: updated_at_ms is not an integer: 'yesterday'" in inspect.stdout
    assert "2 bad row(s): endless, texty" in inspect.stdout
