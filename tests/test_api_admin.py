"""The admin write API: every route's success and error answers, tokens, read-only mode, YAML sources, OpenAPI."""

from __future__ import annotations

import json
import logging
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry.web.app_state import app_state
from registry.web.auth import AdminToken

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RUNTIME = "pinocchio.webchat_runtime@v1"


@pytest.fixture
def client(seeded_db, make_app):
    app = make_app(seeded_db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)])
    return app.test_client()


def stored(db: Path, slug: str = "default") -> dict:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT payload_json FROM profile_registries WHERE slug = ?", (slug,)).fetchone()
    finally:
        conn.close()
    return json.loads(row[0]) if row else {}


def row_updated_at(db: Path, slug: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT updated_at_ms FROM profile_registries WHERE slug = ?", (slug,)).fetchone()[0]
    finally:
        conn.close()


# --- create ------------------------------------------------------------------------------------------------------


def test_create_profile_persists_touched_metadata(client, seeded_db):
    before = stored(seeded_db)["metadata"]["version"]
    r = client.post("/api/chat/profiles", json={"slug": "Writer", "display_name": "W"}, headers=AUTH)
    assert r.status_code == 201, r.get_data(as_text=True)
    doc = r.get_json()
    assert (doc["registry"], doc["slug"], doc["display_name"]) == ("default", "writer", "W")
    assert doc["metadata"]["version"] == 1 and doc["metadata"]["created_by"] == "alice"
    payload = stored(seeded_db)
    assert payload["profiles"]["writer"]["metadata"]["source"] == "api"
    assert payload["metadata"]["version"] == before + 1
    assert payload["metadata"]["updated_by"] == "alice"
    assert row_updated_at(seeded_db, "default") == payload["metadata"]["updated_at_ms"]
    # The read API sees it at once.
    assert client.get("/api/chat/profiles/writer").get_json()["display_name"] == "W"


def test_create_existing_profile_is_409(client):
    r = client.post("/api/chat/profiles", json={"slug": "analyst"}, headers=AUTH)
    assert r.status_code == 409
    assert "already exists" in r.get_json()["message"]


def test_create_in_unknown_registry_is_404(client):
    r = client.post("/api/chat/profiles?registry=nope", json={"slug": "x"}, headers=AUTH)
    assert r.status_code == 404 and r.get_json()["message"] == "registry not found"
    r = client.post("/api/chat/profiles", json={"slug": "x", "registry": "nope"}, headers=AUTH)
    assert r.status_code == 404


def test_create_with_bad_slug_is_400_with_reference_text(client):
    r = client.post("/api/chat/profiles", json={"slug": "no spaces"}, headers=AUTH)
    assert r.status_code == 400
    assert r.get_json()["message"] == 'validation error (profile.slug): profile slug "no spaces" is invalid'
    r = client.post("/api/chat/profiles", json={"slug": "x", "extensions": {"bad key": 1}}, headers=AUTH)
    assert r.get_json()["message"].startswith("validation error (profile.extensions[bad key]): extension key")


def test_create_with_invalid_registry_arg_is_400(client):
    r = client.post("/api/chat/profiles?registry=Bad Slug!", json={"slug": "x"}, headers=AUTH)
    assert r.status_code == 400 and r.get_json()["message"] == "invalid registry"


def test_create_body_errors_are_422_json(client):
    r = client.post("/api/chat/profiles", json={"display_name": "no slug"}, headers=AUTH)
    assert r.status_code == 422
    assert "slug" in r.get_json()["errors"]["json"]
    r = client.post("/api/chat/profiles", data="{not json", content_type="application/json", headers=AUTH)
    assert r.status_code == 400 and r.is_json


def test_bad_agentmode_config_is_422_with_pointer_and_nothing_is_written(client, seeded_db):
    before = stored(seeded_db)
    body = {
        "slug": "bad",
        "extensions": {RUNTIME: {"middlewares": [{"name": "agentmode", "config": {"default_mode": 3}}]}},
    }
    r = client.post("/api/chat/profiles", json=body, headers=AUTH)
    assert r.status_code == 422
    err = r.get_json()
    assert err["pointer"] == f"/extensions/{RUNTIME}/middlewares/0/config/default_mode"
    assert err["message"].endswith("3 is not of type 'string'")
    body["extensions"][RUNTIME]["middlewares"][0]["config"] = {"mood": "grumpy"}
    r = client.post("/api/chat/profiles", json=body, headers=AUTH)
    assert r.status_code == 422
    assert r.get_json()["pointer"] == f"/extensions/{RUNTIME}/middlewares/0/config/mood"
    assert "'mood' was unexpected" in r.get_json()["message"]
    assert stored(seeded_db) == before


def test_unknown_extension_key_is_stored_as_given(client, seeded_db):
    r = client.post("/api/chat/profiles", json={"slug": "x", "extensions": {"Acme.Thing@V2": {"a": [1]}}}, headers=AUTH)
    assert r.status_code == 201
    assert stored(seeded_db)["profiles"]["x"]["extensions"] == {"Acme.Thing@V2": {"a": [1]}}


# --- update ------------------------------------------------------------------------------------------------------


def test_patch_updates_and_bumps_version(client, seeded_db):
    r = client.patch(
        "/api/chat/profiles/analyst", json={"description": "new text", "expected_version": 0}, headers=AUTH
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["metadata"]["version"] == 1
    r = client.patch("/api/chat/profiles/analyst", json={"display_name": "A2", "expected_version": 1}, headers=AUTH)
    assert r.get_json()["metadata"]["version"] == 2
    profile = stored(seeded_db)["profiles"]["analyst"]
    assert (profile["description"], profile["display_name"]) == ("new text", "A2")
    assert profile["stack"] == [{"profile_slug": "default"}], "fields not in the body are kept"


def test_patch_with_stale_version_is_409_with_both_versions(client, seeded_db):
    client.patch("/api/chat/profiles/analyst", json={"description": "v1"}, headers=AUTH)
    before = stored(seeded_db)
    r = client.patch("/api/chat/profiles/analyst", json={"description": "stale", "expected_version": 0}, headers=AUTH)
    assert r.status_code == 409
    body = r.get_json()
    assert (body["expected_version"], body["actual_version"]) == (0, 1)
    assert body["message"] == 'profile "analyst" version conflict: expected=0 actual=1'
    assert stored(seeded_db) == before


def test_patch_unknown_profile_or_registry_is_404(client):
    assert client.patch("/api/chat/profiles/ghost", json={}, headers=AUTH).status_code == 404
    r = client.patch("/api/chat/profiles/analyst?registry=ghost", json={}, headers=AUTH)
    assert r.status_code == 404 and r.get_json()["message"] == "registry not found"


def test_patch_that_would_make_a_cycle_is_refused(client, seeded_db):
    before = stored(seeded_db)
    r = client.patch("/api/chat/profiles/default", json={"stack": [{"profile_slug": "analyst"}]}, headers=AUTH)
    assert r.status_code == 400
    assert r.get_json()["message"] == (
        "validation error (registry.profiles[default].stack[0]): "
        "stack cycle detected: default/analyst -> default/default -> default/analyst"
    )
    assert stored(seeded_db) == before


def test_patch_with_dangling_stack_ref_is_refused(client):
    r = client.patch(
        "/api/chat/profiles/analyst",
        json={"stack": [{"registry_slug": "elsewhere", "profile_slug": "x"}]},
        headers=AUTH,
    )
    assert r.status_code == 400
    assert 'referenced profile "x" not found in registry "elsewhere"' in r.get_json()["message"]


def test_patch_extension_merge_and_schema_check(client, seeded_db):
    r = client.patch(
        "/api/chat/profiles/default",
        json={"extensions": {"webchat.starter_suggestions@v1": None, "test.markers@v1": ["a"]}},
        headers=AUTH,
    )
    assert r.status_code == 200
    ext = stored(seeded_db)["profiles"]["default"]["extensions"]
    assert "webchat.starter_suggestions@v1" not in ext and ext["test.markers@v1"] == ["a"]
    assert RUNTIME in ext
    r = client.patch(
        "/api/chat/profiles/default",
        json={"extensions": {"webchat.starter_suggestions@v1": {"items": [1]}}},
        headers=AUTH,
    )
    assert r.status_code == 422
    assert r.get_json()["pointer"] == "/extensions/webchat.starter_suggestions@v1/items/0"


# --- delete ------------------------------------------------------------------------------------------------------


def test_delete_profile(client, seeded_db):
    client.post("/api/chat/profiles", json={"slug": "temp"}, headers=AUTH)
    r = client.delete("/api/chat/profiles/temp?expected_version=9", headers=AUTH)
    assert r.status_code == 409 and r.get_json()["actual_version"] == 1
    r = client.delete("/api/chat/profiles/temp?expected_version=1", headers=AUTH)
    assert r.status_code == 204 and r.get_data() == b""
    assert "temp" not in stored(seeded_db)["profiles"]
    assert client.delete("/api/chat/profiles/temp", headers=AUTH).status_code == 404


def test_delete_profile_others_stack_on_is_refused(client, seeded_db):
    client.post("/api/chat/profiles/analyst/default", json={}, headers=AUTH)
    r = client.delete("/api/chat/profiles/default", headers=AUTH)
    assert r.status_code == 400
    assert 'referenced profile "default" not found in registry "default"' in r.get_json()["message"]
    assert "default" in stored(seeded_db)["profiles"]


def test_delete_with_bad_expected_version_is_400(client):
    r = client.delete("/api/chat/profiles/analyst?expected_version=abc", headers=AUTH)
    assert r.status_code == 400 and r.get_json()["message"] == "invalid expected_version"


# --- set default -------------------------------------------------------------------------------------------------


def test_set_default(client, seeded_db):
    version = stored(seeded_db)["metadata"]["version"]
    r = client.post("/api/chat/profiles/analyst/default", json={"expected_version": version + 5}, headers=AUTH)
    assert r.status_code == 409
    assert (r.get_json()["expected_version"], r.get_json()["actual_version"]) == (version + 5, version)
    r = client.post("/api/chat/profiles/analyst/default", json={"expected_version": version}, headers=AUTH)
    assert r.status_code == 200
    assert r.get_json() == {"registry": "default", "default_profile_slug": "analyst", "version": version + 1}
    assert client.get("/api/chat/profiles/analyst").get_json()["is_default"] is True
    assert client.post("/api/chat/profiles/ghost/default", json={}, headers=AUTH).status_code == 404
    # The GET on the same path is still the reference's read.
    assert client.get("/api/chat/profiles/analyst/default").get_json()["slug"] == "analyst"


# --- registries --------------------------------------------------------------------------------------------------


def test_registry_list_has_updated_at(client, seeded_db):
    items = client.get("/api/registries").get_json()
    assert [i["slug"] for i in items] == ["default"]
    assert items[0]["updated_at_ms"] == row_updated_at(seeded_db, "default")
    assert items[0]["writable"] is True and items[0]["profiles"] == ["analyst", "default"]


def test_put_creates_then_replaces_registry(client, seeded_db):
    body = registry_payload("team", {"a": {"display_name": "A"}, "b": {}}, default="a")
    r = client.put("/api/registries/team", json=body, headers=AUTH)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["version"] == 1
    r = client.put("/api/registries/team", json=registry_payload("team", {"c": {}}) | {"expected_version": 0},
                   headers=AUTH)
    assert r.status_code == 409 and r.get_json()["actual_version"] == 1
    r = client.put("/api/registries/team", json=registry_payload("team", {"c": {}}) | {"expected_version": 1},
                   headers=AUTH)
    assert r.status_code == 200 and r.get_json()["profiles"] == ["c"] and r.get_json()["version"] == 2
    assert stored(seeded_db, "team")["metadata"]["created_by"] == "alice"
    assert {i["slug"] for i in client.get("/api/chat/profiles?registry=team").get_json()} == {"c"}


def test_put_validation_and_slug_mismatch(client):
    r = client.put("/api/registries/team", json={"profiles": {"a": {}}}, headers=AUTH)
    assert r.status_code == 400
    assert (
        r.get_json()["message"]
        == "validation error (registry.default_profile_slug): must be set when profiles are present"
    )
    r = client.put("/api/registries/team", json={"slug": "other"}, headers=AUTH)
    assert r.status_code == 400 and "registry.slug" in r.get_json()["message"]
    r = client.put("/api/registries/Not Valid!", json={}, headers=AUTH)
    assert r.status_code == 400 and r.get_json()["message"] == "invalid registry"
    bad = {
        "default_profile_slug": "a",
        "profiles": {
            "a": {"extensions": {"middleware.agentmode_config@v1": {"instances": {"i": {"default_mode": 1}}}}}
        },
    }
    r = client.put("/api/registries/team", json=bad, headers=AUTH)
    assert r.status_code == 422
    assert r.get_json()["pointer"] == "/profiles/a/extensions/middleware.agentmode_config@v1/instances/i/default_mode"


def test_put_replacing_a_registry_others_depend_on_is_refused(client):
    shared = registry_payload("shared", {"base": {}})
    assert client.put("/api/registries/shared", json=shared, headers=AUTH).status_code == 201
    leaf = registry_payload("leaf", {"top": {"stack": [{"registry_slug": "shared", "profile_slug": "base"}]}})
    assert client.put("/api/registries/leaf", json=leaf, headers=AUTH).status_code == 201
    r = client.put("/api/registries/shared", json=registry_payload("shared", {"other": {}}), headers=AUTH)
    assert (
        r.status_code == 400 and 'referenced profile "base" not found in registry "shared"' in r.get_json()["message"]
    )
    r = client.delete("/api/registries/shared", headers=AUTH)
    assert r.status_code == 400
    assert client.delete("/api/registries/leaf", headers=AUTH).status_code == 204
    assert client.delete("/api/registries/shared?expected_version=1", headers=AUTH).status_code == 204
    assert client.delete("/api/registries/shared", headers=AUTH).status_code == 404


def test_put_repairs_a_quarantined_row(db_path, make_app):
    write_row(db_path, "default", registry_payload("default", {"a": {}}))
    write_row(db_path, "broken", '{"slug": "broken", "profiles":')
    client = make_app(db_path, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)]).test_client()
    assert client.patch("/api/chat/profiles/x?registry=broken", json={}, headers=AUTH).status_code == 500
    r = client.put("/api/registries/broken", json=registry_payload("broken", {"fixed": {}}), headers=AUTH)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert client.get("/api/chat/profiles/fixed?registry=broken").status_code == 200


# --- access control ------------------------------------------------------------------------------------------------


WRITES = [
    ("post", "/api/chat/profiles", {"slug": "x"}),
    ("patch", "/api/chat/profiles/analyst", {}),
    ("delete", "/api/chat/profiles/analyst", None),
    ("post", "/api/chat/profiles/analyst/default", {}),
    ("put", "/api/registries/team", {}),
    ("delete", "/api/registries/default", None),
]


@pytest.mark.parametrize("method,path,body", WRITES)
def test_every_write_route_is_403_when_not_writable(seeded_db, make_app, method, path, body):
    client = make_app(seeded_db, ADMIN_TOKENS=[AdminToken("alice", TOKEN)]).test_client()
    r = getattr(client, method)(path, json=body, headers=AUTH)
    assert r.status_code == 403 and r.get_json()["message"] == "store is read-only"


@pytest.mark.parametrize("method,path,body", WRITES)
def test_every_write_route_needs_the_token(client, seeded_db, method, path, body, caplog):
    before = stored(seeded_db)
    with caplog.at_level(logging.WARNING):
        missing = getattr(client, method)(path, json=body)
        wrong = getattr(client, method)(path, json=body, headers={"Authorization": "Bearer not-the-token-xyz"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "not-the-token-xyz" not in caplog.text and TOKEN not in caplog.text
    assert "wrong bearer token" in caplog.text
    assert stored(seeded_db) == before


def test_reads_stay_open_and_405s_stay_right(client):
    assert client.get("/api/chat/profiles").status_code == 200
    assert client.get("/api/chat/profiles/analyst").status_code == 200
    assert client.get("/api/registries").status_code == 200
    r = client.put("/api/chat/profiles", headers=AUTH)
    assert r.status_code == 405 and r.get_data(as_text=True) == "method not allowed\n"
    r = client.put("/api/chat/profiles/analyst", headers=AUTH)
    assert r.status_code == 405 and set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "PATCH", "DELETE"}
    assert client.patch("/api/chat/profiles/analyst/default", headers=AUTH).status_code == 405
    assert client.post("/api/registries", headers=AUTH).status_code == 405


def test_yaml_registry_is_not_writable(tmp_path, make_app):
    yaml_file = tmp_path / "team.yaml"
    yaml_file.write_text("slug: team\nprofiles:\n  a:\n    display_name: A\n", encoding="utf-8")
    db = tmp_path / "main.db"
    write_row(db, "default", registry_payload("default", {"x": {}}))
    client = make_app(db, yaml_file, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)]).test_client()
    r = client.patch("/api/chat/profiles/a?registry=team", json={"display_name": "B"}, headers=AUTH)
    assert r.status_code == 403
    assert r.get_json()["message"].startswith('store is read-only: registry "team" comes from the YAML source')
    assert client.put("/api/registries/team", json={}, headers=AUTH).status_code == 403
    # The SQLite registry beside it is writable.
    assert (
        client.patch("/api/chat/profiles/x?registry=default", json={"description": "d"}, headers=AUTH).status_code
        == 200
    )


def test_yaml_only_chain_cannot_create_registries(tmp_path, make_app):
    yaml_file = tmp_path / "team.yaml"
    yaml_file.write_text("slug: team\nprofiles:\n  a: {}\n", encoding="utf-8")
    client = make_app(yaml_file, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)]).test_client()
    r = client.put("/api/registries/new", json={}, headers=AUTH)
    assert r.status_code == 403 and "no writable database source" in r.get_json()["message"]


def test_writable_empty_database_can_create_the_first_registry(db_path, make_app):
    client = make_app(db_path, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)]).test_client()
    assert client.get("/api/registries").get_json() == []
    assert client.put("/api/registries/default", json={}, headers=AUTH).status_code == 201
    assert client.post("/api/chat/profiles", json={"slug": "first"}, headers=AUTH).status_code == 201
    assert client.get("/api/chat/profiles/first").get_json()["is_default"] is True


def test_openapi_documents_every_write_route(client):
    spec = client.get("/api/openapi.json").get_json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/chat/profiles"])
    assert {"get", "patch", "delete"} <= set(paths["/api/chat/profiles/{slug}"])
    assert {"get", "post"} <= set(paths["/api/chat/profiles/{slug}/default"])
    assert {"get"} <= set(paths["/api/registries"])
    assert {"put", "delete"} <= set(paths["/api/registries/{slug}"])
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    assert "422" in paths["/api/chat/profiles"]["post"]["responses"]
    patch = paths["/api/chat/profiles/{slug}"]["patch"]["responses"]
    assert {"200", "400", "401", "403", "404", "409", "413", "422"} <= set(patch)
    assert "REGISTRY_MAX_ROW_BYTES" in patch["413"]["description"]
    assert {"200", "201", "413"} <= set(paths["/api/registries/{slug}"]["put"]["responses"])


# --- over real HTTP ------------------------------------------------------------------------------------------------


def test_write_through_waitress(seeded_db, make_app, live_server):
    server = live_server(make_app(seeded_db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)]))
    request = urllib.request.Request(
        server.url + "/api/chat/profiles/analyst",
        data=json.dumps({"description": "over http", "expected_version": 0}).encode(),
        headers=AUTH | {"Content-Type": "application/json"},
        method="PATCH",
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["metadata"]["version"] == 1
    request = urllib.request.Request(server.url + "/api/chat/profiles/analyst", data=b"{}", method="PATCH",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    info.value.close()  # the error holds the response and its socket
    assert info.value.code == 401
    with urllib.request.urlopen(server.url + "/api/chat/profiles/analyst") as response:
        assert json.load(response)["description"] == "over http"


# --- serve options ---------------------------------------------------------------------------------------------------


def test_serve_writable_without_token_refuses_to_start(tmp_path, monkeypatch, capsys):
    from registry.cli import main

    monkeypatch.delenv("PROFILE_REGISTRY_TOKEN", raising=False)
    db = tmp_path / "p.db"
    assert main(["serve", "--writable", "--profile-registries", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("profile-registry serve: error: --writable needs an admin token: "
                   "set PROFILE_REGISTRY_TOKEN or pass --token-file FILE")
    assert not db.exists(), "nothing is opened before the check"


def test_serve_token_file_makes_a_writable_app(tmp_path, monkeypatch):
    from registry.cli import build_parser
    from registry.cli.serve import build_app

    monkeypatch.delenv("PROFILE_REGISTRY_TOKEN", raising=False)
    tokens = tmp_path / "tokens"
    tokens.write_text("# admins\nbob:bobs-token\n", encoding="utf-8")
    db = tmp_path / "p.db"
    write_row(db, "default", registry_payload("default", {"a": {}}))
    args = build_parser().parse_args(
        ["serve", "--writable", "--token-file", str(tokens), "--profile-registries", str(db)]
    )
    app = build_app(args)
    try:
        client = app.test_client()
        r = client.patch(
            "/api/chat/profiles/a", json={"description": "d"}, headers={"Authorization": "Bearer bobs-token"}
        )
        assert r.status_code == 200 and r.get_json()["metadata"]["updated_by"] == "bob"
    finally:
        app_state(app).service.chain.close()
    args = build_parser().parse_args(["serve", "--token-file", str(tokens), "--profile-registries", str(db)])
    app = build_app(args)
    try:
        r = app.test_client().patch("/api/chat/profiles/a", json={}, headers={"Authorization": "Bearer bobs-token"})
        assert r.status_code == 403
    finally:
        app_state(app).service.chain.close()


# --- field names match as Go's decoder matches them (issue 13) -----------------------------------------------------


def test_admin_body_field_names_match_case_insensitively_like_go(client, seeded_db):
    """Go's encoding/json fills a struct field from a key naming it in any case (a .NET client sends PascalCase);
    these bodies used to be refused with 422 "Unknown field"."""
    r = client.post(
        "/api/chat/profiles",
        json={"Slug": "pascal", "Display_Name": "P", "STACK": [{"Profile_Slug": "analyst"}], "Set_Default": True},
        headers=AUTH,
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    payload = stored(seeded_db)
    assert payload["default_profile_slug"] == "pascal"
    assert payload["profiles"]["pascal"]["display_name"] == "P"
    assert payload["profiles"]["pascal"]["stack"] == [{"profile_slug": "analyst"}]
    version = payload["profiles"]["pascal"]["metadata"]["version"]
    r = client.patch(
        "/api/chat/profiles/pascal", json={"Description": "D", "Expected_Version": version}, headers=AUTH
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert stored(seeded_db)["profiles"]["pascal"]["description"] == "D"
    r = client.put(
        "/api/registries/cased",
        json={"Default_Profile_Slug": "p", "Profiles": {"p": {"Display_Name": "Q"}}, "DISPLAY_NAME": "C"},
        headers=AUTH,
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    cased = stored(seeded_db, "cased")
    assert (cased["default_profile_slug"], cased["display_name"]) == ("p", "C")
    assert cased["profiles"]["p"]["display_name"] == "Q"
    # Keys inside maps are not field names: they stay exactly as sent.
    r = client.post("/api/chat/profiles", json={"slug": "maps", "Extensions": {"acme.note@v1": {"Slug": 1}}},
                    headers=AUTH)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["extensions"] == {"acme.note@v1": {"Slug": 1}}
    written = stored(seeded_db, r.get_json()["registry"])["profiles"]["maps"]
    assert written["extensions"] == {"acme.note@v1": {"Slug": 1}}


def test_admin_body_keys_naming_no_field_are_still_422(client, seeded_db):
    before = stored(seeded_db)
    r = client.post("/api/chat/profiles", json={"slug": "x", "Slugs": "y"}, headers=AUTH)
    assert r.status_code == 422 and "Slugs" in r.get_json()["errors"]["json"]
    r = client.patch("/api/chat/profiles/analyst", json={"Descriptions": "x"}, headers=AUTH)
    assert r.status_code == 422 and "Descriptions" in r.get_json()["errors"]["json"]
    r = client.put("/api/registries/r", json={"profiles": {"p": {"Display-Name": "x"}}}, headers=AUTH)
    assert r.status_code == 422, r.get_data(as_text=True)
    assert stored(seeded_db) == before and stored(seeded_db, "r") == {}
