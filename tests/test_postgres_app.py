"""A PostgreSQL source behind the whole app: read routes, dashboard, health, backups without a folder, and `inspect`."""

from __future__ import annotations

import json

import psycopg
from conftest import registry_payload

from registry.cli import main
from registry.domain import gojson
from registry.web.app_state import app_state


def test_read_routes_dashboard_and_health_on_postgresql(pg_url, make_app):
    app = make_app(pg_url)
    store = app_state(app).service.store_sources()[0].store
    store.put_payload("team", gojson.dumps(registry_payload("team", {"a": {"description": "on pg"}})), 42)
    client = app.test_client()
    assert client.get("/api/chat/profiles/a?registry=team").get_json()["description"] == "on pg"
    assert [p["slug"] for p in client.get("/api/chat/profiles?registry=team").get_json()] == ["a", "mock_parity"]
    for page in ("/", "/registries/team", "/registries/team/profiles/a", "/schemas"):
        assert client.get(page).status_code == 200, page
    health = client.get("/api/health").get_json()
    assert health["status"] == "ok"
    database = health["databases"][0]
    assert database["path"] == app_state(app).service.store_sources()[0].label
    assert database["settings"]["change_detection"] == "listen/notify"
    # A PostgreSQL database has no folder beside it: without BACKUP_DIR the backup API says where to set one.
    backups = client.get("/api/backups")
    assert backups.status_code == 409 and "BACKUP_DIR" in backups.get_json()["message"]
    assert "No backup folder" in client.get("/").get_data(as_text=True)


def test_inspect_reads_every_row_of_a_postgresql_source(pg_url, capsys):
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
            "updated_at_ms BIGINT NOT NULL DEFAULT 0)"
        )
        conn.execute("INSERT INTO profile_registries VALUES ('team', %s, 7)",
                     (gojson.dumps(registry_payload("team", {"a": {}})),))
        conn.execute("""INSERT INTO profile_registries VALUES ('bad', '{"slug":"bad","profiles":[1]}', 8)""")
    assert main(["inspect", "--profile-registries", pg_url, "--json"]) == 1
    rows = {r["slug"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["team"]["ok"] is True and rows["team"]["updated_at_ms"] == 7
    assert rows["bad"]["ok"] is False and rows["bad"]["updated_at_ms"] == 8
