"""Hostile HTTP against a real waitress server: schema fuzzing, oversized and malformed bodies, traversal, slugs."""

from __future__ import annotations

import http.client
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from registry.web.auth import AdminToken

TOKEN = "hostile-test-token-0123456789"
# Every request of the fuzzer carries the admin token, so the write routes are exercised past the 401.
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
MAX_BODY = 1024 * 1024


@pytest.fixture
def server(tmp_path: Path, seeded_db: Path, make_app, live_server):  # type: ignore[no-untyped-def]
    """A writable service on a copy of the seeded database, served by waitress on loopback."""
    db = tmp_path / "live" / "profiles.db"
    db.parent.mkdir()
    shutil.copy(seeded_db, db)
    app = make_app(
        db,
        WRITABLE=True,
        ADMIN_TOKENS=[AdminToken("fuzzer", TOKEN)],
        BACKUP_DIR=str(tmp_path / "backups"),
    )
    return live_server(app)


# Bounded: a dozen generated requests per operation, no shrinking, no example database on disk.
FUZZ_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_api_answers_every_generated_request_as_documented(server) -> None:  # type: ignore[no-untyped-def]
    # The document is fetched from the running server, and every request goes to it over loopback. (Driven
    # directly rather than through schemathesis' pytest plugin, whose lazy fixtures do not work with pytest 9.)
    schema = schemathesis.openapi.from_url(server.url + "/api/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy())
        def exercise(case) -> None:  # type: ignore[no-untyped-def]
            # Zero 5xx, and every response's status, content type and body as the document declares them.
            case.call_and_validate(base_url=server.url, headers=HEADERS, checks=CHECKS)

        try:
            exercise()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then fail once with all of them
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 10
    assert not failures, "\n\n".join(failures)


def raw_request(
    url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A request through http.client, which sends paths and bodies exactly as given (no quoting, no encoding)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def json_error_body(body: bytes) -> dict[str, Any]:
    document = json.loads(body)
    assert isinstance(document, dict) and isinstance(document.get("message"), str), document
    return document


def test_oversized_body_is_413_and_the_limit_is_documented(server) -> None:  # type: ignore[no-untyped-def]
    body = b'{"profile": "' + b"a" * MAX_BODY + b'"}'
    for path in ("/api/chat/profile", "/api/chat/profiles", "/api/registries/big"):
        method = "PUT" if path.startswith("/api/registries/") else "POST"
        status, headers, answer = raw_request(
            server.url, method, path, body, {**HEADERS, "Content-Type": "application/json"}
        )
        assert status == 413, (path, status, answer[:200])
        assert headers["content-type"].startswith("application/json")
        assert "Traceback" not in answer.decode()
    # Without a Content-Length (chunked), the limit holds all the same.
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        chunks = iter([b'{"profile": "', *([b"a" * 65536] * 20), b'"}'])
        conn.request("POST", "/api/chat/profile", body=chunks, headers=HEADERS, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413, response.read()[:200]
    finally:
        conn.close()
    # A body just under the limit is read normally (a 4xx about its content, never 413).
    status, _, _ = raw_request(server.url, "POST", "/api/chat/profile", b'{"profile": "' + b"a" * 1000 + b'"}', HEADERS)
    assert status == 400
    spec = json.loads(raw_request(server.url, "GET", "/api/openapi.json")[2])
    description = spec["info"].get("description", "")
    assert "413" in description and "1 MiB" in description, description


JSON_ROUTES = [("POST", "/api/chat/profile"), ("POST", "/api/chat/profiles"), ("PUT", "/api/registries/deep")]


@pytest.mark.parametrize("method, path", [*JSON_ROUTES, ("POST", "/api/chat/sessions")])
def test_deeply_nested_json_is_a_client_error(server, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    headers = {**HEADERS, "Content-Type": "application/json"}
    for depth in (100, 5_000, 100_000):
        # An array is never a valid body here (each route wants an object): a 4xx at any depth.
        status, _, answer = raw_request(server.url, method, path, b"[" * depth + b"]" * depth, headers)
        assert status in (400, 422), (path, depth, status, answer[:200])
        # An object nested under an unknown field: the sessions route ignores unknown fields as the reference
        # does, so only "no 5xx" holds there; the other routes lack their required fields (4xx).
        nested = b'{"a":' * depth + b"1" + b"}" * depth
        status, _, answer = raw_request(server.url, method, path, nested, headers)
        if path == "/api/chat/sessions" and depth <= 5_000:
            assert status < 500, (path, depth, status, answer[:200])
        else:
            assert 400 <= status < 500, (path, depth, status, answer[:200])


@pytest.mark.parametrize("method, path", JSON_ROUTES)
def test_invalid_utf8_body_is_a_client_error(server, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    for body in (b'{"profile": "\xff\xfe", "slug": "\xff"}', b"\xc3\x28", b'{"slug": "x\xed\xa0\x80"}'):
        status, _, answer = raw_request(server.url, method, path, body, {**HEADERS, "Content-Type": "application/json"})
        assert 400 <= status < 500, (path, body, status, answer[:200])


def test_invalid_utf8_on_the_session_route_is_never_a_server_error(server) -> None:  # type: ignore[no-untyped-def]
    # Go's decoder replaces invalid UTF-8 inside strings with U+FFFD, so the reference may accept these (200).
    for body in (b'{"profile": "\xff\xfe"}', b"\xc3\x28", b'{"registry": "x\xed\xa0\x80"}'):
        status, _, answer = raw_request(
            server.url, "POST", "/api/chat/sessions", body, {**HEADERS, "Content-Type": "application/json"}
        )
        assert status < 500, (body, status, answer[:200])
        json.loads(answer)


TRAVERSALS = [
    "..%2f..%2fetc%2fpasswd",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5c..%5cwindows%5cwin.ini",
    "profiles.db",
    "profiles.db.bak.20260101-000000%2f..%2f..%2fprofiles.db",
    "%00",
    "..",
]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_backup_name_traversal_is_refused(server, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    live = tmp_path / "live" / "profiles.db"
    before = live.read_bytes()
    status, _, answer = raw_request(
        server.url, "POST", f"/api/backups/{name}/restore", b"{}", {**HEADERS, "Content-Type": "application/json"}
    )
    assert status in (400, 404, 422), (name, status, answer[:300])
    text = answer.decode("utf-8", "replace")
    assert "root:" not in text and "[fonts]" not in text
    assert live.read_bytes() == before


@pytest.mark.parametrize("length, expected", [(128, 404), (129, 400)])
def test_slug_length_limit_on_reads(server, length: int, expected: int) -> None:  # type: ignore[no-untyped-def]
    slug = "a" * length
    status, _, _ = raw_request(server.url, "GET", f"/api/chat/profiles/{slug}", headers=HEADERS)
    assert status == expected
    status, _, body = raw_request(server.url, "GET", f"/api/chat/profiles?registry={slug}", headers=HEADERS)
    assert status == expected, body
    json_error_body(body)


@pytest.mark.parametrize("length, ok", [(128, True), (129, False)])
def test_slug_length_limit_on_writes(server, length: int, ok: bool) -> None:  # type: ignore[no-untyped-def]
    slug = "r" * length
    body = json.dumps({"slug": slug, "metadata": {}}).encode()
    status, _, answer = raw_request(
        server.url, "PUT", f"/api/registries/{slug}", body, {**HEADERS, "Content-Type": "application/json"}
    )
    if ok:
        assert status in (200, 201), answer
        status, _, listing = raw_request(server.url, "GET", "/api/registries", headers=HEADERS)
        assert slug in listing.decode()
    else:
        assert status == 400, answer
        json_error_body(answer)
