"""`profile-registry copy SOURCE DEST`: SQLite to PostgreSQL and back, rows unchanged; refusals; --dry-run; --replace
keeps a safety snapshot of the destination first."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
from conftest import registry_payload, write_row

from registry.cli import main
from registry.domain import gojson
from registry.storage import backups


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
    folder = tmp_path / "snapshots"
    assert main(["copy", str(source), pg_url, "--replace", "--dry-run", "--backup-dir", str(folder)]) == 0
    assert "would copy 1 registries (team)" in capsys.readouterr().out
    assert pg_rows(pg_url) == before and not folder.exists()
    assert main(["copy", str(source), pg_url, "--replace", "--backup-dir", str(folder)]) == 0
    assert pg_rows(pg_url) == sqlite_rows(source)


def only_snapshot(folder: Path, base: str) -> Path:
    """The one snapshot (with its manifest) in `folder` named after `base`."""
    snapshots = [p for p in folder.iterdir() if p.name.startswith(f"{base}.bak.") and not p.name.endswith(".json")]
    assert len(snapshots) == 1, sorted(p.name for p in folder.iterdir())
    assert (folder / f"{snapshots[0].name}.manifest.json").is_file()
    return snapshots[0]


def test_replace_of_a_postgresql_destination_keeps_its_rows_in_a_safety_snapshot_first(tmp_path, pg_url, capsys):
    source = tmp_path / "source.db"
    write_row(source, "team", registry_payload("team", {"a": {}}), 1)
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
            "updated_at_ms BIGINT NOT NULL DEFAULT 0)"
        )
        conn.execute("INSERT INTO profile_registries VALUES ('old', %s, 9)",
                     (gojson.dumps(registry_payload("old", {"x": {"description": "kept é"}})),))
    before = pg_rows(pg_url)
    # No folder of its own: refused before anything is written, one line naming the option.
    assert main(["copy", str(source), pg_url, "--replace"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--backup-dir" in err[0] and "safety snapshot" in err[0]
    assert pg_rows(pg_url) == before
    folder = tmp_path / "snapshots"
    assert main(["copy", str(source), pg_url, "--replace", "--backup-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    snapshot = only_snapshot(folder, pg_url.rsplit("/", 1)[1])
    assert f"safety snapshot of the previous state: {snapshot}" in out
    assert sqlite_rows(snapshot) == before  # the replaced rows, byte for byte
    backups.verify_snapshot(snapshot)
    assert pg_rows(pg_url) == sqlite_rows(source)


def test_replace_of_a_sqlite_destination_keeps_its_rows_beside_it_first(tmp_path, pg_url, capsys):
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
            "updated_at_ms BIGINT NOT NULL DEFAULT 0)"
        )
        conn.execute("INSERT INTO profile_registries VALUES ('team', %s, 3)",
                     (gojson.dumps(registry_payload("team", {"a": {}})),))
    dest = tmp_path / "dest" / "live.db"
    dest.parent.mkdir()
    # 16 KiB pages, as the service creates its databases (a WAL database cannot take another page size in place).
    conn = sqlite3.connect(dest)
    conn.execute("PRAGMA page_size=16384")
    conn.execute("CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
                 "updated_at_ms INTEGER NOT NULL DEFAULT 0)")
    conn.close()
    write_row(dest, "old", registry_payload("old", {"x": {}}), 7)
    write_row(dest, "broken", "{not json", 8)  # a bad live row is kept in the safety snapshot as it is
    before = sqlite_rows(dest)
    assert main(["copy", pg_url, str(dest), "--replace"]) == 0
    snapshot = only_snapshot(dest.parent, "live.db")
    assert f"safety snapshot of the previous state: {snapshot}" in capsys.readouterr().out
    assert sqlite_rows(snapshot) == before
    assert sqlite_rows(dest) == pg_rows(pg_url)


def test_refusals_are_one_line(tmp_path, capsys):
    yaml_file = tmp_path / "r.yaml"
    yaml_file.write_text("slug: r\nprofiles:\n  a: {}\n", encoding="utf-8")
    assert main(["copy", str(tmp_path / "missing.db"), str(tmp_path / "d.db")]) == 2
    assert "source database" in capsys.readouterr().err and not (tmp_path / "d.db").exists()
    assert main(["copy", str(yaml_file), str(tmp_path / "d.db")]) == 2
    assert "is not a database" in capsys.readouterr().err
