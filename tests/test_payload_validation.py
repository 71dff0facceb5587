"""registry.domain.payload_validation: catalogued extensions and middleware configs checked with jsonschema, with
pointers."""

from __future__ import annotations

import pytest

from registry.domain.catalog import default_catalog
from registry.domain.payload_validation import PayloadSchemaError, PayloadValidator, pointer

RUNTIME = "pinocchio.webchat_runtime@v1"


@pytest.fixture(scope="module")
def validator() -> PayloadValidator:
    return PayloadValidator(default_catalog())


def runtime_with(config: dict) -> dict:
    return {RUNTIME: {"system_prompt": "hi", "middlewares": [{"name": "agentmode", "config": config}]}}


def test_agentmode_config_with_wrong_type_points_at_the_field(validator):
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions(runtime_with({"default_mode": 3}))
    assert info.value.pointer == f"/extensions/{RUNTIME}/middlewares/0/config/default_mode"
    assert info.value.reason == "3 is not of type 'string'"


def test_agentmode_unknown_property_points_at_that_property(validator):
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions(runtime_with({"default_mode": "x", "colour": "red"}))
    assert info.value.pointer == f"/extensions/{RUNTIME}/middlewares/0/config/colour"
    assert "'colour' was unexpected" in info.value.reason


def test_valid_runtime_and_unknown_keys_pass(validator):
    validator.check_extensions(runtime_with({"default_mode": "financial_analyst", "sanitize_yaml": False}))
    validator.check_extensions({"acme.anything@v3": {"free": ["form", 1, None]}, "Test.Markers@V1": "x"})


def test_unknown_middleware_name_is_refused(validator):
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions({RUNTIME: {"middlewares": [{"name": "nosuch"}]}})
    assert info.value.pointer == f"/extensions/{RUNTIME}/middlewares/0/name"
    assert info.value.reason == 'unknown middleware "nosuch"'


def test_runtime_shape_is_checked(validator):
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions({RUNTIME: {"tools": "search"}})
    assert info.value.pointer == f"/extensions/{RUNTIME}/tools"


def test_middleware_config_extension_instances_use_the_middleware_schema(validator):
    key = "middleware.agentmode_config@v1"
    validator.check_extensions({key: {"instances": {"main": {"default_mode": "x"}}}})
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions({key: {"instances": {"main": {"sanitize_yaml": "yes"}}}})
    assert info.value.pointer == f"/extensions/{key}/instances/main/sanitize_yaml"
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions({key: {"instances": {}, "extra": 1}})
    assert info.value.pointer == f"/extensions/{key}/extra"


def test_starter_suggestions_required_items(validator):
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions({"webchat.starter_suggestions@v1": {}})
    assert info.value.pointer == "/extensions/webchat.starter_suggestions@v1"
    assert info.value.reason == "'items' is a required property"


def test_keys_are_matched_after_normalisation_but_pointer_uses_the_key_as_sent(validator):
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions({" WebChat.Starter_Suggestions@V1 ": {"items": [1]}})
    assert info.value.pointer == "/extensions/ WebChat.Starter_Suggestions@V1 /items/0"


def test_registry_payload_pointers_name_the_profile(validator):
    profiles = {"ok": {"extensions": {}}, "bad/one": {"extensions": runtime_with({"default_mode": 3})}}
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_registry(profiles)
    assert info.value.pointer == f"/profiles/bad~1one/extensions/{RUNTIME}/middlewares/0/config/default_mode"


def test_every_problem_is_listed(validator):
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions(runtime_with({"default_mode": 3, "sanitize_yaml": "no"}))
    assert len(info.value.problems) == 2


def test_pointer_escapes_tokens():
    assert pointer("", ["a/b", "c~d", 0]) == "/a~1b/c~0d/0"


def test_runtime_fields_in_another_case_are_checked_and_pointed_at_as_sent(validator):
    """Go decodes `Middlewares`/`Name`/`Config` into the runtime's fields (encoding/json folds case), so a write
    must check them too; they used to pass unchecked and then fail every resolution of the profile."""
    cased = {RUNTIME: {"Middlewares": [{"Name": "agentmode", "CONFIG": {"default_mode": 3}}]}}
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions(cased)
    assert info.value.pointer == f"/extensions/{RUNTIME}/Middlewares/0/CONFIG/default_mode"
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions({RUNTIME: {"TOOLS": "t"}})
    assert info.value.pointer == f"/extensions/{RUNTIME}/TOOLS"
    with pytest.raises(PayloadSchemaError) as info:
        validator.check_extensions({RUNTIME: {"middlewares": [{"Name": "nope"}]}})
    assert (info.value.pointer, info.value.reason) == (f"/extensions/{RUNTIME}/middlewares/0/Name",
                                                       'unknown middleware "nope"')
    # The later of two matching keys is the one Go keeps, so it is the one checked.
    validator.check_extensions({RUNTIME: {"TOOLS": "t", "tools": ["t"]}})
    with pytest.raises(PayloadSchemaError):
        validator.check_extensions({RUNTIME: {"tools": ["t"], "Tools": 1}})
