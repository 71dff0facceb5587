"""The API's answers are produced by its marshmallow schemas: the schemas hold the omission rules, and a key the
service adds without the schema declaring it fails the dump instead of vanishing from the answer."""

from __future__ import annotations

import pytest
from conftest import registry_payload, write_row

from registry.api.backups import SnapshotSchema
from registry.api.schemas import ErrorBodySchema, HealthSchema
from registry.api.write_schemas import RegistrySummary, RegistrySummarySchema


@pytest.mark.parametrize("schema", [ErrorBodySchema(), HealthSchema(), SnapshotSchema()])
def test_a_key_the_schema_does_not_declare_fails_the_dump(schema):
    with pytest.raises(ValueError, match="does not declare \\['surprise'\\]"):
        schema.dump({"surprise": 1})


def test_registry_summary_leaves_out_empty_texts_and_keeps_the_struct_order():
    registry = registry_payload("team", {"b": {}, "a": {}}, default="a") | {"display_name": "", "description": "D"}
    registry["metadata"] = {"version": 3, "created_by": "", "tags": []}
    body = RegistrySummarySchema().dump(RegistrySummary("team", registry, 1234, "db", True))
    assert list(body) == [
        "slug",
        "description",
        "default_profile_slug",
        "profiles",
        "metadata",
        "version",
        "updated_at_ms",
        "source",
        "writable",
    ]
    assert body["profiles"] == ["a", "b"] and body["metadata"] == {"version": 3} and body["version"] == 3


def test_registry_list_shows_a_quarantined_row_with_its_reason_only(db_path, make_app):
    write_row(db_path, "default", registry_payload("default", {"a": {}}))
    write_row(db_path, "broken", '{"slug": "broken", "profiles":')
    items = make_app(db_path).test_client().get("/api/registries").get_json()
    broken = next(i for i in items if i["slug"] == "broken")
    assert list(broken) == ["slug", "updated_at_ms", "source", "writable", "quarantined"]
    assert "JSON" in broken["quarantined"] or "json" in broken["quarantined"]
    loaded = next(i for i in items if i["slug"] == "default")
    assert loaded["profiles"] == ["a"] and "quarantined" not in loaded
