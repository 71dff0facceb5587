"""Bad database files: each gives a one-line error at start (exit 2) or a clear error, and no stored row is lost."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import SQLiteRegistryStore

from ._support import (
    ServeProcess,
    can_drop_permission_override,
    child_env,
    drop_permission_override,
    registry_json,
    run_serve_expecting_exit,
)

POSIX = os.name == "posix"
ROWS = 40


def make_database(path: Path, rows: int = ROWS) -> list[str]:
    """A database written by the store itself: `rows` registries of ~2 KB, checkpointed into the main file."""
    store = SQLiteRegistryStore(target_from_path(path)).open()
    try:
        slugs = [f"reg-{i:03d}" for i in range(rows)]
        for slug in slugs:
            store.put_payload(slug, registry_json(slug, description="d" * 2000))
    finally:
        store.close()
    return slugs


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_slugs(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return [r[0] for r in conn.execute("SELECT slug FROM profile_registries ORDER BY slug")]
    finally:
        conn.close()


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit code 2, exactly one line on stderr, no traceback, and the line says what is wrong."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("profile-registry serve: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_directory_as_database(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    path.mkdir()
    (path / "keep.txt").write_text("operator's file")
    result = run_serve_expecting_exit(["--profile-registries", str(path)], tmp_path)
    assert_one_line_error(result, str(path), "is a directory")
    assert [p.name for p in path.iterdir()] == ["keep.txt"]


def test_text_file_as_database(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    path.write_text("slug,payload\ndefault,{}\n" * 50)
    before = digest(path)
    result = run_serve_expecting_exit(["--profile-registries", str(path)], tmp_path)
    assert_one_line_error(result, "not a SQLite database")
    assert digest(path) == before


@pytest.mark.parametrize("keep", [1024, 40_000])
def test_truncated_database(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "profiles.db"
    make_database(path)
    assert path.stat().st_size > keep
    with path.open("r+b") as handle:
        handle.truncate(keep)
    before = digest(path)
    result = run_serve_expecting_exit(["--profile-registries", str(path)], tmp_path)
    assert_one_line_error(result, str(path), "malformed")
    # The service must not "repair" what is left by rewriting the file.
    assert digest(path) == before


def test_another_applications_database(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ada');")
    conn.close()
    result = run_serve_expecting_exit(["--profile-registries", str(path)], tmp_path)
    assert_one_line_error(result, "users", "another application")
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables == ["users"]
        assert conn.execute("SELECT name FROM users").fetchall() == [("ada",)]
    finally:
        conn.close()


def test_another_applications_database_is_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ada');")
    conn.close()
    before = digest(path)
    run_serve_expecting_exit(["--profile-registries", str(path)], tmp_path)
    assert digest(path) == before


def mode_bits_apply():  # type: ignore[no-untyped-def]
    """preexec_fn under which a child honours file modes: root loses its override, anyone else needs nothing."""
    return drop_permission_override if can_drop_permission_override() else None


READ_ONLY_SKIP = pytest.mark.skipif(
    not POSIX or (os.geteuid() == 0 and not can_drop_permission_override()),
    reason="needs POSIX mode bits, and Linux capabilities when running as root",
)


@READ_ONLY_SKIP
def test_read_only_file_in_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "profiles.db"
    slugs = make_database(path)
    os.chmod(path, 0o444)
    os.chmod(folder, 0o555)
    before = digest(path)
    try:
        result = run_serve_expecting_exit(["--profile-registries", str(path)], tmp_path, preexec_fn=mode_bits_apply())
    finally:
        os.chmod(folder, 0o755)
    assert_one_line_error(result, str(path), "read-only")
    assert digest(path) == before
    assert stored_slugs(path) == slugs


@READ_ONLY_SKIP
def test_read_only_file_in_writable_folder_is_served_read_only(tmp_path: Path) -> None:
    # The folder lets SQLite create its -shm file; the database itself stays unwritable.
    path = tmp_path / "profiles.db"
    slugs = make_database(path)
    os.chmod(path, 0o444)
    server = ServeProcess(["--profile-registries", str(path)], tmp_path, preexec_fn=mode_bits_apply())
    try:
        status, _, body = server.request("GET", "/api/chat/profiles", headers={"Accept": "application/json"})
        assert status == 200
        assert {item["registry"] for item in json.loads(body)} == set(slugs)
        status, _, body = server.request("GET", "/api/health")
        assert status == 200
        assert json.loads(body)["databases"][0]["read_only"] is True
    finally:
        server.stop()
    assert "Traceback" not in server.log()
    os.chmod(path, 0o644)
    assert stored_slugs(path) == slugs


def _limit_file_size(limit: int):  # type: ignore[no-untyped-def]
    """preexec_fn: files this child writes may not grow past `limit` bytes (a full disk, as the child sees it)."""

    def apply() -> None:
        import resource
        import signal

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        # EFBIG instead of death by SIGXFSZ, as a real full disk gives ENOSPC rather than a signal.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


@pytest.mark.skipif(not POSIX, reason="RLIMIT_FSIZE is POSIX-only")
def test_full_disk_at_start(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    result = run_serve_expecting_exit(["--profile-registries", str(path)], tmp_path, preexec_fn=_limit_file_size(0))
    assert_one_line_error(result, str(path))


# A child that writes 50 KB registries through the store until the file-size limit stops it; it reports every
# write that returned and the error that ended the loop, as JSON on stdout.
FULL_DISK_WRITER = r"""
import json, sys
from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import SQLiteRegistryStore
store = SQLiteRegistryStore(target_from_path(sys.argv[1])).open()
done, error = [], None
for i in range(200):
    slug = f"big-{i}"
    try:
        store.put_payload(slug, json.dumps({"slug": slug, "description": "y" * 50000, "metadata": {}}))
    except Exception as exc:
        error = {"type": type(exc).__module__ + "." + type(exc).__name__, "message": str(exc), "slug": slug}
        break
    done.append(slug)
print(json.dumps({"done": done, "error": error}))
"""


def run_full_disk_writer(path: Path) -> dict:  # type: ignore[type-arg]
    limit = path.stat().st_size + 300_000
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK_WRITER, str(path)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_file_size(limit),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(not POSIX, reason="RLIMIT_FSIZE is POSIX-only")
def test_full_disk_during_writes_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    slugs = make_database(path)
    report = run_full_disk_writer(path)
    error = report["error"]
    assert error is not None, "the size limit never stopped the writer"
    assert error["type"] == "registry.storage.interface.StorageError"
    assert error["message"]
    stored = stored_slugs(path)
    # Every existing row and every write that returned is still there.
    assert set(slugs) <= set(stored)
    assert set(report["done"]) <= set(stored)
    # Nothing beyond what was attempted appeared.
    assert set(stored) <= set(slugs) | set(report["done"]) | {error["slug"]}
    # The service still starts on the file afterwards.
    server = ServeProcess(["--profile-registries", str(path)], tmp_path)
    try:
        status, _, body = server.request("GET", "/api/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        server.stop()


@pytest.mark.skipif(not POSIX, reason="RLIMIT_FSIZE is POSIX-only")
def test_full_disk_failed_write_is_not_committed(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    make_database(path)
    report = run_full_disk_writer(path)
    assert report["error"] is not None
    assert report["error"]["slug"] not in stored_slugs(path)


TOKEN = "full-disk-token"
WRITE_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": "application/json"}


def fill_disk_over_http(path: Path, cwd: Path) -> tuple[list[str], tuple[int, dict], ServeProcess]:  # type: ignore[type-arg]
    """`serve --writable` under a file-size limit; PUT 50 KB registries until one is refused. Server left running."""
    server = ServeProcess(
        ["--profile-registries", str(path), "--writable"],
        cwd,
        preexec_fn=_limit_file_size(path.stat().st_size + 300_000),
        PROFILE_REGISTRY_TOKEN=TOKEN,
    )
    acknowledged: list[str] = []
    for i in range(40):
        slug = f"big-{i}"
        body = registry_json(slug, description="y" * 50_000).encode()
        status, _, answer = server.request("PUT", f"/api/registries/{slug}", body, WRITE_HEADERS)
        if status >= 300:
            return acknowledged, (status, json.loads(answer)), server
        acknowledged.append(slug)
    server.stop()
    raise AssertionError("the file-size limit never refused a write")


@pytest.mark.skipif(not POSIX, reason="RLIMIT_FSIZE is POSIX-only")
def test_full_disk_over_http_loses_nothing_and_keeps_serving(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    slugs = make_database(path)
    acknowledged, (status, error), server = fill_disk_over_http(path, tmp_path)
    try:
        assert status >= 400 and error["message"], error
        # Reads go on from the rows that are there.
        status, _, body = server.request("GET", "/api/chat/profiles", headers={"Accept": "application/json"})
        assert status == 200
        assert {"reg-000", *acknowledged} <= {item["registry"] for item in json.loads(body)}
    finally:
        server.stop()
    stored = set(stored_slugs(path))
    assert set(slugs) <= stored
    assert set(acknowledged) <= stored


@pytest.mark.skipif(not POSIX, reason="RLIMIT_FSIZE is POSIX-only")
def test_full_disk_over_http_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "profiles.db"
    make_database(path)
    _, (status, error), server = fill_disk_over_http(path, tmp_path)
    server.stop()
    assert status in (503, 507), error
    assert any(word in error["message"].lower() for word in ("disk", "full", "space")), error
