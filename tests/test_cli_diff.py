"""`profile-registry diff SNAPSHOT [OTHER]` on real database files: text, --json, two snapshots, refusals."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from conftest import write_row
from registry_data import default_registry, team_registry

from registry.cli import main
from registry.storage import backups
from registry.storage.sqlite_db import target_from_path


def database(tmp_path: Path) -> Path:
    path = tmp_path / "profiles.db"
    write_row(path, "default", default_registry(), 1_790_000_000_000)
    write_row(path, "team", team_registry(), 1_790_000_000_001)
    return path


def edited_default() -> dict:
    """`default` after a day of edits: beta's engine changed, a profile added, the default moved."""
    payload = copy.deepcopy(default_registry())
    payload["profiles"]["beta"]["inference_settings"]["Chat"]["Engine"] = "gpt-y"
    payload["profiles"]["delta"] = {"slug": "delta", "display_name": "Delta", "metadata": {}}
    payload["default_profile_slug"] = "delta"
    return payload


def test_diff_against_live_lists_each_change_per_registry_and_profile(tmp_path, capsys):
    db = database(tmp_path)
    snapshot = backups.create_backup(target_from_path(db))
    write_row(db, "default", edited_default(), 1_800_000_000_000)
    assert main(["diff", snapshot.name, "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"--- live {db}"
    assert out[1] == f"+++ snapshot {snapshot.name}"
    assert out[2:] == [
        "registry default: changed (updated_at_ms 1800000000000 -> 1790000000000)",
        '    /default_profile_slug: "delta" -> "alpha"',
        "  profile beta: changed",
        '      /inference_settings/Chat/Engine: "gpt-y" -> "gpt-x"',
        "  profile delta: removed",
        '    - /slug: "delta"',
        '    - /display_name: "Delta"',
        "    - /metadata: {}",
        "registry team: same",
        "1 of 2 registries differ",
    ]


def test_diff_json_is_the_whole_diff_with_secrets_redacted(tmp_path, capsys):
    db = database(tmp_path)
    snapshot = backups.create_backup(target_from_path(db))
    live = edited_default()
    live["profiles"]["beta"]["extensions"]["pinocchio.oauth@v1"]["access_token"] = "NEW-SECRET-TOKEN"
    write_row(db, "default", live, 1_800_000_000_000)
    assert main(["diff", snapshot.name, "--db", str(db), "--json"]) == 0
    text = capsys.readouterr().out
    assert "NEW-SECRET-TOKEN" not in text
    body = json.loads(text)
    assert body["before"] == {"kind": "live", "name": str(db), "path": str(db)}
    assert body["after"]["name"] == snapshot.name
    [default, team] = body["registries"]
    assert team == {
        "slug": "team",
        "change": "same",
        "before_updated_at_ms": 1_790_000_000_001,
        "after_updated_at_ms": 1_790_000_000_001,
        "fields": [],
        "profiles": [],
        "problem": None,
    }
    beta = next(p for p in default["profiles"] if p["slug"] == "beta")
    assert {
        "path": "/extensions/pinocchio.oauth@v1/access_token",
        "op": "replace",
        "before": "<redacted>",
        "after": "<redacted>",
    } in beta["fields"]


def test_diff_between_two_snapshots_goes_from_other_to_snapshot(tmp_path, capsys):
    db = database(tmp_path)
    old = backups.create_backup(target_from_path(db))
    write_row(db, "team", {"slug": "team", "metadata": {}}, 1_800_000_000_000)
    new = backups.create_backup(target_from_path(db))
    assert main(["diff", old.name, new.name, "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"--- snapshot {new.name}", f"+++ snapshot {old.name}"]
    assert "registry team: changed (updated_at_ms 1800000000000 -> 1790000000001)" in out
    assert "  profile gamma: added" in out and '    + /slug: "gamma"' in out


def test_diff_refuses_an_unknown_name_and_a_file_that_is_no_database(tmp_path, capsys):
    db = database(tmp_path)
    assert main(["diff", "profiles.db.bak.20200101-000000", "--db", str(db)]) == 1
    assert capsys.readouterr().err.strip() == (
        "profile-registry diff: error: no snapshot named 'profiles.db.bak.20200101-000000'"
    )
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"x" * 4096)
    assert main(["diff", str(junk), "--db", str(db)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("profile-registry diff: error: junk.bin: not a usable registry database:"), err
