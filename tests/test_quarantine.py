"""A bad row (truncated JSON, slug mismatch, invalid registry) is quarantined; the rest is served (decisions.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

BAD_ROWS = {
    "trunc": ('{"slug":"trunc","profiles":', "payload_json is not valid JSON"),
    "mismatch": (
        '{"slug":"other","metadata":{}}',
        'sqlite profile store: slug mismatch payload="other" row="mismatch"',
    ),
    "invalid": (
        '{"slug":"invalid","profiles":{"a":{"slug":"a","metadata":{}}},"metadata":{}}',
        "validation error (registry.default_profile_slug): must be set when profiles are present",
    ),
}


@pytest.fixture
def bad_db(tmp_path: Path) -> Path:
    path = tmp_path / "p.db"
    write_row(path, "good", registry_payload("good", {"a": {}, "b": {}}))
    for slug, (payload, _) in BAD_ROWS.items():
        write_row(path, slug, payload)
    return path


def quarantine_logs(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]


def test_service_starts_and_serves_healthy_registries(bad_db, make_app):
    client = make_app(bad_db).test_client()
    response = client.get("/api/chat/profiles")
    assert response.status_code == 200
    assert {(i["registry"], i["slug"]) for i in response.get_json()} >= {("good", "a"), ("good", "b")}
    assert client.get("/api/chat/profiles?registry=good").status_code == 200
    assert client.get("/api/chat/profiles/a").get_json()["registry"] == "good"


@pytest.mark.parametrize("slug", sorted(BAD_ROWS))
def test_requests_needing_a_bad_registry_get_500_naming_it(bad_db, make_app, slug):
    client = make_app(bad_db).test_client()
    reason = BAD_ROWS[slug][1]
    for path in (f"/api/chat/profiles?registry={slug}", f"/api/chat/profiles/a?registry={slug}",
                 f"/api/chat/profiles/a/default?registry={slug}"):
        response = client.get(path)
        assert response.status_code == 500
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        text = response.data.decode()
        assert text.startswith(f"profile registry unavailable: registry '{slug}' is quarantined: ")
        assert reason in text
        assert text.endswith("\n") and text.count("\n") == 1
    response = client.post("/api/chat/profile", data=f'{{"profile":"a","registry":"{slug}"}}')
    assert response.status_code == 500 and slug in response.data.decode()


def test_health_is_degraded_with_slug_and_reason(bad_db, make_app):
    response = make_app(bad_db).test_client().get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["registries"] == 1
    reasons = {q["slug"]: q["reason"] for q in body["quarantined"]}
    assert set(reasons) == set(BAD_ROWS)
    for slug, (_, reason) in BAD_ROWS.items():
        assert reason in reasons[slug]


def test_log_says_it_once_across_many_requests(bad_db, make_app, caplog):
    with caplog.at_level(logging.ERROR, logger="registry.storage.sqlite_store"):
        client = make_app(bad_db).test_client()
        for _ in range(5):
            client.get("/api/chat/profiles?registry=trunc")
            client.get("/api/health")
        write_row(bad_db, "good", registry_payload("good", {"a": {}, "c": {}}))  # a new generation is loaded
        assert {i["slug"] for i in client.get("/api/chat/profiles?registry=good").get_json()} == {
            "a",
            "c",
            "mock_parity",
        }
        client.get("/api/chat/profiles?registry=trunc")
    messages = quarantine_logs(caplog)
    assert len(messages) == 3
    assert sorted(m.split("'")[1] for m in messages) == sorted(BAD_ROWS)


def test_a_row_broken_later_is_quarantined_then_recovers(tmp_path: Path, make_app, caplog):
    path = tmp_path / "p.db"
    write_row(path, "good", registry_payload("good", {"a": {}}))
    write_row(path, "later", registry_payload("later", {"x": {}}))
    client = make_app(path).test_client()
    assert client.get("/api/chat/profiles?registry=later").status_code == 200
    with caplog.at_level(logging.ERROR, logger="registry.storage.sqlite_store"):
        write_row(path, "later", '{"slug":"later","profiles":{"x":')
        assert client.get("/api/chat/profiles?registry=later").status_code == 500
        assert client.get("/api/chat/profiles?registry=good").status_code == 200
        assert client.get("/api/health").get_json()["status"] == "degraded"
    assert len(quarantine_logs(caplog)) == 1
    write_row(path, "later", registry_payload("later", {"x": {}}))
    assert client.get("/api/chat/profiles?registry=later").status_code == 200
    assert client.get("/api/health").get_json()["status"] == "ok"


def test_invalid_row_slug_is_quarantined_under_its_raw_name(tmp_path: Path, make_app):
    path = tmp_path / "p.db"
    write_row(path, "good", registry_payload("good", {"a": {}}))
    write_row(path, "Bad Slug!", '{"metadata":{}}')
    body = make_app(path).test_client().get("/api/health").get_json()
    assert body["quarantined"] == [{"slug": "Bad Slug!", "reason": 'registry slug "Bad Slug!" is invalid'}]


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xff\xfe{}", "payload_json is not UTF-8 text"),
        (42, "/: the number 42 cannot be decoded into Go struct EngineProfileRegistry"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (
            '{"slug":"odd","profiles":{"a":{"slug":"a","metadata":"x"}},"default_profile_slug":"a"}',
            '/profiles/a/metadata: the string "x" cannot be decoded into Go struct Metadata',
        ),
    ],
)
def test_rows_the_shell_can_write_are_quarantined_not_fatal(tmp_path: Path, make_app, payload, reason):
    path = tmp_path / "p.db"
    write_row(path, "good", registry_payload("good", {"a": {}}))
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO profile_registries VALUES ('odd', ?, 0)", (payload,))
    conn.commit()
    conn.close()
    client = make_app(path).test_client()
    assert client.get("/api/chat/profiles?registry=good").status_code == 200
    response = client.get("/api/chat/profiles?registry=odd")
    assert response.status_code == 500 and reason in response.data.decode()
