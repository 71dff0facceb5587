"""GET/POST /api/chat/profile (§4.4): the `chat_profile` cookie, legacy and malformed cookies, POST errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_data import write_registries

COOKIE = "chat_profile"


@pytest.fixture
def app(tmp_path: Path, make_app):
    return make_app(write_registries(tmp_path / "p.db"))


@pytest.fixture
def client(app):
    return app.test_client()


def get_with_cookie(client, raw_cookie: str | None):
    """Send the Cookie header as given (the cookie-jar client would replace it)."""
    headers = {"Cookie": raw_cookie} if raw_cookie is not None else {}
    return client.application.test_client(use_cookies=False).get("/api/chat/profile", headers=headers)


def test_get_without_cookie_is_the_default_registry_default_profile(client):
    response = get_with_cookie(client, None)
    assert response.status_code == 200
    assert response.data == b'{"profile":"alpha","registry":"default"}\n'


@pytest.mark.parametrize(
    "cookie, expected",
    [
        ("chat_profile=default/beta", ("beta", "default")),
        ("chat_profile=team/beta", ("beta", "team")),
        ("chat_profile=Team/GAMMA", ("gamma", "team")),
        ("chat_profile=beta", ("beta", "default")),  # legacy bare profile, looked up in the default registry
        ("chat_profile=mock_parity", ("mock_parity", "default")),
        ("chat_profile=team/mock_parity", ("mock_parity", "team")),
        ("chat_profile=gamma", ("alpha", "default")),  # legacy form only looks in the default registry
        ("chat_profile=default/ghost", ("alpha", "default")),
        ("chat_profile=ghost/beta", ("alpha", "default")),
        ("chat_profile=a/b/c", ("alpha", "default")),
        ("chat_profile=%%%bad%%", ("alpha", "default")),
        ('chat_profile="unterminated', ("alpha", "default")),
        ("chat_profile=", ("alpha", "default")),
        ("chat_profile=/", ("alpha", "default")),
        ("garbage;;;==", ("alpha", "default")),
        ("other=team/beta", ("alpha", "default")),
    ],
)
def test_get_honours_a_valid_cookie_and_falls_back_otherwise(client, cookie, expected):
    response = get_with_cookie(client, cookie)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["profile"], body["registry"]) == expected


def test_get_falls_back_to_literal_default_when_registry_has_no_default(tmp_path: Path, make_app):
    from conftest import write_row

    path = tmp_path / "empty-default.db"
    write_row(path, "default", {"slug": "default", "metadata": {}})
    response = make_app(path).test_client().get("/api/chat/profile")
    assert response.get_json() == {"profile": "default", "registry": "default"}


def test_get_without_any_registry_is_500_unavailable(tmp_path: Path, make_app):
    response = make_app(tmp_path / "empty.db").test_client().get("/api/chat/profile")
    assert response.status_code == 500
    assert response.data == b"profile registry unavailable\n"


def test_post_sets_the_qualified_cookie_with_the_reference_flags(client):
    response = client.post("/api/chat/profile", data='{"profile":" Beta ","extra":1}')
    assert response.status_code == 200
    assert response.data == b'{"profile":"beta","registry":"default"}\n'
    assert response.headers.getlist("Set-Cookie") == [
        "chat_profile=default/beta; Path=/; HttpOnly; Secure; SameSite=Lax"
    ]


def test_post_registry_comes_from_body_then_query_then_default(client):
    assert client.post("/api/chat/profile?registry=team", data='{"profile":"gamma"}').get_json() == {
        "profile": "gamma", "registry": "team"}
    assert client.post("/api/chat/profile?registry=ghost", data='{"profile":"gamma","registry":"team"}').get_json() == {
        "profile": "gamma", "registry": "team"}
    assert client.post("/api/chat/profile", data='{"profile":"beta","registry":"  "}').get_json() == {
        "profile": "beta", "registry": "default"}


def test_post_mock_parity_needs_no_existing_profile(client):
    response = client.post("/api/chat/profile", data='{"profile":"mock_parity","registry":"nowhere"}')
    assert response.status_code == 200
    assert response.headers["Set-Cookie"].startswith("chat_profile=nowhere/mock_parity;")


def test_cookie_set_by_post_is_read_back_by_get(client):
    client.post("/api/chat/profile", data='{"profile":"gamma","registry":"team"}')
    assert client.get("/api/chat/profile").get_json() == {"profile": "gamma", "registry": "team"}


@pytest.mark.parametrize(
    "body, status, message",
    [
        ("", 400, "bad request"),
        ("{", 400, "bad request"),
        ("[]", 400, "bad request"),
        ("null", 400, "bad request"),
        ('{"profile":""}', 400, "bad request"),
        ('{"profile":"bad!"}', 400, "bad request"),
        ('{"profile":5}', 400, "bad request"),
        ('{"profile":"beta","registry":5}', 400, "bad request"),
        ('{"registry":"default"}', 400, "bad request"),
        ('{"profile":"beta","registry":"bad!"}', 400, "invalid registry"),
        ('{"profile":"ghost"}', 404, "profile not found"),
        ('{"profile":"gamma"}', 404, "profile not found"),
        ('{"profile":"beta","registry":"ghost"}', 404, "registry not found"),
    ],
)
def test_post_errors(client, body, status, message):
    response = client.post("/api/chat/profile", data=body)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == (message + "\n").encode()
    assert "Set-Cookie" not in response.headers


def test_post_error_as_json_when_asked(client):
    response = client.post("/api/chat/profile", data="{", headers={"Accept": "application/json"})
    assert response.get_json() == {"code": 400, "status": "Bad Request", "message": "bad request"}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_other_methods_are_405(client, method):
    response = client.open("/api/chat/profile", method=method)
    assert response.status_code == 405
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    if method != "HEAD":
        assert response.data == b"method not allowed\n"


def test_cookie_name_is_configurable(tmp_path: Path, make_app):
    client = make_app(write_registries(tmp_path / "c.db"), CHAT_PROFILE_COOKIE="picked").test_client()
    response = client.post("/api/chat/profile", data='{"profile":"beta"}')
    assert response.headers["Set-Cookie"].startswith("picked=default/beta;")
    assert COOKIE not in response.headers["Set-Cookie"]
