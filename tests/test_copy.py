"""`profile-registry copy SOURCE DEST`: SQLite to PostgreSQL and back, rows unchanged; refusals; --dry-run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
from conftest import registry_payload, write_row

from registry.cli import main
from registry.domain import gojson


def sqlite_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT slug, payload_json, updated_at_ms FROM profile_registries ORDER BY slug").fetchall()
    finally:
        conn.close()


def pg_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            'SELECT slug, payload_json, updated_at_ms FROM profile_registries ORDER BY slug COLLATE "C"'
        ).fetchall()


def test_sqlite_to_postgresql_and_back_keeps_every_byte(tmp_path, pg_url, capsys):
    source = tmp_path / "source.db"
    write_row(source, "team", registry_payload("team", {"a": {"description": "é ✓ \\u00e9"}}), 1_700_000_000_001)
    write_row(source, "ops", gojson.dumps(registry_payload("ops", {"b": {}})), 1_700_000_000_002)
    write_row(source, "broken", "{not json", 5)  # quarantined rows move too, as they are
    assert main(["copy", str(source), pg_url]) == 0
    assert "copied 3 registries (broken, ops, team)" in capsys.readouterr().out
    assert pg_rows(pg_url) == sqlite_rows(source)
    back = tmp_path / "back.db"
    assert main(["copy", pg_url, str(back)]) == 0
    assert sqlite_rows(back) == sqlite_rows(source)


def test_a_destination_with_rows_needs_replace_and_dry_run_writes_nothing(tmp_path, pg_url, capsys):
    source = tmp_path / "source.db"
    write_row(source, "team", registry_payload("team", {"a": {}}), 1)
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
            "updated_at_ms BIGINT NOT NULL DEFAULT 0)"
        )
        conn.execute("INSERT INTO profile_registries VALUES ('old', %s, 9)",
                     (gojson.dumps(registry_payload("old", {"x": {}})),))
    before = pg_rows(pg_url)
    assert main(["copy", str(source), pg_url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds 1 registries; pass --replace" in err[0]
    assert main(["copy", str(source), pg_url, "--replace", "--dry-run"]) == 0
    assert "would copy 1 registries (team)" in capsys.readouterr().out
    assert pg_rows(pg_url) == before
    assert main(["copy", str(source), pg_url, "--replace"]) == 0
    assert pg_rows(pg_url) == sqlite_rows(source)


def test_refusals_are_one_line(tmp_path, capsys):
    yaml_file = tmp_path / "r.yaml"
    yaml_file.write_text("slug: r\nprofiles:\n  a: {}\n", encoding="utf-8")
    assert main(["copy", str(tmp_path / "missing.db"), str(tmp_path / "d.db")]) == 2
    assert "source database" in capsys.readouterr().err and not (tmp_path / "d.db").exists()
    assert main(["copy", str(yaml_file), str(tmp_path / "d.db")]) == 2
    assert "is not a database" in capsys.readouterr().err
