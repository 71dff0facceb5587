"""Backups of a PostgreSQL source: `backup`, `backups`, `restore`, `diff`, `check`, the backup API and the dashboard.

A snapshot of PostgreSQL is the runbook's file (a SQLite database holding the one table, named
`<database>.bak.YYYYMMDD-HHMMSS`, with its manifest), taken in one repeatable-read transaction; a restore into
PostgreSQL is one transaction taken after a safety snapshot, with every writer held back.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import urllib.request
from pathlib import Path

import psycopg
import pytest
from conftest import registry_payload

from registry.cli import main
from registry.domain import gojson
from registry.storage import backups, postgres_db
from registry.storage.backups import restore as restore_module
from registry.storage.postgres_db import target_from_dsn
from registry.storage.postgres_store import PostgresRegistryStore
from registry.storage.sqlite_db import target_from_path
from registry.web.auth import AdminToken

TOKEN = "s3cret-token"
NAME = re.compile(r"^(?P<db>[a-z0-9_]+)\.bak\.\d{8}-\d{6}(-\d+)?$")


def pg_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            'SELECT slug, payload_json, updated_at_ms FROM profile_registries ORDER BY slug COLLATE "C"'
        ).fetchall()


def file_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT slug, payload_json, updated_at_ms FROM profile_registries ORDER BY slug"
        ).fetchall()
    finally:
        conn.close()


def put(url: str, slug: str, profiles: dict, stamp: int) -> None:
    """A row written behind the service's back, as an operator with psql would."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO profile_registries VALUES (%s, %s, %s) ON CONFLICT (slug) DO UPDATE "
            "SET payload_json = excluded.payload_json, updated_at_ms = excluded.updated_at_ms",
            (slug, gojson.dumps(registry_payload(slug, profiles)), stamp),
        )


@pytest.fixture
def pg(pg_url: str) -> str:
    """The test's database with the registry table (made as `serve` makes it) and two registries."""
    PostgresRegistryStore(target_from_dsn(pg_url)).open().close()
    put(pg_url, "team", {"a": {"description": "team é ✓"}}, 1_700_000_000_001)
    put(pg_url, "ops", {"b": {"description": "ops"}}, 1_700_000_000_002)
    return pg_url


def dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


# --- the command line --------------------------------------------------------------------------------------------


def test_backup_of_postgresql_needs_a_folder_and_writes_the_runbook_snapshot(pg, tmp_path, capsys):
    assert main(["backup", "--profile-registries", pg, "--priority", "normal"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--backup-dir" in err[0] and "PostgreSQL" in err[0]
    folder = tmp_path / "snaps"
    assert not folder.exists()
    assert main(["backup", "--profile-registries", pg, "--backup-dir", str(folder), "--priority", "normal"]) == 0
    snapshot = Path(capsys.readouterr().out.strip())
    assert snapshot.parent == folder and NAME.match(snapshot.name).group("db") == dbname(pg)
    assert snapshot.stat().st_mode & 0o777 == 0o600
    assert file_rows(snapshot) == pg_rows(pg)  # every byte of every row
    manifest = json.loads((folder / f"{snapshot.name}.manifest.json").read_text())
    assert manifest["database"] == target_from_dsn(pg).location
    assert manifest["registries"] == {"team": 1_700_000_000_001, "ops": 1_700_000_000_002}
    backups.verify_snapshot(snapshot)
    assert main(["backups", "--profile-registries", pg, "--backup-dir", str(folder), "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["name"] == snapshot.name and listed["verified"] is True


def test_a_postgresql_snapshot_is_served_by_the_sqlite_backend(pg, tmp_path, make_app):
    folder = tmp_path / "snaps"
    info = backups.create_backup(target_from_dsn(pg), folder)
    on_pg = make_app(pg).test_client()
    on_sqlite = make_app(f"sqlite:{info.path}").test_client()
    for route in ("/api/chat/profiles", "/api/chat/profiles/a?registry=team", "/api/chat/profiles/b?registry=ops"):
        served = on_sqlite.get(route)
        assert served.status_code == 200, route
        assert served.get_data() == on_pg.get(route).get_data(), route
    assert file_rows(info.path) == pg_rows(pg)


class CommitsAfterTheFirstRead:
    """A backup's connection; once its first statement has run, another client commits two changes."""

    def __init__(self, conn: psycopg.Connection, meddle) -> None:
        self.conn, self.meddle = conn, meddle

    def __enter__(self):
        self.conn.__enter__()
        return self

    def __exit__(self, *exc):
        return self.conn.__exit__(*exc)

    def execute(self, query, *args):
        result = self.conn.execute(query, *args)
        if "count(*)" in str(query):
            self.meddle()
        return result

    def cursor(self, *args, **kwargs):
        return self.conn.cursor(*args, **kwargs)


def test_a_backup_is_one_committed_state_whatever_commits_while_it_copies(pg, tmp_path, monkeypatch):
    before = pg_rows(pg)
    real_connect = postgres_db.connect

    def meddle() -> None:
        put(pg, "team", {"a": {"description": "changed during the backup"}}, 1_800_000_000_000)
        put(pg, "late", {"c": {}}, 1_800_000_000_001)

    monkeypatch.setattr(postgres_db, "connect", lambda *a, **k: CommitsAfterTheFirstRead(real_connect(*a, **k), meddle))
    info = backups.create_backup(target_from_dsn(pg), tmp_path)
    monkeypatch.undo()
    # The rows as of the backup's first read: the later commits are in neither the file nor its manifest.
    assert file_rows(info.path) == before
    assert set(info.registries) == {"team", "ops"}
    assert len(pg_rows(pg)) == 3  # they did commit


def test_restore_into_postgresql_by_name_after_a_safety_snapshot(pg, tmp_path, capsys):
    folder = tmp_path / "snaps"
    args = ["--profile-registries", pg, "--backup-dir", str(folder)]
    assert main(["backup", *args, "--priority", "normal"]) == 0
    snapshot = Path(capsys.readouterr().out.strip())
    kept = pg_rows(pg)
    put(pg, "team", {"a": {"description": "DAMAGED"}}, 1_900_000_000_000)
    put(pg, "extra", {"x": {}}, 1_900_000_000_001)
    damaged = pg_rows(pg)
    assert main(["restore", snapshot.name, *args]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"restored {target_from_dsn(pg).location} from {snapshot}"
    safety = Path(out[1].removeprefix("safety snapshot of the previous state: "))
    assert safety.parent == folder and NAME.match(safety.name)
    assert "  extra: removed (live was 1900000000001, now None)" in out
    assert "  team: older (live was 1900000000000, now 1700000000001)" in out
    assert pg_rows(pg) == kept
    assert file_rows(safety) == damaged  # what the restore replaced
    assert json.loads((folder / f"{safety.name}.manifest.json").read_text())["reason"].startswith("before restore")


def test_restore_holds_back_every_writer_from_the_safety_snapshot_to_its_commit(pg, tmp_path, monkeypatch):
    folder = tmp_path / "snaps"
    snapshot = backups.create_backup(target_from_dsn(pg), folder).path
    real = backups.create_backup
    refused: list[str] = []

    def safety_snapshot(*args, **kwargs):
        # Another writer (psql, another instance) tries to commit while the safety snapshot is being taken.
        def write() -> None:
            try:
                with psycopg.connect(pg) as conn:
                    conn.execute("SET lock_timeout = 300")
                    conn.execute("UPDATE profile_registries SET updated_at_ms = 5 WHERE slug = 'ops'")
            except psycopg.errors.LockNotAvailable as exc:
                refused.append(str(exc))

        writer = threading.Thread(target=write)
        writer.start()
        writer.join()
        return real(*args, **kwargs)

    monkeypatch.setattr(restore_module, "create_backup", safety_snapshot)
    put(pg, "ops", {"b": {"description": "later"}}, 1_950_000_000_000)
    backups.restore_snapshot(target_from_dsn(pg), snapshot, folder)
    assert len(refused) == 1  # it waited for the restore's lock and gave up; nothing fell in between
    assert pg_rows(pg) == file_rows(snapshot)


def test_a_sqlite_snapshot_restores_into_postgresql_and_a_bad_one_changes_nothing(pg, tmp_path, seeded_db, capsys):
    sqlite_snapshot = backups.create_backup(target_from_path(seeded_db)).path
    folder = tmp_path / "snaps"
    args = ["--profile-registries", pg, "--backup-dir", str(folder)]
    assert main(["restore", str(sqlite_snapshot), *args]) == 0
    capsys.readouterr()
    assert pg_rows(pg) == file_rows(sqlite_snapshot)
    before = pg_rows(pg)
    bad = tmp_path / "bad.db"
    bad.write_bytes(sqlite_snapshot.read_bytes()[:1000])
    assert main(["restore", str(bad), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing was changed" in err[0]
    assert pg_rows(pg) == before


def test_no_safety_snapshot_no_restore(pg, tmp_path, capsys):
    snapshot = backups.create_backup(target_from_dsn(pg), tmp_path / "snaps").path
    put(pg, "team", {"a": {"description": "DAMAGED"}}, 1_900_000_000_000)
    before = pg_rows(pg)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backup folder should be")
    # The safety snapshot cannot be written: the restore's transaction is rolled back, nothing changes.
    assert main(["restore", str(snapshot), "--profile-registries", pg, "--backup-dir", str(blocked)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write a snapshot" in err[0] and "nothing was changed" in err[0]
    assert pg_rows(pg) == before


def test_diff_and_check_against_a_postgresql_snapshot(pg, tmp_path, make_app, live_server, capsys):
    folder = tmp_path / "snaps"
    args = ["--profile-registries", pg, "--backup-dir", str(folder)]
    snapshot = backups.create_backup(target_from_dsn(pg), folder)
    put(pg, "team", {"a": {"description": "edited"}}, 1_900_000_000_000)
    assert main(["diff", snapshot.name, *args]) == 0
    out = capsys.readouterr().out
    assert f"--- live {target_from_dsn(pg).location}" in out
    assert '  /description: "edited" -> "team é ✓"' in out
    server = live_server(make_app(pg))
    assert main(["check", "--url", server.url, "--no-chat", "--from-snapshot", snapshot.name, *args]) == 0
    assert "0 failed" in capsys.readouterr().out


def test_postgresql_unreachable_is_one_line_and_writes_nothing(tmp_path, seeded_db, capsys):
    folder = tmp_path / "snaps"
    down = "postgresql://postgres@127.0.0.1:1/registries?connect_timeout=2"
    args = ["--profile-registries", down, "--backup-dir", str(folder)]
    assert main(["backup", *args, "--priority", "normal"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unavailable" in err[0] and "127.0.0.1:1" in err[0]
    assert list(folder.iterdir()) == []  # the temporary file is gone too
    snapshot = backups.create_backup(target_from_path(seeded_db)).path
    for command in (["restore", str(snapshot)], ["diff", str(snapshot)]):
        assert main([*command, *args]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "unavailable" in err[0], command
    assert list(folder.iterdir()) == []  # no safety snapshot either
    assert main(["backups", *args]) == 0  # listing reads the folder only
    assert "no snapshots of postgresql://postgres@127.0.0.1:1/registries" in capsys.readouterr().out


# --- the API and the dashboard -----------------------------------------------------------------------------------


def call(url: str, method: str = "GET", body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(url, method=method, data=data)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def profile(url: str, registry: str, slug: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/chat/profiles/{slug}?registry={registry}", timeout=30) as response:
        return json.load(response)


def test_backup_api_lists_creates_diffs_and_restores_postgresql(pg, tmp_path, make_app, live_server):
    folder = tmp_path / "snaps"
    app = make_app(pg, WRITABLE=True, ADMIN_TOKENS=[AdminToken("ops", TOKEN)], BACKUP_DIR=str(folder))
    server = live_server(app)
    status, listing = call(server.url + "/api/backups")
    assert status == 200 and listing["snapshots"] == []
    assert listing["database"] == target_from_dsn(pg).location and listing["backup_dir"] == str(folder)
    status, created = call(server.url + "/api/backups", "POST")
    assert status == 201 and NAME.match(created["name"]) and created["verified"] is True
    assert file_rows(Path(created["path"])) == pg_rows(pg)
    put(pg, "team", {"a": {"description": "DAMAGED"}}, 1_900_000_000_000)
    put(pg, "ops", {"b": {"description": "ops edited"}}, 1_900_000_000_001)
    status, diff = call(server.url + f"/api/backups/{created['name']}/diff")
    assert status == 200 and diff["before"]["kind"] == "live"
    assert {r["slug"]: r["change"] for r in diff["registries"]} == {"ops": "changed", "team": "changed"}
    # Only the team registry, with the stamps the diff showed.
    stamps = {r["slug"]: r["before_updated_at_ms"] for r in diff["registries"]}
    status, partial = call(server.url + f"/api/backups/{created['name']}/restore", "POST",
                           {"registries": ["team"], "expected_updated_at_ms": {"team": stamps["team"]}})
    assert status == 200, partial
    assert [r["change"] for r in partial["registries"]] == ["replaced"]
    assert profile(server.url, "team", "a")["description"] == "team é ✓"  # this instance's very next read
    assert profile(server.url, "ops", "b")["description"] == "ops edited"
    status, whole = call(server.url + f"/api/backups/{created['name']}/restore", "POST")
    assert status == 200, whole
    assert {c["slug"]: c["change"] for c in whole["changes"]}["ops"] == "older"
    assert profile(server.url, "ops", "b")["description"] == "ops"
    assert pg_rows(pg) == file_rows(Path(created["path"]))
    safety = Path(whole["safety_snapshot"]["path"])
    assert safety.parent == folder and json.loads(profile_payload(safety, "ops"))["profiles"]["b"]["description"] == (
        "ops edited"
    )


def profile_payload(snapshot: Path, slug: str) -> str:
    return next(p for s, p, _ in file_rows(snapshot) if s == slug)


def test_backup_api_answers_503_with_the_reason_while_postgresql_is_down(private_pg, tmp_path, make_app):
    folder = tmp_path / "snaps"
    app = make_app(private_pg.url, WRITABLE=True, ADMIN_TOKENS=[AdminToken("ops", TOKEN)], BACKUP_DIR=str(folder))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    created = client.post("/api/backups", headers=auth)
    assert created.status_code == 201
    name = created.get_json()["name"]
    private_pg.stop()
    try:
        down = client.post("/api/backups", headers=auth)
        assert down.status_code == 503
        assert "unavailable" in down.get_json()["message"] and "nothing was changed" in down.get_json()["message"]
        restore = client.post(f"/api/backups/{name}/restore", headers=auth)
        assert restore.status_code == 503 and "unavailable" in restore.get_json()["message"]
        diff = client.get(f"/api/backups/{name}/diff")
        assert diff.status_code == 503
        assert client.get("/api/backups").status_code == 200  # the folder is still listed
        assert sorted(p.name for p in folder.iterdir()) == sorted([name, f"{name}.manifest.json"])
        # The dashboard's restore page compares with the live rows: 503 naming the reason, not an error page.
        login = client.get("/login").get_data(as_text=True)
        client.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(login), "next": "/"})
        confirm = client.get(f"/backups/{name}/restore")
        assert confirm.status_code == 503 and "unavailable" in confirm.get_data(as_text=True)
        html = client.get("/").get_data(as_text=True)
        failed = client.post("/backups", data={"csrf_token": csrf_of(html)}, follow_redirects=True)
        assert "Backup failed" in failed.get_data(as_text=True) and "unavailable" in failed.get_data(as_text=True)
    finally:
        private_pg.start()


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def test_dashboard_backs_up_and_restores_postgresql(pg, tmp_path, make_app):
    folder = tmp_path / "snaps"
    app = make_app(pg, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)], BACKUP_DIR=str(folder))
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(page), "next": "/"})
    html = client.get("/").get_data(as_text=True)
    assert "Back up now" in html and str(folder) in html
    done = client.post("/backups", data={"csrf_token": csrf_of(html)})
    assert done.status_code == 303
    [snapshot] = [p for p in folder.iterdir() if not p.name.endswith(".json")]
    assert NAME.match(snapshot.name) and file_rows(snapshot) == pg_rows(pg)
    assert f'data-name="{snapshot.name}"' in client.get("/").get_data(as_text=True)
    put(pg, "team", {"a": {"description": "DAMAGED"}}, 1_900_000_000_000)
    confirm = client.get(f"/backups/{snapshot.name}/restore")
    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    assert target_from_dsn(pg).location in text and "DAMAGED" in text
    restored = client.post(f"/backups/{snapshot.name}/restore", data={"csrf_token": csrf_of(text)})
    assert restored.status_code == 303
    assert pg_rows(pg) == file_rows(snapshot)
    assert client.get("/api/chat/profiles/a?registry=team").get_json()["description"] == "team é ✓"
