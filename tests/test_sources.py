"""registry.storage.sources: `--profile-registries` entry parsing (§3.2) and the YAML registry format (§3.3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from registry.domain.errors import StartupError
from registry.storage.sources import (
    SourceSpec,
    SQLiteSource,
    YAMLSource,
    load_yaml_registry,
    open_source,
    parse_entries,
    parse_entry,
    split_entries,
)

# --- splitting the flag ---------------------------------------------------------------------------------------


def test_comma_separated_value_is_split_trimmed_and_blanks_dropped():
    assert split_entries([" a.yaml, b.db ,sqlite-dsn:file:test.db "]) == ["a.yaml", "b.db", "sqlite-dsn:file:test.db"]
    assert split_entries(["a.yaml,,  ,b.db"]) == ["a.yaml", "b.db"]
    assert split_entries(["   "]) == []


def test_flag_is_repeatable_and_keeps_order():
    assert split_entries(["one.db", "two.yaml,three.db"]) == ["one.db", "two.yaml", "three.db"]


def test_csv_quoting_keeps_a_comma_inside_an_entry():
    assert split_entries(['"yaml:dir,with,commas/r.yaml",b.db']) == ["yaml:dir,with,commas/r.yaml", "b.db"]


# --- entry forms -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry, kind, location",
    [
        ("yaml://./x.yaml", "yaml", "./x.yaml"),
        ("yaml:./x.yaml", "yaml", "./x.yaml"),
        ("yaml:x.db", "yaml", "x.db"),  # the prefix wins over the suffix
        ("sqlite:./p", "sqlite", "./p"),
        ("sqlite-dsn:file:./p.db?_journal_mode=WAL", "sqlite-dsn", "file:./p.db?_journal_mode=WAL"),
        ("./missing.db", "sqlite", "./missing.db"),
        ("./MISSING.SQLITE", "sqlite", "./MISSING.SQLITE"),
        ("x.sqlite3", "sqlite", "x.sqlite3"),
        ("./registry.yaml", "yaml", "./registry.yaml"),
        ("no-such-file", "yaml", "no-such-file"),
    ],
)
def test_entry_forms_in_the_reference_order(entry, kind, location):
    spec = parse_entry(entry)
    assert (spec.kind, spec.location) == (kind, location)


def test_header_sniffing_detects_sqlite_without_suffix(tmp_path: Path):
    db_file = tmp_path / "registry-store"
    sqlite3.connect(db_file).execute("CREATE TABLE t (x)").connection.close()
    assert parse_entry(str(db_file)).kind == "sqlite"
    text_file = tmp_path / "registry-text"
    text_file.write_text("slug: default\n")
    assert parse_entry(str(text_file)).kind == "yaml"
    short = tmp_path / "short"
    short.write_bytes(b"SQLite")
    assert parse_entry(str(short)).kind == "yaml"


@pytest.mark.parametrize(
    "entry, message",
    [
        ("yaml:", "yaml profile registry source path is empty"),
        ("yaml://  ", "yaml profile registry source path is empty"),
        ("sqlite:", "sqlite profile registry source path is empty"),
        ("sqlite-dsn:", "sqlite-dsn profile registry source is empty"),
    ],
)
def test_empty_remainder_errors_are_wrapped_with_the_index(entry, message):
    with pytest.raises(StartupError) as err:
        parse_entries([f"ok.db,{entry}"])
    assert str(err.value) == f"parse profile registry source 1: {message}"


# --- YAML format (§3.3) -----------------------------------------------------------------------------------------

GOOD_YAML = """
slug: team
profiles:
  zeta:
    display_name: Zeta
  alpha:
    stack:
      - profile_slug: zeta
"""


def test_yaml_profile_slug_defaults_to_key_and_default_is_alphabetically_first():
    reg = load_yaml_registry(GOOD_YAML, "team.yaml")
    assert reg["slug"] == "team"
    assert reg["profiles"]["zeta"]["slug"] == "zeta"
    assert reg["default_profile_slug"] == "alpha"


def test_yaml_default_profile_is_the_one_named_default():
    reg = load_yaml_registry("slug: r\nprofiles:\n  aaa: {}\n  default: {}\n", "r.yaml")
    assert reg["default_profile_slug"] == "default"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", 'yaml profile registry source "r.yaml" did not contain a registry'),
        ("registries:\n  a: {slug: a}\n", "top-level 'registries' is not supported"),
        ("slug: r\ndefault_profile_slug: a\nprofiles:\n  a: {}\n",
         'does not support default_profile_slug; use profile slug "default"'),
        ("default:\n  display_name: legacy\n", "legacy map-of-profiles"),
        ("slug: r\nprofiles:\n  a:\n    stack:\n      - profile_slug: ghost\n",
         ("engine profile YAML registry validation failed: validation error (registry.profiles[a].stack[0]): "
          'referenced profile "ghost" not found in registry "r"')),
        ("slug: [unclosed\n", "yaml profile registry source 'r.yaml'"),
        ("- a\n- b\n", "expected a mapping at top level"),
    ],
)
def test_yaml_format_rejections(text, fragment):
    with pytest.raises(StartupError) as err:
        load_yaml_registry(text, "r.yaml")
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_open_source_yaml_and_sqlite(tmp_path: Path):
    yaml_file = tmp_path / "team.yaml"
    yaml_file.write_text(GOOD_YAML)
    source = open_source(SourceSpec("yaml", str(yaml_file), str(yaml_file)))
    assert isinstance(source, YAMLSource)
    assert list(source.snapshot().registries) == ["team"]
    db_source = open_source(parse_entry(str(tmp_path / "new.db")))
    try:
        assert isinstance(db_source, SQLiteSource)
        assert (tmp_path / "new.db").exists()
        assert db_source.snapshot().registries == {}
    finally:
        db_source.close()


def test_open_missing_yaml_is_one_line(tmp_path: Path):
    with pytest.raises(StartupError) as err:
        open_source(parse_entry(str(tmp_path / "absent.yaml")))
    assert "file not found" in str(err.value)
