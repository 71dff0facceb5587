"""A database written by the Go reference (contract §1.5 shapes) loads, is served, and is never rewritten."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from registry.domain import gojson
from registry.domain.model import decode_registry, encode_registry
from registry.storage.row_loading import parse_row
from registry.web.app_state import app_state

# Compact, Go-encoded payloads: struct field order, sorted map keys, PascalCase inference settings with nulls,
# `metadata: {}`, stack refs with and without registry_slug, HTML-escaped strings.
GO_DEFAULT = (
    '{"slug":"default","display_name":"R\\u0026D \\u003cteam\\u003e","default_profile_slug":"agent","profiles":{'
    '"agent":{"slug":"agent","display_name":"Agent","stack":[{"profile_slug":"provider-openai"},'
    '{"registry_slug":"shared","profile_slug":"mw-observability"}],'
    '"inference_settings":{"API":null,"Chat":{"Engine":"gpt-5-mini","ApiType":"openai-responses","Temperature":null},'
    '"Inference":null,"ModelInfo":{"id":"gpt-5-mini","context_window":400000}},'
    '"metadata":{"source":"api","version":2,"created_at_ms":1760000000000,"updated_at_ms":1760000005000,'
    '"created_by":"alice","updated_by":"bob"},'
    '"extensions":{"pinocchio.webchat_runtime@v1":{"middlewares":[{"config":{"default_mode":"financial_analyst"},'
    '"name":"agentmode"}],"system_prompt":"You are an agent \\u003c\\u0026\\u003e","tools":["search"]}}},'
    '"provider-openai":{"slug":"provider-openai","metadata":{}}},'
    '"metadata":{"source":"api","version":3,"created_at_ms":1760000000000,"updated_at_ms":1760000005000,'
    '"created_by":"alice","updated_by":"bob"}}'
)
GO_SHARED = (
    '{"slug":"shared","default_profile_slug":"mw-observability","profiles":{"mw-observability":'
    '{"slug":"mw-observability","metadata":{}}},"metadata":{}}'
)


def make_go_database(path: Path) -> Path:
    """The file as the Go store leaves it: its DDL, WAL, one row per registry."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
        "updated_at_ms INTEGER NOT NULL DEFAULT 0)"
    )
    conn.executemany("INSERT INTO profile_registries VALUES (?, ?, ?)",
                     [("default", GO_DEFAULT, 1760000005000), ("shared", GO_SHARED, 1760000001000)])
    conn.commit()
    conn.close()
    return path


def rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT slug, CAST(payload_json AS BLOB), updated_at_ms, typeof(payload_json) "
                            "FROM profile_registries ORDER BY slug").fetchall()
    finally:
        conn.close()


def test_go_payloads_parse_and_validate():
    registry = parse_row("default", GO_DEFAULT)
    assert registry["display_name"] == "R&D <team>"
    agent = registry["profiles"]["agent"]
    assert agent["stack"] == [{"registry_slug": "", "profile_slug": "provider-openai"},
                              {"registry_slug": "shared", "profile_slug": "mw-observability"}]
    assert agent["inference_settings"]["Chat"]["Engine"] == "gpt-5-mini"


def test_go_database_is_served(tmp_path: Path, make_app):
    path = make_go_database(tmp_path / "go.db")
    client = make_app(path).test_client()
    items = {(i["registry"], i["slug"]): i for i in client.get("/api/chat/profiles").get_json()}
    assert set(items) == {("default", "agent"), ("default", "provider-openai"), ("shared", "mw-observability"),
                          ("default", "mock_parity")}
    agent = items[("default", "agent")]
    assert agent["model_info"] == {"id": "gpt-5-mini", "context_window": 400000}
    assert agent["default_prompt"] == "You are an agent <&>"
    assert agent["is_default"] is True and agent["version"] == 2
    doc = client.get("/api/chat/profiles/agent").data
    assert b'"system_prompt":"You are an agent \\u003c\\u0026\\u003e"' in doc
    assert json.loads(doc)["metadata"] == {"source": "api", "version": 2, "created_at_ms": 1760000000000,
                                           "updated_at_ms": 1760000005000, "created_by": "alice", "updated_by": "bob"}


def test_go_database_bytes_are_untouched_after_serving(tmp_path: Path, make_app, live_server):
    import urllib.request

    path = make_go_database(tmp_path / "go.db")
    before = rows(path)
    app = make_app(path)
    server = live_server(app)
    for route in ("/api/chat/profiles", "/api/chat/profiles/agent", "/api/chat/profile", "/api/health"):
        with urllib.request.urlopen(server.url + route) as response:
            assert response.status == 200
    assert rows(path) == before
    app_state(app).service.chain.close()  # and nothing is written on the way out either
    after = rows(path)
    assert after == before
    assert after[0][1] == GO_DEFAULT.encode() and after[0][3] == "text"


def test_go_payload_round_trips_through_our_encoder_byte_for_byte():
    for text in (GO_DEFAULT, GO_SHARED):
        assert gojson.dumps(encode_registry(decode_registry(json.loads(text)))) == text


def test_seeded_payload_round_trips_byte_for_byte(seeded_db: Path):
    (slug, payload, _, kind), = rows(seeded_db)
    text = payload.decode()
    assert (slug, kind) == ("default", "text")
    assert gojson.dumps(encode_registry(parse_row(slug, text))) == text
    assert gojson.dumps(encode_registry(decode_registry(json.loads(text)))) == text
