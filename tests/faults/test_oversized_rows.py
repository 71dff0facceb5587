"""A database row too large to parse is quarantined by its size, and no write may make one (REGISTRY_MAX_ROW_BYTES).

The sqlite3 shell (or anyone who can write the file) can store a payload_json of any size; parsing a 64 MiB
document costs the service several times that in memory and seconds of CPU on every change of the table.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import registry_payload, write_row

from registry.web.app_state import app_state

from ._support import ServeProcess, child_env

MIB = 1024 * 1024
SECRET = "rows-Token-77d0"
AUTH = {"Authorization": f"Bearer {SECRET}", "Accept": "application/json", "Content-Type": "application/json"}


def big_registry(slug: str, size: int) -> str:
    """A valid registry row of about `size` bytes (one long description)."""
    text = json.dumps(registry_payload(slug, {"p": {"description": ""}}))
    return text.replace('"description": ""', '"description": "' + "d" * max(0, size - len(text)) + '"')


def health(server: ServeProcess) -> dict:  # type: ignore[type-arg]
    status, _, body = server.request("GET", "/api/health")
    assert status == 200, body[:300]
    return json.loads(body)


def test_a_64_mib_row_is_quarantined_by_its_size_without_being_parsed(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    write_row(db, "small", registry_payload("small", {"p": {}}))
    # 64 MiB that would parse into a valid registry, but for its last byte: the reason must be the size, which
    # shows the text was never handed to the JSON parser (that would report the missing brace instead).
    write_row(db, "huge", big_registry("huge", 64 * MIB)[:-1])
    server = ServeProcess(["--profile-registries", str(db)], tmp_path)
    try:
        report = health(server)
        reasons = {q["slug"]: q["reason"] for q in report["quarantined"]}
        assert set(reasons) == {"huge"}, reasons
        assert "more than the 16777216 allowed (REGISTRY_MAX_ROW_BYTES)" in reasons["huge"], reasons
        assert "not valid JSON" not in reasons["huge"]
        status, _, body = server.request("GET", "/api/chat/profiles?registry=small")
        assert status == 200 and json.loads(body)[0]["slug"] == "p"
        status, _, body = server.request("GET", "/api/chat/profiles?registry=huge")
        assert status == 500 and b"REGISTRY_MAX_ROW_BYTES" in body, body[:300]
    finally:
        server.stop()
    # `inspect` reports it the same way, also without parsing it.
    done = subprocess.run(
        [sys.executable, "-m", "registry", "inspect", "--db", str(db), "--slug", "huge"],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=60, check=False,
    )
    assert "BAD: payload_json is" in done.stdout and "(REGISTRY_MAX_ROW_BYTES); not parsed" in done.stdout, (
        done.stdout + done.stderr
    )


def test_the_row_limit_is_a_serve_flag_and_holds_for_rows_changed_at_run_time(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    write_row(db, "fits", big_registry("fits", 60_000))
    server = ServeProcess(["--profile-registries", str(db), "--registry-max-row-bytes", "64KiB"], tmp_path)
    try:
        assert health(server)["quarantined"] == []
        write_row(db, "grown", big_registry("grown", 70_000))  # behind the running service's back
        reasons = {q["slug"]: q["reason"] for q in health(server)["quarantined"]}
        assert list(reasons) == ["grown"], reasons
        assert "more than the 65536 allowed (REGISTRY_MAX_ROW_BYTES)" in reasons["grown"], reasons
        assert server.request("GET", "/api/chat/profiles?registry=fits")[0] == 200
    finally:
        server.stop()


def test_a_write_that_would_make_a_row_over_the_limit_is_413_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    server = ServeProcess(
        ["--profile-registries", str(db), "--writable", "--registry-max-row-bytes", "64KiB"],
        tmp_path,
        PROFILE_REGISTRY_TOKEN=f"alice:{SECRET}",
    )
    try:
        first = json.dumps(
            {"slug": "team", "default_profile_slug": "a", "profiles": {"a": {"slug": "a", "description": "x" * 40_000}}}
        )
        status, _, body = server.request("PUT", "/api/registries/team", first.encode(), AUTH)
        assert status in (200, 201), body[:300]
        before = sqlite3.connect(db).execute("SELECT payload_json, updated_at_ms FROM profile_registries").fetchall()
        # Each body is small (well under the 1 MiB body limit); together they would pass the row limit.
        second = json.dumps({"registry": "team", "slug": "b", "description": "y" * 40_000})
        status, _, body = server.request("POST", "/api/chat/profiles", second.encode(), AUTH)
        assert status == 413, (status, body[:300])
        message = json.loads(body)["message"]
        assert "more than the 65536 allowed (REGISTRY_MAX_ROW_BYTES); nothing written" in message, message
        after = sqlite3.connect(db).execute("SELECT payload_json, updated_at_ms FROM profile_registries").fetchall()
        assert after == before
        assert health(server)["quarantined"] == []
    finally:
        server.stop()


def test_serve_refuses_a_bad_row_limit_in_one_line(tmp_path: Path) -> None:
    for value in ("0", "2GiB", "lots", "-1"):
        done = subprocess.run(
            [sys.executable, "-m", "registry", "serve", "--registry-max-row-bytes", value, "--port", "0"],
            cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=30, check=False,
        )
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "argument --registry-max-row-bytes" in done.stderr, done.stderr


def test_on_postgresql_an_oversized_row_is_quarantined_and_a_write_past_the_limit_is_413(pg_url, make_app) -> None:
    import psycopg

    from registry.web.auth import AdminToken

    app = make_app(
        pg_url, REGISTRY_MAX_ROW_BYTES=64 * 1024, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", SECRET)]
    )
    client = app.test_client()
    with psycopg.connect(pg_url) as conn:  # behind the service's back, as psql would
        conn.execute("INSERT INTO profile_registries VALUES ('fits', %s, 1)", (big_registry("fits", 60_000),))
        conn.execute("INSERT INTO profile_registries VALUES ('huge', %s, 2)", (big_registry("huge", 100_000),))
    store = app_state(app).service.store_sources()[0].store
    deadline = time.monotonic() + 10
    while not client.get("/api/health").get_json()["quarantined"] and time.monotonic() < deadline:
        time.sleep(0.05)  # the NOTIFY of another connection's write arrives within milliseconds
    reasons = {q["slug"]: q["reason"] for q in client.get("/api/health").get_json()["quarantined"]}
    assert list(reasons) == ["huge"] and "more than the 65536 allowed (REGISTRY_MAX_ROW_BYTES)" in reasons["huge"]
    assert client.get("/api/chat/profiles?registry=fits").status_code == 200
    before = store.snapshot().registries["fits"].updated_at_ms
    response = client.post(
        "/api/chat/profiles",
        json={"registry": "fits", "slug": "more", "description": "z" * 10_000},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code == 413 and "REGISTRY_MAX_ROW_BYTES" in response.get_json()["message"]
    assert store.snapshot().registries["fits"].updated_at_ms == before
