"""GET /api/chat/schemas/middlewares and /extensions (§4.5, §4.6, §5, decisions.md): exact items, valid schemas."""

from __future__ import annotations

import logging

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from registry.domain.catalog import AGENTMODE, SchemaCatalog, default_catalog

AGENTMODE_SCHEMA = (
    '{"additionalProperties":false,"description":"Parses and applies agent-mode switches from model output.",'
    '"properties":{"default_mode":{"default":"financial_analyst","type":"string"},'
    '"sanitize_yaml":{"default":true,"type":"boolean"}},"title":"Agent Mode Middleware","type":"object"}'
)


@pytest.fixture
def client(seeded_db, make_app):
    return make_app(seeded_db).test_client()


def test_middlewares_is_exactly_the_reference_item(client):
    response = client.get("/api/chat/schemas/middlewares")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.data == (
        '[{"name":"agentmode","version":1,"display_name":"Agent Mode",'
        '"description":"Parses and applies agent-mode switches from model output.",'
        f'"schema":{AGENTMODE_SCHEMA}}}]\n'
    ).encode()


def test_extensions_lists_the_runbook_keys_sorted(client):
    response = client.get("/api/chat/schemas/extensions")
    assert response.status_code == 200
    assert response.data == (
        '[{"key":"middleware.agentmode_config@v1","schema":{"additionalProperties":false,'
        f'"properties":{{"instances":{{"additionalProperties":{AGENTMODE_SCHEMA},"type":"object"}}}},'
        '"required":["instances"],"type":"object"}},'
        '{"key":"webchat.starter_suggestions@v1","schema":{"additionalProperties":false,'
        '"properties":{"items":{"default":[],"items":{"type":"string"},"type":"array"}},'
        '"required":["items"],"type":"object"}}]\n'
    ).encode()
    middleware_keys = [i["key"] for i in response.get_json() if i["key"].startswith("middleware.")]
    assert middleware_keys[0] == "middleware.agentmode_config@v1"


def test_published_schemas_are_valid_json_schema(client):
    schemas = [i["schema"] for i in client.get("/api/chat/schemas/middlewares").get_json()]
    schemas += [i["schema"] for i in client.get("/api/chat/schemas/extensions").get_json()]
    assert len(schemas) == 3
    for schema in schemas:
        Draft202012Validator.check_schema(schema)


def test_extension_schema_validates_payloads(client):
    schemas = {i["key"]: i["schema"] for i in client.get("/api/chat/schemas/extensions").get_json()}
    config = schemas["middleware.agentmode_config@v1"]
    jsonschema.validate({"instances": {"main": {"default_mode": "x", "sanitize_yaml": False}}}, config)
    for bad in ({}, {"instances": {"main": {"unknown": 1}}}, {"instances": {"main": {"sanitize_yaml": "yes"}}},
                {"instances": {}, "other": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, config)
    jsonschema.validate({"items": ["a"]}, schemas["webchat.starter_suggestions@v1"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"items": [1]}, schemas["webchat.starter_suggestions@v1"])


@pytest.mark.parametrize("path", ["/api/chat/schemas/middlewares", "/api/chat/schemas/extensions"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD"])
def test_schema_routes_refuse_other_methods(client, path, method):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    if method != "HEAD":
        assert response.data == b"method not allowed\n"


def test_unknown_schema_route_is_go_404(client):
    response = client.get("/api/chat/schemas/models")
    assert (response.status_code, response.data) == (404, b"404 page not found\n")


def test_catalog_refuses_invalid_schema_and_duplicates():
    catalog = SchemaCatalog()
    with pytest.raises(jsonschema.SchemaError):
        catalog.register_extension("a.b@v1", {"type": "no-such-type"})
    catalog.register_middleware(AGENTMODE)
    with pytest.raises(ValueError):
        catalog.register_middleware(AGENTMODE)


def test_empty_catalog_is_logged_as_an_error(caplog):
    with caplog.at_level(logging.ERROR, logger="registry.domain.catalog"):
        catalog = default_catalog((), {})
    assert catalog.problems() == [
        "middleware catalog is empty: no middleware definitions were registered",
        "extension catalog is empty: no extension schemas were registered",
    ]
    assert [r.getMessage() for r in caplog.records] == catalog.problems()
