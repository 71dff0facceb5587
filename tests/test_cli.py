"""`profile-registry serve` as a child process: bad inputs give one line on stderr and exit code 2, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import registry_payload, write_row
from serve_process import ServeProcess, run_serve


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("profile-registry serve: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_dsn_with_unknown_parameter(tmp_path: Path):
    result = run_serve(["--profile-registries", "sqlite-dsn:file:./p.db?_journal_mode=WAL&_bogus=1"], tmp_path)
    assert_one_line_error(result, "unknown parameter '_bogus'")
    assert not (tmp_path / "p.db").exists()


def test_path_that_is_a_directory(tmp_path: Path):
    (tmp_path / "dir.db").mkdir()
    assert_one_line_error(run_serve(["--profile-registries", "dir.db"], tmp_path), "it is a directory")


def test_text_file_named_db(tmp_path: Path):
    (tmp_path / "x.db").write_text("these are my notes, not a database\n")
    assert_one_line_error(run_serve(["--profile-registries", "x.db"], tmp_path), "not a SQLite database")
    assert (tmp_path / "x.db").read_text() == "these are my notes, not a database\n"


def test_another_applications_database(tmp_path: Path):
    conn = sqlite3.connect(tmp_path / "app.db")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    assert_one_line_error(run_serve(["--profile-registries", "app.db"], tmp_path), "another application's database")
    conn = sqlite3.connect(tmp_path / "app.db")
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["users"]
    conn.close()


def test_missing_parent_folder(tmp_path: Path):
    result = run_serve(["--profile-registries", "nope/deeper/p.db"], tmp_path)
    assert_one_line_error(result, "folder nope/deeper does not exist")
    assert not (tmp_path / "nope").exists()


def test_duplicate_registry_across_sources(tmp_path: Path):
    write_row(tmp_path / "a.db", "shared", registry_payload("shared", {"x": {}}))
    (tmp_path / "b.yaml").write_text("slug: shared\nprofiles:\n  y: {}\n")
    result = run_serve(["--profile-registries", "a.db", "--profile-registries", "b.yaml"], tmp_path)
    assert_one_line_error(result, 'duplicate registry slug "shared" across profile registry sources')


def test_bad_yaml_and_empty_entry(tmp_path: Path):
    (tmp_path / "r.yaml").write_text("slug: r\ndefault_profile_slug: a\n")
    assert_one_line_error(
        run_serve(["--profile-registries", "r.yaml"], tmp_path), "does not support default_profile_slug"
    )
    assert_one_line_error(run_serve(["--profile-registries", "sqlite:"], tmp_path),
                          "parse profile registry source 0: sqlite profile registry source path is empty")


def test_port_already_in_use(tmp_path: Path):
    write_row(tmp_path / "p.db", "default", registry_payload("default", {"a": {}}))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve(["--profile-registries", "p.db", "--port", str(port)], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"profile-registry serve: error: cannot listen on 127.0.0.1:{port}" in result.stderr


# --- a read-only database file -----------------------------------------------------------------------------------
#
# What a user expects: a database they may read but not write is still served (reads stay fresh), with a warning in
# /api/health and the log; if SQLite cannot even open it (WAL needs a -shm file in a writable folder), one line says
# why. Root ignores file modes, so as root the file is made immutable with `chattr +i` (refused even to root);
# where that is not possible (no CAP_LINUX_IMMUTABLE, a filesystem without the flag) the test is skipped.


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files/folders unwritable for this user for the duration; skip if this system cannot."""
    if os.name != "posix":
        pytest.skip("read-only conditions are made with POSIX tools here")
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: cannot make a file read-only for root")
    done: list[Path] = []
    try:
        for p in paths:
            result = subprocess.run([chattr, "+i", str(p)], capture_output=True, text=True, check=False)
            if result.returncode != 0:
                pytest.skip(f"running as root and `chattr +i` is refused here ({result.stderr.strip()})")
            done.append(p)
        assert not os.access(paths[0], os.W_OK)
        yield
    finally:
        for p in done:
            subprocess.run([chattr, "-i", str(p)], check=True)


def test_read_only_database_is_served_with_a_warning(tmp_path: Path):
    path = tmp_path / "p.db"
    write_row(path, "default", registry_payload("default", {"a": {}}))
    before = path.read_bytes()
    with read_only(path):
        server = ServeProcess(["--profile-registries", "p.db"], tmp_path)
        try:
            with urllib.request.urlopen(server.url + "/api/chat/profiles") as response:
                assert {i["slug"] for i in json.load(response)} == {"a", "mock_parity"}
            with urllib.request.urlopen(server.url + "/api/health") as response:
                health = json.load(response)
        finally:
            server.stop()
    assert health["status"] == "ok"
    assert health["databases"][0]["read_only"] is True
    assert health["warnings"] == ["database p.db is read-only: served read-only, writes are refused"]
    assert any("is read-only: serving it read-only" in line for line in server.lines)
    assert "Traceback" not in "".join(server.lines)
    assert path.read_bytes() == before


def test_read_only_database_in_read_only_folder_is_one_line(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    write_row(folder / "p.db", "default", registry_payload("default", {"a": {}}))
    conn = sqlite3.connect(folder / "p.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    with read_only(folder / "p.db", folder):
        result = run_serve(["--profile-registries", "ro/p.db"], tmp_path)
    assert_one_line_error(result, "the file is read-only and its folder ro is not writable")


def test_new_database_in_read_only_folder_is_one_line(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder):
        result = run_serve(["--profile-registries", "ro/new.db"], tmp_path)
    assert_one_line_error(result, "cannot create database ro/new.db: folder ro is not writable")
