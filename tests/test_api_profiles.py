"""The reference's profile read routes (§4.1-4.3, §4.9, §4.11): shapes, field order, omissions, sort order, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry_data import write_registries

MOCK_ITEM = {
    "registry": "default",
    "slug": "mock_parity",
    "display_name": "Mock parity engine",
    "description": "Deterministic web-chat event stream for parity tests; no LLM/API key required.",
}
BETA_EXTENSIONS = {
    "pinocchio.oauth@v1": {"access_token": "<redacted>", "client_id": "cid", "kind": "oauth_bearer",
                           "refresh_token": "<redacted>", "scopes": ["a"]},
    "pinocchio.webchat_runtime@v1": {
        "middlewares": [{"config": {"default_mode": "reviewer"}, "name": "agentmode"},
                        {"enabled": False, "id": "x", "name": "log"}],
        "system_prompt": "You are <beta> & friends",
        "tools": ["search"],
    },
}
BETA_MODEL_INFO = {"id": "gpt-x", "reasoning": True, "input": ["text"], "context_window": 1000,
                   "cost": {"input": 1.25, "output": 2.5}, "metadata": {"k": "v"}}


@pytest.fixture
def client(tmp_path: Path, make_app):
    return make_app(write_registries(tmp_path / "p.db")).test_client()


def ordered(response) -> object:
    """The body with key order kept (dicts keep insertion order), so comparisons of lists of pairs check order."""
    return json.loads(response.data, object_pairs_hook=lambda pairs: pairs)


def pairs(value):
    """A dict literal turned into the same nested pairs form as `ordered`."""
    if isinstance(value, dict):
        return [(k, pairs(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [pairs(v) for v in value]
    return value


def assert_text_error(response, status: int, message: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == (message + "\n").encode()


# --- GET /api/chat/profiles ------------------------------------------------------------------------------------


def test_list_all_is_sorted_by_slug_with_mock_parity(client):
    response = client.get("/api/chat/profiles")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.data.endswith(b"]\n")
    items = response.get_json()
    assert [i["slug"] for i in items] == ["alpha", "beta", "beta", "gamma", "mock_parity"]
    assert {(i["registry"], i["slug"]) for i in items if i["slug"] == "beta"} == {("default", "beta"), ("team", "beta")}
    assert items[-1] == MOCK_ITEM


def test_list_item_field_order_and_omissions(client):
    items = ordered(client.get("/api/chat/profiles"))
    by_key = {(dict(i)["registry"], dict(i)["slug"]): i for i in items}
    assert by_key[("default", "alpha")] == pairs({"registry": "default", "slug": "alpha", "is_default": True})
    assert by_key[("team", "beta")] == pairs({"registry": "team", "slug": "beta", "display_name": "Team beta"})
    assert by_key[("team", "gamma")] == pairs(
        {"registry": "team", "slug": "gamma", "extensions": {"pinocchio.webchat_runtime@v1": {}}, "is_default": True,
         "version": 1}
    )
    assert by_key[("default", "beta")] == pairs(
        {"registry": "default", "slug": "beta", "display_name": "Beta", "description": "The full one",
         "default_prompt": "You are <beta> & friends", "extensions": BETA_EXTENSIONS, "model_info": BETA_MODEL_INFO,
         "version": 3}
    )
    assert by_key[("default", "mock_parity")] == pairs(MOCK_ITEM)


def test_list_bytes_are_go_escaped(client):
    data = client.get("/api/chat/profiles").data
    assert b"You are \\u003cbeta\\u003e \\u0026 friends" in data
    assert b"\\u003credacted\\u003e" in data
    assert b'"AT"' not in data and b'"RT"' not in data


def test_list_one_registry(client):
    team = client.get("/api/chat/profiles?registry=team").get_json()
    assert [(i["registry"], i["slug"]) for i in team] == [("team", "beta"), ("team", "gamma")]
    default = client.get("/api/chat/profiles?registry=%20Default%20").get_json()
    assert [i["slug"] for i in default] == ["alpha", "beta", "mock_parity"]
    assert client.get("/api/chat/profiles?registry=%20").get_json() == client.get("/api/chat/profiles").get_json()


def test_list_errors(client):
    assert_text_error(client.get("/api/chat/profiles?registry=bad!"), 400, "invalid registry")
    assert_text_error(client.get("/api/chat/profiles?registry=ghost"), 404, "registry not found")


def test_remembered_registry_queries_answer_as_parsed_ones(client):
    """`?registry=` answers are remembered per query string (hot path); a refused one is never remembered, and a
    flood of distinct query strings cannot grow what is kept past its bound."""
    from registry.api import common

    for _ in range(2):
        assert_text_error(client.get("/api/chat/profiles?registry=bad!"), 400, "invalid registry")
        team = client.get("/api/chat/profiles?registry=team").get_json()
        assert [i["slug"] for i in team] == ["beta", "gamma"]
        assert client.get("/api/chat/profiles?other=1&registry=%20TEAM").get_json() == team
    assert "registry=bad!" not in common._REGISTRY_BY_QUERY
    for n in range(common.QUERY_CACHE_ENTRIES + 50):
        assert client.get(f"/api/chat/profiles/beta?registry=team&n={n}").status_code == 200
    assert len(common._REGISTRY_BY_QUERY) <= common.QUERY_CACHE_ENTRIES
    assert client.get("/api/chat/profiles/beta?registry=team&n=overflow").get_json()["registry"] == "team"
    assert_text_error(client.get("/api/chat/profiles/beta?registry=no%20way&n=overflow"), 400, "invalid registry")


# --- GET /api/chat/profiles/<slug> ---------------------------------------------------------------------------------


def test_detail_document_full_shape(client):
    body = ordered(client.get("/api/chat/profiles/beta"))
    assert body == pairs(
        {
            "registry": "default",
            "slug": "beta",
            "display_name": "Beta",
            "description": "The full one",
            "runtime": {"system_prompt": "You are <beta> & friends",
                        "middlewares": [{"name": "agentmode", "config": {"default_mode": "reviewer"}},
                                        {"name": "log", "id": "x", "enabled": False}],
                        "tools": ["search"]},
            "metadata": {"source": "api", "version": 3, "created_at_ms": 1, "updated_at_ms": 2, "created_by": "al",
                         "updated_by": "bo"},
            "extensions": BETA_EXTENSIONS,
            "model_info": BETA_MODEL_INFO,
            "is_default": False,
        }
    )


def test_detail_minimal_and_empty_runtime(client):
    assert ordered(client.get("/api/chat/profiles/alpha")) == pairs(
        {"registry": "default", "slug": "alpha", "metadata": {}, "is_default": True}
    )
    assert ordered(client.get("/api/chat/profiles/gamma")) == pairs(
        {"registry": "team", "slug": "gamma", "runtime": {}, "metadata": {"version": 1},
         "extensions": {"pinocchio.webchat_runtime@v1": {}}, "is_default": True}
    )


def test_detail_searches_alphabetically_or_uses_registry(client):
    assert client.get("/api/chat/profiles/beta").get_json()["registry"] == "default"
    team = client.get("/api/chat/profiles/BETA?registry=team").get_json()
    assert (team["registry"], team["display_name"]) == ("team", "Team beta")
    assert client.get("/api/chat/profiles/beta/").get_json()["registry"] == "default"


def test_detail_mock_parity_is_synthetic_whatever_the_registry(client):
    expected = MOCK_ITEM | {"metadata": {}, "is_default": False}
    for path in ("/api/chat/profiles/mock_parity", "/api/chat/profiles/Mock_Parity?registry=team",
                 "/api/chat/profiles/mock_parity?registry=bad!"):
        response = client.get(path)
        assert response.status_code == 200
        assert ordered(response) == pairs(expected)


def test_detail_errors(client):
    assert_text_error(client.get("/api/chat/profiles/ghost"), 404, "profile not found")
    assert_text_error(client.get("/api/chat/profiles/bad!"), 400, "invalid profile slug")
    assert_text_error(client.get("/api/chat/profiles/%20"), 400, "invalid profile slug")
    assert_text_error(client.get("/api/chat/profiles/beta?registry=ghost"), 404, "registry not found")
    assert_text_error(client.get("/api/chat/profiles/beta?registry=no%20way"), 400, "invalid registry")
    assert_text_error(client.get("/api/chat/profiles/gamma?registry=default"), 404, "profile not found")
    assert_text_error(client.get("/api/chat/profiles/"), 404, "404 page not found")
    assert_text_error(client.get("/api/chat/profiles/beta/other"), 404, "404 page not found")
    assert_text_error(client.get("/api/chat/profiles/a/b/c"), 404, "404 page not found")
    assert_text_error(client.get("/api/chat/profiles/beta/default/"), 404, "404 page not found")


# --- GET /api/chat/profiles/<slug>/default ------------------------------------------------------------------------


def test_default_route_reads_from_the_default_or_given_registry(client):
    assert client.get("/api/chat/profiles/beta/default").get_json()["registry"] == "default"
    gamma = client.get("/api/chat/profiles/gamma/default?registry=team")
    assert gamma.status_code == 200 and gamma.get_json()["slug"] == "gamma"
    assert_text_error(client.get("/api/chat/profiles/gamma/default"), 404, "profile not found")
    assert_text_error(client.get("/api/chat/profiles/mock_parity/default"), 404, "profile not found")
    assert_text_error(client.get("/api/chat/profiles/beta/default?registry=ghost"), 404, "registry not found")
    assert_text_error(client.get("/api/chat/profiles/beta/default?registry=-x"), 400, "invalid registry")
    assert_text_error(client.get("/api/chat/profiles/BAD!/default"), 400, "invalid profile slug")


# --- errors as JSON when asked -------------------------------------------------------------------------------------


def test_errors_are_json_when_the_client_asks(client):
    response = client.get("/api/chat/profiles/ghost", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == {"code": 404, "status": "Not Found", "message": "profile not found"}
    response = client.get("/api/chat/profiles?registry=bad!", headers={"Accept": "application/json"})
    assert response.get_json() == {"code": 400, "status": "Bad Request", "message": "invalid registry"}
    # curl's default and a browser's Accept still get text.
    for accept in ("*/*", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"):
        response = client.get("/api/chat/profiles/ghost", headers={"Accept": accept})
        assert response.headers["Content-Type"].startswith("text/plain")


# --- methods --------------------------------------------------------------------------------------------------------


# Methods the admin write API routes on these paths: without `--writable` they answer 403 `store is read-only`
# (issue 5 fixes that text over the reference's 405), tested in test_api_admin.py.
ADMIN_ROUTED = {("POST", "/api/chat/profiles"), ("PATCH", "/api/chat/profiles/beta"),
                ("DELETE", "/api/chat/profiles/beta"), ("POST", "/api/chat/profiles/beta/default")}
METHOD_CASES = [
    (method, path)
    for method in ("POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    for path in ("/api/chat/profiles", "/api/chat/profiles/beta", "/api/chat/profiles/beta/",
                 "/api/chat/profiles/beta/default")
]


def assert_method_not_allowed(response, method: str) -> None:
    assert response.status_code == 405
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    if method != "HEAD":
        assert response.data == b"method not allowed\n"


@pytest.mark.parametrize("method, path", [c for c in METHOD_CASES if c not in ADMIN_ROUTED])
def test_wrong_method_is_405_text(client, method, path):
    assert_method_not_allowed(client.open(path, method=method), method)


@pytest.mark.parametrize("method", ["POST", "HEAD", "PUT"])
def test_bad_slug_or_path_wins_over_the_method_as_in_the_reference(client, method):
    assert client.open("/api/chat/profiles/BAD!", method=method).status_code == 400
    assert client.open("/api/chat/profiles/a/b/c", method=method).status_code == 404
    assert client.open("/api/chat/profiles/", method=method).status_code == 404
    assert client.open("/api/chat/profilesx", method=method).status_code == 404
