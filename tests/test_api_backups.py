"""/api/backups: list, create and restore over HTTP (real waitress), with the admin token and safe names."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry.storage.backups.files import sha256_file
from registry.web.auth import AdminToken

TOKEN = "s3cret-token"


def call(url: str, method: str = "GET", token: str | None = None):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.load(response), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), exc.headers


@pytest.fixture
def server(seeded_db: Path, make_app, live_server, tmp_path):
    app = make_app(
        seeded_db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("ops", TOKEN)], BACKUP_DIR=str(tmp_path / "snaps")
    )
    return live_server(app)


def test_list_is_empty_then_shows_a_created_snapshot(server, seeded_db, tmp_path):
    status, body, _ = call(server.url + "/api/backups")
    assert status == 200
    assert body == {"database": str(seeded_db), "backup_dir": str(tmp_path / "snaps"), "snapshots": []}
    status, created, _ = call(server.url + "/api/backups", "POST", TOKEN)
    assert status == 201
    assert created["verified"] is True
    assert created["registries"].keys() == {"default"}
    assert Path(created["path"]).parent == tmp_path / "snaps"
    status, body, _ = call(server.url + "/api/backups")
    assert [s["name"] for s in body["snapshots"]] == [created["name"]]
    assert body["snapshots"][0]["sha256"] == sha256_file(Path(created["path"]))


def test_posts_need_the_admin_token(server, tmp_path):
    for token in (None, "wrong"):
        status, body, headers = call(server.url + "/api/backups", "POST", token)
        assert status == 401
        assert "bearer token" in body["message"]
        assert headers["WWW-Authenticate"].startswith("Bearer")
        status, _, _ = call(server.url + "/api/backups/profiles.db.bak.20260101-000000/restore", "POST", token)
        assert status == 401
    assert not (tmp_path / "snaps").exists() or not list((tmp_path / "snaps").iterdir())


def test_restore_by_name_changes_what_the_service_serves(server, seeded_db):
    _, created, _ = call(server.url + "/api/backups", "POST", TOKEN)
    write_row(seeded_db, "default", registry_payload("default", {"replaced": {}}), 1_900_000_000_000)
    _, items, _ = call(server.url + "/api/chat/profiles")
    assert {i["slug"] for i in items} == {"replaced", "mock_parity"}
    status, result, _ = call(server.url + f"/api/backups/{created['name']}/restore", "POST", TOKEN)
    assert status == 200
    assert result["restored"]["name"] == created["name"]
    assert result["changes"] == [
        {
            "slug": "default",
            "live_updated_at_ms": 1_900_000_000_000,
            "snapshot_updated_at_ms": created["registries"]["default"],
            "change": "older",
        }
    ]
    assert Path(result["safety_snapshot"]["path"]).exists()
    _, items, _ = call(server.url + "/api/chat/profiles")
    assert {i["slug"] for i in items} == {"analyst", "default", "mock_parity"}


def test_unknown_or_unsafe_names_are_404(server):
    for name in [
        "profiles.db.bak.20990101-000000",
        "..%2F..%2Fetc%2Fpasswd",
        "profiles.db",
        "%2Fetc%2Fpasswd",
        "..",
        "profiles.db.bak.20990101-000000.manifest.json",
    ]:
        status, body, _ = call(server.url + f"/api/backups/{name}/restore", "POST", TOKEN)
        assert (status, body["code"]) == (404, 404), name


def test_a_damaged_snapshot_is_refused_with_the_reason(server, seeded_db):
    _, created, _ = call(server.url + "/api/backups", "POST", TOKEN)
    with open(created["path"], "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00" * 50)
    status, body, _ = call(server.url + f"/api/backups/{created['name']}/restore", "POST", TOKEN)
    assert status == 422
    assert "checksum" in body["message"] or "manifest" in body["message"]
    _, items, _ = call(server.url + "/api/chat/profiles")
    assert {i["slug"] for i in items} == {"analyst", "default", "mock_parity"}


def test_yaml_only_service_has_nothing_to_back_up(make_app, live_server, tmp_path):
    yaml_file = tmp_path / "reg.yaml"
    yaml_file.write_text("slug: team\nprofiles:\n  default:\n    display_name: D\n")
    server = live_server(make_app(f"yaml:{yaml_file}", ADMIN_TOKENS=[AdminToken("ops", TOKEN)]))
    status, body, _ = call(server.url + "/api/backups")
    assert status == 409
    assert "no SQLite" in body["message"]


def test_openapi_documents_the_routes(server):
    _, spec, _ = call(server.url + "/api/openapi.json")
    assert {"/api/backups", "/api/backups/{name}/restore"} <= set(spec["paths"])
    assert "post" in spec["paths"]["/api/backups/{name}/restore"]


def test_diff_shows_what_a_restore_would_change_and_compares_two_snapshots(server, seeded_db):
    status, first, _ = call(server.url + "/api/backups", "POST", TOKEN)
    write_row(
        seeded_db, "default", registry_payload("default", {"other": {"display_name": "Other"}}), 1_900_000_000_000
    )
    status, body, _ = call(server.url + f"/api/backups/{first['name']}/diff")
    assert status == 200
    assert body["before"] == {"kind": "live", "name": str(seeded_db), "path": str(seeded_db)}
    assert body["after"]["kind"] == "snapshot" and body["after"]["name"] == first["name"]
    [default] = body["registries"]
    assert default["change"] == "changed"
    assert default["before_updated_at_ms"] == 1_900_000_000_000
    assert default["after_updated_at_ms"] == first["registries"]["default"]
    assert {p["slug"]: p["change"] for p in default["profiles"]} == {
        "analyst": "added",
        "default": "added",
        "other": "removed",
    }
    assert {"path": "/default_profile_slug", "op": "replace", "before": "other", "after": "default"} in default[
        "fields"
    ]

    status, second, _ = call(server.url + "/api/backups", "POST", TOKEN)
    status, body, _ = call(server.url + f"/api/backups/{first['name']}/diff?against={second['name']}")
    assert status == 200
    assert body["before"]["name"] == second["name"]
    assert body["registries"][0]["before_updated_at_ms"] == 1_900_000_000_000
    status, body, _ = call(server.url + f"/api/backups/{second['name']}/diff?against={second['name']}")
    assert status == 200 and body["registries"][0]["change"] == "same"


def test_diff_of_an_unknown_or_traversing_name_is_404(server):
    for url, name in (
        ("/api/backups/profiles.db.bak.20200101-000000/diff", "profiles.db.bak.20200101-000000"),
        ("/api/backups/profiles.db/diff?against=profiles.db", "profiles.db"),
        ("/api/backups/..%2F..%2Fetc%2Fpasswd/diff", None),  # never reaches the route: a slash in a name
    ):
        status, body, _ = call(server.url + url)
        assert status == 404, url
        if name:
            assert body["message"] == f"no snapshot named {name!r}"


def post_json(url: str, body: object, token: str | None = TOKEN):
    req = urllib.request.Request(url, method="POST", data=json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def read_only(seeded_db: Path, make_app, live_server, tmp_path):
    """The same database and snapshot folder as `server`, served without --writable."""
    app = make_app(seeded_db, ADMIN_TOKENS=[AdminToken("ops", TOKEN)], BACKUP_DIR=str(tmp_path / "snaps"))
    return live_server(app)


def test_partial_restore_over_http_with_the_diffs_stamps_then_409_once_the_registry_moved(server, seeded_db):
    status, snap, _ = call(server.url + "/api/backups", "POST", TOKEN)
    write_row(seeded_db, "default", registry_payload("default", {"broken": {}}), 1_900_000_000_000)
    write_row(seeded_db, "team", registry_payload("team", {"t": {}}), 1_900_000_000_001)
    _, diff, _ = call(server.url + f"/api/backups/{snap['name']}/diff")
    seen = {r["slug"]: r["before_updated_at_ms"] for r in diff["registries"]}
    body = {"registries": ["default"], "expected_updated_at_ms": seen}
    status, result = post_json(server.url + f"/api/backups/{snap['name']}/restore", body)
    assert status == 200, result
    assert [(r["slug"], r["change"], r["before_updated_at_ms"]) for r in result["registries"]] == [
        ("default", "replaced", 1_900_000_000_000)
    ]
    _, listed, _ = call(server.url + "/api/chat/profiles")
    assert sorted((p["registry"], p["slug"]) for p in listed) == [
        ("default", "analyst"),
        ("default", "default"),
        ("default", "mock_parity"),
        ("team", "t"),
    ]
    # The diff's stamp for `default` is stale now: the same request is a 409 and changes nothing.
    status, refused = post_json(server.url + f"/api/backups/{snap['name']}/restore", body)
    assert status == 409
    assert refused["message"].startswith('registry "default" changed since the diff was shown: updated_at_ms expected=')
    status, refused = post_json(server.url + f"/api/backups/{snap['name']}/restore", {"profiles": ["default"]})
    assert (status, refused["message"]) == (400, "validation error (profile): 'default' is not REGISTRY/PROFILE")


def test_partial_restore_needs_writable_and_refuses_a_broken_stack_with_the_reason(read_only, server, seeded_db):
    status, snap, _ = call(server.url + "/api/backups", "POST", TOKEN)
    status, refused = post_json(read_only.url + f"/api/backups/{snap['name']}/restore", {"registries": ["default"]})
    assert (status, refused["message"]) == (403, "store is read-only")
    # Later, `team` stacks on default/writer, which the snapshot's `default` does not hold.
    payload = json.loads(json.dumps(registry_payload("default", {"default": {}, "analyst": {}, "writer": {}})))
    write_row(seeded_db, "default", payload, 1_900_000_000_000)
    team = registry_payload("team", {"t": {"stack": [{"registry_slug": "default", "profile_slug": "writer"}]}})
    write_row(seeded_db, "team", team, 1_900_000_000_000)
    status, refused = post_json(server.url + f"/api/backups/{snap['name']}/restore", {"registries": ["default"]})
    assert status == 422
    assert refused["message"] == (
        "refused: restoring registry default would break a stack reference: team/t stacks on default/writer, "
        'which the restored registry "default" would not hold; nothing was restored'
    )
