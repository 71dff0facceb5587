"""registry.service.registry_service: the default database is created and seeded once, then never touched again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import registry_payload, write_row

from registry import create_app
from registry.web.app_state import app_state


def rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT slug, payload_json, updated_at_ms FROM profile_registries").fetchall()
    finally:
        conn.close()


def test_default_database_is_created_and_seeded_with_a_stacked_example(tmp_path: Path):
    path = tmp_path / "data" / "profiles.db"
    app = create_app({"DEFAULT_DATABASE": str(path)})
    try:
        items = app.test_client().get("/api/chat/profiles").get_json()
        assert {i["slug"] for i in items} == {"default", "analyst", "mock_parity"}
        analyst = app.test_client().get("/api/chat/profiles/analyst").get_json()
        assert analyst["registry"] == "default"
    finally:
        app_state(app).service.chain.close()
    (slug, payload, _), = rows(path)
    assert slug == "default" and '"stack":[{"profile_slug":"default"}]' in payload
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_existing_default_database_is_never_reseeded(tmp_path: Path):
    path = tmp_path / "data" / "profiles.db"
    app_state(create_app({"DEFAULT_DATABASE": str(path)})).service.chain.close()
    write_row(path, "default", registry_payload("default", {"mine": {}}))
    before = rows(path)
    app = create_app({"DEFAULT_DATABASE": str(path)})
    try:
        assert {i["slug"] for i in app.test_client().get("/api/chat/profiles").get_json()} == {"mine", "mock_parity"}
    finally:
        app_state(app).service.chain.close()
    assert rows(path) == before


def test_emptied_default_database_stays_empty(tmp_path: Path):
    path = tmp_path / "data" / "profiles.db"
    app_state(create_app({"DEFAULT_DATABASE": str(path)})).service.chain.close()
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM profile_registries")
    conn.commit()
    conn.close()
    app_state(create_app({"DEFAULT_DATABASE": str(path)})).service.chain.close()
    assert rows(path) == []
