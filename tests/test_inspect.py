"""registry.storage.row_inspection and `profile-registry inspect`: row listing and where a bad payload breaks."""

from __future__ import annotations

import json

from conftest import registry_payload, write_row

from registry.cli import main
from registry.storage.row_inspection import excerpt, inspect_database, inspect_payload, value_offsets
from registry.storage.sqlite_db import target_from_path


def test_rows_are_listed_with_slug_time_and_size(db_path):
    good = json.dumps(registry_payload("default", {"a": {}}))
    write_row(db_path, "default", good, 1_760_000_000_123)
    write_row(db_path, "team", json.dumps(registry_payload("team", {"b": {}})), 5)
    reports = inspect_database(target_from_path(db_path))
    assert [(r.slug, r.updated_at_ms, r.size, r.ok) for r in reports] == [
        ("default", 1_760_000_000_123, len(good.encode()), True),
        ("team", 5, len(json.dumps(registry_payload("team", {"b": {}})).encode()), True),
    ]


def test_truncated_json_points_at_the_end():
    text = '{"slug":"default","profiles":'
    error, where = inspect_payload("default", text)
    assert error.startswith("payload_json is not valid JSON: Expecting value")
    assert (where.line, where.column, where.offset) == (1, len(text) + 1, len(text))
    assert where.excerpt == text + "\n" + " " * len(text) + "^"


def test_syntax_error_on_a_later_line():
    text = '{\n  "slug": "default",\n  "profiles": {,}\n}'
    error, where = inspect_payload("default", text)
    assert "Expecting property name" in error
    assert (where.line, where.column) == (3, 16)
    assert where.excerpt.splitlines() == ['  "profiles": {,}', " " * 15 + "^"]


def test_validation_error_points_at_the_bad_value_in_the_right_profile():
    payload = registry_payload("default", {"a": {}, "b": {"stack": [{"profile_slug": "Not A Slug"}]}})
    text = json.dumps(payload, indent=2)
    error, where = inspect_payload("default", text)
    assert "Not A Slug" in error
    assert where.path == "$.profiles.b.stack[0].profile_slug"
    line = text.splitlines()[where.line - 1]
    assert line[where.column - 1 :].startswith('"Not A Slug"')


def test_a_profile_level_validation_error_names_its_profile():
    payload = registry_payload("default", {"a": {}, "b": {"extensions": {"not a key": 1}}})
    error, where = inspect_payload("default", json.dumps(payload))
    assert error.startswith("validation error (profile.extensions[not a key])")
    assert where.path == "$.profiles.b.extensions.not a key"


def test_missing_default_points_at_the_field_and_a_type_error_at_its_value():
    error, where = inspect_payload(
        "default", json.dumps({"slug": "default", "default_profile_slug": "zz", "profiles": {"a": {"slug": "a"}}})
    )
    assert "default profile does not exist" in error
    assert where.path == "$.default_profile_slug"
    text = '{"slug": "default", "profiles": {"a": {"slug": "a", "display_name": 5}}}'
    error, where = inspect_payload("default", text)
    assert error == "/profiles/a/display_name: the number 5 cannot be decoded into Go string"
    assert where.path == "$.profiles.a.display_name" and where.column == text.index(": 5") + 3


def test_slug_mismatch_is_reported():
    error, _ = inspect_payload("team", json.dumps(registry_payload("default", {})))
    assert 'slug mismatch payload="default" row="team"' in error


def test_value_offsets_and_excerpt_of_a_long_line():
    text = '{"a": [1, {"b": "x"}], "c": null}'
    offsets = value_offsets(text)
    assert text[offsets[("a", 1, "b")] :].startswith('"x"')
    assert text[offsets[("c",)] :].startswith("null")
    line, column, shown = excerpt("x" * 200 + "!" + "y" * 200, 200, width=20)
    assert (line, column) == (1, 201)
    first, caret = shown.splitlines()
    assert first.startswith("...") and first.endswith("...")
    assert first[caret.index("^")] == "!"


def test_cli_inspect_prints_the_table_and_the_caret(db_path, capsys):
    write_row(db_path, "default", json.dumps(registry_payload("default", {"a": {}})), 7)
    write_row(db_path, "broken", '{"slug":"broken","profiles":', 8)
    assert main(["inspect", "--db", str(db_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["SLUG", "UPDATED_AT_MS", "SIZE", "STATUS"]
    assert out[1].split()[:4] == ["broken", "8", "28", "BAD:"]
    assert "at line 1, column 29" in out[2]
    assert out[3].strip() == '{"slug":"broken","profiles":'
    assert out[4].index("^") - out[3].index("{") == 28
    assert out[5].split()[:4] == ["default", "7", str(len(json.dumps(registry_payload("default", {"a": {}})))), "ok"]
    assert "1 bad row(s): broken" in out[6]
    assert main(["inspect", "--db", str(db_path), "--slug", "default", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["slug"], r["ok"], r["location"]) for r in rows] == [("default", True, None)]


def test_cli_inspect_on_a_missing_database_is_one_line(tmp_path, capsys):
    assert main(["inspect", "--db", str(tmp_path / "nope.db")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"profile-registry inspect: error: database {tmp_path / 'nope.db'} does not exist"]
    assert not (tmp_path / "nope.db").exists()
