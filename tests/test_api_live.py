"""The reference routes over a real waitress server on loopback: bytes, headers, cookies, methods, OpenAPI, docs."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from registry_data import write_registries


@pytest.fixture
def port(tmp_path: Path, make_app, live_server) -> int:
    server = live_server(make_app(write_registries(tmp_path / "p.db")))
    return int(server.url.rsplit(":", 1)[1])


def call(port: int, method: str, path: str, body: str | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def test_list_and_detail_over_http(port):
    status, headers, body = call(port, "GET", "/api/chat/profiles")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert body.endswith(b"\n") and [i["slug"] for i in json.loads(body)][-1] == "mock_parity"
    status, _, body = call(port, "GET", "/api/chat/profiles/beta?registry=team")
    assert status == 200 and json.loads(body)["display_name"] == "Team beta"


def test_errors_over_http_are_plain_text_with_nosniff(port):
    status, headers, body = call(port, "GET", "/api/chat/profiles/ghost")
    assert (status, body) == (404, b"profile not found\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = call(port, "GET", "/api/chat/profiles/ghost", headers={"Accept": "application/json"})
    assert json.loads(body) == {"code": 404, "status": "Not Found", "message": "profile not found"}


def test_head_and_post_are_405_over_http(port):
    status, _, body = call(port, "HEAD", "/api/chat/profiles")
    assert (status, body) == (405, b"")
    status, _, body = call(port, "POST", "/api/chat/schemas/extensions", body="{}")
    assert (status, body) == (405, b"method not allowed\n")


def test_current_profile_cookie_round_trip_over_http(port):
    status, headers, body = call(port, "POST", "/api/chat/profile", body='{"profile":"gamma","registry":"team"}',
                                 headers={"Content-Type": "application/json"})
    assert status == 200
    assert headers.get_all("Set-Cookie") == ["chat_profile=team/gamma; Path=/; HttpOnly; Secure; SameSite=Lax"]
    _, _, body = call(port, "GET", "/api/chat/profile", headers={"Cookie": "chat_profile=team/gamma"})
    assert json.loads(body) == {"profile": "gamma", "registry": "team"}
    _, _, body = call(port, "GET", "/api/chat/profile", headers={"Cookie": "chat_profile=beta"})
    assert json.loads(body) == {"profile": "beta", "registry": "default"}
    status, _, body = call(port, "GET", "/api/chat/profile", headers={"Cookie": "chat_profile=\"a b; ;=%ZZ"})
    assert (status, json.loads(body)) == (200, {"profile": "alpha", "registry": "default"})


def test_openapi_describes_every_reference_route(port):
    status, _, body = call(port, "GET", "/api/openapi.json")
    assert status == 200
    paths = json.loads(body)["paths"]
    for route in ("/api/chat/profiles", "/api/chat/profiles/{slug}", "/api/chat/profiles/{slug}/default",
                  "/api/chat/profile", "/api/chat/schemas/middlewares", "/api/chat/schemas/extensions", "/api/health"):
        assert route in paths
    assert {"get", "post"} <= set(paths["/api/chat/profile"])


def test_swagger_ui_is_served_from_local_files(port):
    status, _, body = call(port, "GET", "/docs")
    assert status == 200
    html = body.decode()
    assert "/static/swagger-ui/swagger-ui-bundle.js" in html
    assert "https://" not in html and "http://" not in html.replace("http://127.0.0.1", "")
    status, _, js = call(port, "GET", "/static/swagger-ui/swagger-ui-bundle.js")
    assert status == 200 and len(js) > 100_000
