"""`profile-registry import` / `export`: the reference's YAML format, through the admin write path."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import yaml
from conftest import registry_payload, write_row

from registry.cli import main


def row(db: Path, slug: str) -> tuple[str, int] | None:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT payload_json, updated_at_ms FROM profile_registries WHERE slug = ?", (slug,)
        ).fetchone()
    finally:
        conn.close()


def export(db: Path, slug: str, capsys) -> str:
    assert main(["export", slug, "--profile-registries", str(db)]) == 0
    return capsys.readouterr().out


def test_round_trip_into_a_new_database(seeded_db, tmp_path, capsys):
    text = export(seeded_db, "default", capsys)
    doc = yaml.safe_load(text)
    assert doc["slug"] == "default" and set(doc["profiles"]) == {"analyst", "default"}
    assert "default_profile_slug" not in doc and "slug" not in doc["profiles"]["analyst"]
    file = tmp_path / "default.yaml"
    file.write_text(text, encoding="utf-8")
    fresh = tmp_path / "fresh.db"
    assert main(["import", str(file), "--profile-registries", str(fresh)]) == 0
    assert 'created registry "default" with 2 profile(s): analyst, default' in capsys.readouterr().out
    assert export(fresh, "default", capsys) == text
    original = json.loads(row(seeded_db, "default")[0])
    copied = json.loads(row(fresh, "default")[0])
    assert copied["profiles"] == original["profiles"]
    assert copied["metadata"]["source"] == "import" and copied["metadata"]["version"] == 1


def test_dry_run_shows_the_change_and_writes_nothing(seeded_db, tmp_path, capsys):
    doc = yaml.safe_load(export(seeded_db, "default", capsys))
    doc["profiles"]["analyst"]["description"] = "changed"
    doc["profiles"]["extra"] = {"display_name": "Extra"}
    del doc["profiles"]["default"]["extensions"]["webchat.starter_suggestions@v1"]
    doc["profiles"]["analyst"].pop("stack")
    file = tmp_path / "edit.yaml"
    file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    before = row(seeded_db, "default")
    assert main(["import", str(file), "--dry-run", "--profile-registries", str(seeded_db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith('dry run, nothing written: would replace registry "default" (version 1 -> 2)')
    assert "profiles added:   extra" in out
    assert "profiles changed: analyst, default" in out
    assert row(seeded_db, "default") == before
    assert main(["import", str(file), "--profile-registries", str(seeded_db)]) == 0
    assert capsys.readouterr().out.startswith('replaced registry "default" (version 1 -> 2)')
    stored = json.loads(row(seeded_db, "default")[0])
    assert stored["profiles"]["analyst"]["description"] == "changed" and "extra" in stored["profiles"]


def test_import_validates_extension_schemas(seeded_db, tmp_path, capsys):
    file = tmp_path / "bad.yaml"
    file.write_text(
        "slug: default\nprofiles:\n  default:\n    extensions:\n      pinocchio.webchat_runtime@v1:\n"
        "        middlewares:\n          - name: agentmode\n            config: {default_mode: 3}\n",
        encoding="utf-8",
    )
    before = row(seeded_db, "default")
    assert main(["import", str(file), "--profile-registries", str(seeded_db)]) == 1
    err = capsys.readouterr().err
    assert "/profiles/default/extensions/pinocchio.webchat_runtime@v1/middlewares/0/config/default_mode" in err
    assert "3 is not of type 'string'" in err
    assert row(seeded_db, "default") == before


def test_import_refuses_a_dangling_cross_registry_ref(seeded_db, tmp_path, capsys):
    file = tmp_path / "team.yaml"
    file.write_text("slug: team\nprofiles:\n  a:\n    stack:\n      - {registry_slug: default, profile_slug: nope}\n",
                    encoding="utf-8")
    assert main(["import", str(file), "--dry-run", "--profile-registries", str(seeded_db)]) == 1
    assert 'referenced profile "nope" not found in registry "default"' in capsys.readouterr().err
    assert row(seeded_db, "team") is None
    file.write_text(
        "slug: team\nprofiles:\n  a:\n    stack:\n      - {registry_slug: default, profile_slug: analyst}\n",
        encoding="utf-8",
    )
    assert main(["import", str(file), "--profile-registries", str(seeded_db)]) == 0
    assert json.loads(row(seeded_db, "team")[0])["default_profile_slug"] == "a"


def test_import_bad_yaml_is_a_one_line_error(seeded_db, tmp_path, capsys):
    file = tmp_path / "bad.yaml"
    file.write_text("slug: default\ndefault_profile_slug: x\n", encoding="utf-8")
    assert main(["import", str(file), "--profile-registries", str(seeded_db)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not support default_profile_slug" in err


def test_import_into_a_yaml_sourced_registry_is_refused(tmp_path, capsys):
    source = tmp_path / "team.yaml"
    source.write_text("slug: team\nprofiles:\n  a: {}\n", encoding="utf-8")
    db = tmp_path / "main.db"
    write_row(db, "default", registry_payload("default", {"x": {}}))
    assert main(["import", str(source), "--profile-registries", f"{db},{source}"]) == 1
    assert "store is read-only" in capsys.readouterr().err


def test_export_unknown_registry_and_default_note(seeded_db, tmp_path, capsys):
    assert main(["export", "nope", "--profile-registries", str(seeded_db)]) == 1
    assert "registry not found" in capsys.readouterr().err
    write_row(seeded_db, "team", registry_payload("team", {"a": {}, "b": {}}, default="b"))
    out_file = tmp_path / "team.yaml"
    assert main(["export", "team", "-o", str(out_file), "--profile-registries", str(seeded_db)]) == 0
    assert 'makes "a" the default' in capsys.readouterr().err
    assert yaml.safe_load(out_file.read_text(encoding="utf-8"))["slug"] == "team"
