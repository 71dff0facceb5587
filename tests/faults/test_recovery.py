"""Recovery when things are already broken (issue 15): a bad live row, crafted snapshots, odd manifests, symlinks,
concurrent backups beyond retention, an unwritable backup folder. Real files, real waitress, the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import write_row

from registry.cli import main
from registry.web.auth import AdminToken

from ._support import ServeProcess, can_drop_permission_override, drop_permission_override

TOKEN = "recovery-token"
SNAPSHOT_NAME = "profiles.db.bak.20260101-000000"


def call(url: str, method: str = "GET", token: str | None = TOKEN) -> tuple[int, object]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    req.add_header("Accept", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except json.JSONDecodeError:
            return exc.code, raw.decode("utf-8", "replace")


def live_rows(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT slug, payload_json FROM profile_registries"))
    finally:
        conn.close()


def break_a_row(db: Path) -> None:
    """Troubleshooting row 4: one registry with a payload that does not validate."""
    write_row(
        db, "broken", '{"slug":"broken","profiles":{"a":{"slug":"a","metadata":{}}},"metadata":{}}', 1_800_000_000_000
    )


@pytest.fixture
def snaps(tmp_path: Path) -> Path:
    folder = tmp_path / "snaps"
    folder.mkdir()
    return folder


@pytest.fixture
def server(seeded_db, make_app, live_server, snaps):  # type: ignore[no-untyped-def]
    app = make_app(
        seeded_db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("ops", TOKEN)], BACKUP_DIR=str(snaps), BACKUP_KEEP=3
    )
    return live_server(app)


# --- a bad live row blocks neither a backup nor a restore's safety snapshot -----------------------------------------


def test_backup_with_a_bad_live_row_keeps_the_row_and_lists_it_quarantined(seeded_db, snaps, capsys):
    break_a_row(seeded_db)
    assert main(["backup", "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 0, capsys.readouterr().err
    snapshot = Path(capsys.readouterr().out.strip())
    assert live_rows(snapshot) == live_rows(seeded_db)  # the bad row as it is
    manifest = json.loads(Path(f"{snapshot}.manifest.json").read_text())
    assert set(manifest["registries"]) == {"default"}
    assert manifest["quarantined"]["broken"].startswith("validation error (registry.default_profile_slug)")
    assert main(["backups", "--db", str(seeded_db), "--backup-dir", str(snaps), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["verified"] is True
    # Listed as verified (the file is what the manifest says), and as holding a row a whole restore refuses.
    assert listed[0]["quarantined"] == ["broken"]
    assert main(["backups", "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 0
    assert "yes; quarantined rows kept as they were (broken): a whole restore refuses it" in capsys.readouterr().out


def test_the_dashboard_says_which_rows_of_a_verified_snapshot_are_quarantined(seeded_db, snaps, make_app, capsys):
    break_a_row(seeded_db)
    assert main(["backup", "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 0
    capsys.readouterr()
    page = make_app(seeded_db, BACKUP_DIR=str(snaps)).test_client().get("/")
    assert page.status_code == 200
    assert "quarantined rows kept: broken; a whole restore refuses it" in page.get_data(as_text=True)


def crafted_manifest(seeded_db: Path, snaps: Path, capsys, change) -> Path:  # type: ignore[no-untyped-def]
    """A real snapshot whose manifest is then rewritten by `change` (bytes -> bytes): anyone with access to the
    backup folder can do it."""
    assert main(["backup", "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 0
    snapshot = Path(capsys.readouterr().out.strip())
    manifest = Path(f"{snapshot}.manifest.json")
    manifest.write_bytes(change(manifest.read_bytes()))
    return snapshot


def test_a_crafted_manifest_listing_many_quarantined_rows_shows_ten_of_them(seeded_db, snaps, make_app, capsys):
    def many(raw: bytes) -> bytes:
        data = json.loads(raw)
        data["quarantined"] = {f"row{i:04d}" + "x" * 200: "bad" for i in range(1000)}
        return json.dumps(data).encode()

    crafted_manifest(seeded_db, snaps, capsys, many)
    page = make_app(seeded_db, BACKUP_DIR=str(snaps)).test_client().get("/").get_data(as_text=True)
    assert "and 990 more; a whole restore refuses it" in page
    assert "row0010" not in page and "x" * 100 not in page
    assert main(["backups", "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 0
    assert "and 990 more): a whole restore refuses it" in capsys.readouterr().out


def test_an_oversized_or_binary_manifest_is_refused_unread_and_only_that_snapshot(seeded_db, snaps, make_app, capsys):
    from registry.storage.backups.manifests import MAX_MANIFEST_BYTES

    def padded(raw: bytes) -> bytes:  # still a valid manifest, with a field nobody reads
        data = json.loads(raw)
        data["padding"] = "p" * MAX_MANIFEST_BYTES
        return json.dumps(data).encode()

    big = crafted_manifest(seeded_db, snaps, capsys, padded)
    binary = crafted_manifest(seeded_db, snaps, capsys, lambda raw: b"\xff\xfe" + raw)
    assert main(["backups", "--db", str(seeded_db), "--backup-dir", str(snaps), "--json"]) == 0
    listed = {item["name"]: item for item in json.loads(capsys.readouterr().out)}
    assert listed[big.name]["verified"] is False
    assert f"manifest is larger than the {MAX_MANIFEST_BYTES} bytes" in listed[big.name]["problem"]
    assert listed[binary.name]["verified"] is False
    assert "manifest is not UTF-8 text" in listed[binary.name]["problem"]
    assert make_app(seeded_db, BACKUP_DIR=str(snaps)).test_client().get("/").status_code == 200


def test_cli_restore_of_a_good_snapshot_over_a_bad_live_row(seeded_db, snaps, capsys):
    assert main(["backup", "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 0
    good = Path(capsys.readouterr().out.strip())
    break_a_row(seeded_db)
    assert main(["restore", good.name, "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    safety = Path(out.split("safety snapshot of the previous state: ")[1].split()[0])
    assert "broken" not in live_rows(seeded_db)
    assert "broken" in live_rows(safety)  # the data the restore replaced is kept, bad row included


def test_api_and_dashboard_restore_over_a_bad_live_row(server, seeded_db, snaps):
    status, created = call(server.url + "/api/backups", "POST")
    assert status == 201, created
    break_a_row(seeded_db)
    status, body = call(server.url + f"/api/backups/{created['name']}/restore", "POST")  # type: ignore[index]
    assert status == 200, body
    assert "broken" not in live_rows(seeded_db)
    # The dashboard: the same restore, logged in, with the CSRF token of the page.
    break_a_row(seeded_db)
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    login = opener.open(server.url + "/login").read().decode()
    csrf = login.split('name="csrf_token" value="')[1].split('"')[0]
    data = f"token={TOKEN}&csrf_token={csrf}&next=/".encode()
    page = opener.open(server.url + "/login", data=data).read().decode()
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    confirm = opener.open(server.url + f"/backups/{created['name']}/restore").read().decode()  # type: ignore[index]
    assert "Restore this snapshot" in confirm
    result = (
        opener.open(
            server.url + f"/backups/{created['name']}/restore",
            data=f"csrf_token={csrf}".encode(),  # type: ignore[index]
        )
        .read()
        .decode()
    )
    assert "Restored from" in result, result
    assert "broken" not in live_rows(seeded_db)


def test_a_snapshot_with_a_bad_row_is_still_refused(seeded_db, snaps, capsys):
    shutil.copyfile(seeded_db, snaps / SNAPSHOT_NAME)
    break_a_row(snaps / SNAPSHOT_NAME)
    before = live_rows(seeded_db)
    assert main(["restore", SNAPSHOT_NAME, "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 1
    err = capsys.readouterr().err
    assert "registry 'broken' has a bad payload" in err and "nothing was changed" in err
    assert live_rows(seeded_db) == before


# --- restore accepts exactly the reference's schema -----------------------------------------------------------------

CRAFTED = {
    "trigger": (
        "CREATE TRIGGER eat_rows AFTER UPDATE ON profile_registries BEGIN DELETE FROM profile_registries; END",
        "extra trigger 'eat_rows'",
    ),
    "index": ("CREATE INDEX by_time ON profile_registries(updated_at_ms)", "extra index 'by_time'"),
    "view": ("CREATE VIEW everything AS SELECT * FROM profile_registries", "extra view 'everything'"),
    "table": ("CREATE TABLE notes (x)", "extra table 'notes'"),
}


def crafted_snapshot(seeded_db: Path, folder: Path, sql: str) -> Path:
    path = folder / SNAPSHOT_NAME
    shutil.copyfile(seeded_db, path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute(sql)
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_restore_refuses_a_snapshot_with_anything_extra(seeded_db, snaps, capsys, kind):
    sql, named = CRAFTED[kind]
    crafted_snapshot(seeded_db, snaps, sql)
    before = live_rows(seeded_db)
    assert main(["restore", SNAPSHOT_NAME, "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert named in err and err.endswith("nothing was changed")
    assert live_rows(seeded_db) == before


def rebuilt_table_snapshot(seeded_db: Path, folder: Path, create_sql: str) -> Path:
    """A snapshot whose table was rebuilt with another definition, same rows."""
    path = folder / SNAPSHOT_NAME
    shutil.copyfile(seeded_db, path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    rows = conn.execute("SELECT slug, payload_json, updated_at_ms FROM profile_registries").fetchall()
    conn.execute("DROP TABLE profile_registries")
    conn.execute(create_sql)
    conn.executemany("INSERT INTO profile_registries (slug, payload_json, updated_at_ms) VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize(
    ("create_sql", "named"),
    [
        (
            "CREATE TABLE profile_registries (slug TEXT, payload_json TEXT NOT NULL, "
            "updated_at_ms INTEGER NOT NULL DEFAULT 0)",
            "column slug is 'slug text', expected 'slug text primary key'",
        ),
        (
            "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
            "updated_at_ms INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT 'x')",
            "extra column 'owner'",
        ),
        (
            "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL "
            "CHECK (length(payload_json) < 5000), updated_at_ms INTEGER NOT NULL DEFAULT 0)",
            "column payload_json is",
        ),
    ],
    ids=["no primary key", "extra not null column", "check"],
)
def test_restore_refuses_a_table_that_is_not_the_references(seeded_db, snaps, capsys, create_sql, named):
    rebuilt_table_snapshot(seeded_db, snaps, create_sql)
    before = live_rows(seeded_db)
    assert main(["restore", SNAPSHOT_NAME, "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 1
    err = capsys.readouterr().err.strip()
    assert named in err and "nothing was changed" in err
    assert live_rows(seeded_db) == before


def test_a_refused_trigger_never_eats_acknowledged_writes_over_http(server, seeded_db, snaps):
    crafted_snapshot(seeded_db, snaps, CRAFTED["trigger"][0])
    status, body = call(server.url + f"/api/backups/{SNAPSHOT_NAME}/restore", "POST")
    assert status == 422 and "extra trigger 'eat_rows'" in body["message"], body  # type: ignore[index]
    conn = sqlite3.connect(seeded_db)
    try:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type='trigger'").fetchone()[0] == 0
    finally:
        conn.close()


def test_serve_refuses_a_live_file_with_a_trigger(seeded_db, tmp_path):
    conn = sqlite3.connect(seeded_db)
    conn.execute(CRAFTED["trigger"][0])
    conn.close()
    from ._support import run_serve_expecting_exit

    result = run_serve_expecting_exit(["--profile-registries", str(seeded_db)], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "extra trigger 'eat_rows'" in lines[0], result.stderr


# --- the backup folder: symlinks are not snapshots; an odd manifest spoils only its own snapshot -------------------


def test_a_symlink_named_like_a_snapshot_is_not_one(server, seeded_db, snaps, tmp_path, capsys):
    outside = tmp_path / "outside.db"
    shutil.copyfile(seeded_db, outside)
    (snaps / SNAPSHOT_NAME).symlink_to(outside)
    status, body = call(server.url + "/api/backups")
    assert status == 200 and body["snapshots"] == [], body  # type: ignore[index]
    status, body = call(server.url + f"/api/backups/{SNAPSHOT_NAME}/restore", "POST")
    assert status == 404, body
    assert main(["restore", SNAPSHOT_NAME, "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 1
    assert "no snapshot named" in capsys.readouterr().err


@pytest.mark.parametrize("odd", ['"many"', "null", "[1, 2]"])
def test_an_odd_manifest_marks_only_its_snapshot_unverified(server, seeded_db, snaps, capsys, odd):
    status, first = call(server.url + "/api/backups", "POST")
    assert status == 201
    manifest_file = Path(first["path"] + ".manifest.json")  # type: ignore[index]
    manifest = json.loads(manifest_file.read_text())
    manifest_file.write_text(json.dumps(manifest).replace('"registries": {', '"registries": {"weird": ' + odd + ", "))
    status, listing = call(server.url + "/api/backups")
    assert status == 200, listing
    [listed] = listing["snapshots"]  # type: ignore[index]
    assert listed["verified"] is False and "registries" in listed["problem"], listed
    with urllib.request.urlopen(server.url + "/", timeout=30) as page:
        assert page.status == 200
    status, second = call(server.url + "/api/backups", "POST")
    assert status == 201, second
    status, listing = call(server.url + "/api/backups")
    assert [s["verified"] for s in listing["snapshots"]] == [True, False]  # type: ignore[index]
    status, body = call(server.url + f"/api/backups/{first['name']}/restore", "POST")  # type: ignore[index]
    assert status == 422 and "registries" in body["message"], body  # type: ignore[index]
    status, body = call(server.url + f"/api/backups/{second['name']}/restore", "POST")  # type: ignore[index]
    assert status == 200, body
    assert main(["backups", "--db", str(seeded_db), "--backup-dir", str(snaps)]) == 0
    out = capsys.readouterr().out
    assert first["name"] in out and "no: " in out  # type: ignore[index]
    assert main(["backups", "--db", str(seeded_db), "--backup-dir", str(snaps), "--json"]) == 0
    json.loads(capsys.readouterr().out)


# --- retention and failures of POST /api/backups ----------------------------------------------------------------------


def test_thirteen_simultaneous_backups_beyond_retention_all_succeed(server, snaps):
    results: list[tuple[int, object]] = []
    lock = threading.Lock()

    def one() -> None:
        answer = call(server.url + "/api/backups", "POST")
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=one) for _ in range(13)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [status for status, _ in results] == [201] * 13, [r for r in results if r[0] != 201]
    snapshots = sorted(p.name for p in snaps.iterdir() if not p.name.endswith(".manifest.json"))
    assert 3 <= len(snapshots) <= 13


@pytest.mark.skipif(not can_drop_permission_override(), reason="needs root on Linux to drop the permission override")
def test_an_unwritable_backup_folder_is_a_403_naming_the_path_and_the_os_error(seeded_db, tmp_path):
    server = ServeProcess(
        ["--profile-registries", str(seeded_db), "--writable"],
        tmp_path,
        preexec_fn=drop_permission_override,
        PROFILE_REGISTRY_TOKEN=TOKEN,
    )
    try:
        os.chmod(seeded_db.parent, 0o555)  # the database folder, where snapshots go by default
        try:
            status, _, body = server.request(
                "POST", "/api/backups", b"", {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
            )
        finally:
            os.chmod(seeded_db.parent, 0o755)
    finally:
        server.stop()
    answer = json.loads(body)
    assert status == 403, answer
    assert str(seeded_db.parent) in answer["message"] and "Permission denied" in answer["message"], answer
