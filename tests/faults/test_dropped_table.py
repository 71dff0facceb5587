"""The table dropped under a running server (runbook troubleshooting row 1, reached with the sqlite3 shell).

The rows loaded before keep being served, `/api/health` says degraded with the reason (never a 500), a write is a
503 naming it, and once the table is back the service reads and writes it without a restart.
"""

from __future__ import annotations

import json
import sqlite3

from ._support import ServeProcess, registry_json

TOKEN = "dropped-table-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": "application/json"}
JSON = {"Accept": "application/json"}
SCHEMA = (
    "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
    "updated_at_ms INTEGER NOT NULL DEFAULT 0)"
)


def shell(db, *statements: str) -> None:  # type: ignore[no-untyped-def]
    """What an operator types into the sqlite3 shell, committed."""
    conn = sqlite3.connect(db)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def get(server: ServeProcess, path: str) -> tuple[int, str]:
    status, _, body = server.request("GET", path, headers=JSON)
    return status, body.decode() if isinstance(body, bytes) else body


def test_a_dropped_table_keeps_the_loaded_rows_served_and_health_says_why(tmp_path):
    db = tmp_path / "profiles.db"
    shell(db, SCHEMA, f"INSERT INTO profile_registries VALUES ('team', '{registry_json('team')}', 1)")
    server = ServeProcess(["--profile-registries", str(db), "--writable"], tmp_path, PROFILE_REGISTRY_TOKEN=TOKEN)
    try:
        status, listed = get(server, "/api/chat/profiles?registry=team")
        assert status == 200, listed

        shell(db, "DROP TABLE profile_registries")
        status, body = get(server, "/api/health")
        assert status == 200, body
        health = json.loads(body)
        assert health["status"] == "degraded"
        assert any("no such table: profile_registries" in p for p in health["problems"]), health["problems"]
        assert "no such table: profile_registries" in health["databases"][0]["unavailable"]
        assert get(server, "/api/chat/profiles?registry=team") == (200, listed)  # the rows loaded before

        status, _, body = server.request("PUT", "/api/registries/other", registry_json("other").encode(), HEADERS)
        assert status == 503, body
        assert "cannot be read" in json.loads(body)["message"]
        assert server.log().count("cannot read the rows of") == 1  # logged once, not per request

        # The operator puts the table back: read and written at once, no restart.
        shell(db, SCHEMA, f"INSERT INTO profile_registries VALUES ('back', '{registry_json('back')}', 2)")
        status, body = get(server, "/api/health")
        assert (status, json.loads(body)["status"]) == (200, "ok"), body
        status, body = get(server, "/api/chat/profiles?registry=back")
        assert status == 200, body
        status, _, body = server.request("PUT", "/api/registries/other", registry_json("other").encode(), HEADERS)
        assert status in (200, 201), body
        assert "can be read again" in server.log()
    finally:
        server.stop()
    assert "Traceback" not in server.log()
