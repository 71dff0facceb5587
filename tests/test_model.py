"""registry.domain.model: slug and extension-key grammar, validation messages and order, stack topology, encoding."""

from __future__ import annotations

import json

import pytest

from registry.domain import gojson
from registry.domain.errors import ExtensionKeyError, SlugError, ValidationError
from registry.domain.model import (
    DecodeError,
    decode_registry,
    encode_registry,
    parse_extension_key,
    parse_profile_slug,
    parse_registry_slug,
    validate_profile,
    validate_registry,
    validate_stack_topology,
)


def profile(slug: str, **fields) -> dict:
    base = {"slug": slug, "display_name": "", "description": "", "stack": [], "inference_settings": None}
    return base | {"metadata": {}, "extensions": {}} | fields


def registry(slug: str, profiles: dict, default: str = "") -> dict:
    return {"slug": slug, "display_name": "", "description": "", "default_profile_slug": default,
            "profiles": profiles, "metadata": {}}


def ref(profile_slug: str, registry_slug: str = "") -> dict:
    return {"registry_slug": registry_slug, "profile_slug": profile_slug}


# --- slugs (§2.1) --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [("  Default ", "default"), ("mock_parity", "mock_parity"), ("a", "a"), ("a.b-c_d9", "a.b-c_d9"),
     ("x" * 128, "x" * 128), ("0", "0")],
)
def test_slug_is_trimmed_and_lowercased(raw, expected):
    assert parse_registry_slug(raw) == expected
    assert parse_profile_slug(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_blank_slug_error_names_the_kind(raw):
    with pytest.raises(SlugError) as registry_err:
        parse_registry_slug(raw)
    assert str(registry_err.value) == "registry slug cannot be empty"
    with pytest.raises(SlugError) as profile_err:
        parse_profile_slug(raw)
    assert str(profile_err.value) == "profile slug cannot be empty"


@pytest.mark.parametrize("raw", ["-a", "a-", "a b", "a/b", "_a", "a.", "x" * 129, "é", "Bad Slug!"])
def test_invalid_slug_error_quotes_the_raw_input(raw):
    with pytest.raises(SlugError) as err:
        parse_registry_slug(raw)
    assert str(err.value) == f'registry slug "{raw}" is invalid'
    with pytest.raises(SlugError) as err:
        parse_profile_slug(raw)
    assert str(err.value) == f'profile slug "{raw}" is invalid'


# --- extension keys (§2.2, test vectors) ----------------------------------------------------------------------


def test_extension_key_normalisation_vector():
    assert parse_extension_key("  WebChat.Starter_Suggestions@V1 ") == "webchat.starter_suggestions@v1"
    assert parse_extension_key("a.b@v99999") == "a.b@v99999"
    assert parse_extension_key("n" * 64 + "." + "f" * 64 + "@v1") == "n" * 64 + "." + "f" * 64 + "@v1"


def test_empty_extension_key_message():
    with pytest.raises(ExtensionKeyError) as err:
        parse_extension_key("")
    assert str(err.value) == "extension key cannot be empty"


@pytest.mark.parametrize(
    "raw",
    ["missingversion", "namespace.feature@v0", "namespace.@v1", "namespace.feature@v-1", "name space.feature@v1",
     "a.b.c@v1", "a.b@v100000", "a.b@v01", "-a.b@v1", "n" * 65 + ".f@v1"],
)
def test_invalid_extension_key_message(raw):
    with pytest.raises(ExtensionKeyError) as err:
        parse_extension_key(raw)
    assert str(err.value) == f'extension key "{raw}" is invalid (expected namespace.feature@vN)'


# --- ValidateEngineProfile (§2.4) ---------------------------------------------------------------------------


def reason_of(fn, value) -> str:
    with pytest.raises(ValidationError) as err:
        fn(value)
    return str(err.value)


def test_profile_nil():
    assert reason_of(validate_profile, None) == "validation error (profile): must not be nil"


def test_profile_empty_slug():
    assert reason_of(validate_profile, profile("")) == "validation error (profile.slug): must not be empty"


def test_profile_invalid_slug_uses_parser_message():
    assert reason_of(validate_profile, profile("bad slug")) == (
        'validation error (profile.slug): profile slug "bad slug" is invalid'
    )


def test_profile_bad_extension_key_field_is_the_trimmed_raw_key():
    bad = profile("p", extensions={" bad key ": {}})
    assert reason_of(validate_profile, bad) == (
        'validation error (profile.extensions[bad key]): extension key " bad key " is invalid '
        "(expected namespace.feature@vN)"
    )


def test_profile_extension_value_must_be_json():
    bad = profile("p", extensions={"a.b@v1": {1, 2}})
    assert reason_of(validate_profile, bad).startswith(
        "validation error (profile.extensions[a.b@v1]): payload must be JSON-serializable: "
    )


@pytest.mark.parametrize(
    "info, reason",
    [
        ({"context_window": -1}, "model_info.context_window must be non-negative"),
        ({"quality_high_watermark": -1}, "model_info.quality_high_watermark must be non-negative"),
        ({"max_output_tokens": -5}, "model_info.max_output_tokens must be non-negative"),
        ({"context_window": 10, "quality_high_watermark": 11},
         "model_info.quality_high_watermark must be <= model_info.context_window"),
        ({"cost": {"input": 1, "output": -0.5}}, "model_info.cost values must be non-negative"),
    ],
)
def test_profile_model_info_rules(info, reason):
    for settings in ({"model_info": info}, {"ModelInfo": info}):
        bad = profile("p", inference_settings=settings)
        assert reason_of(validate_profile, bad) == f"validation error (profile.inference_settings.model_info): {reason}"


def test_profile_stack_ref_rules():
    assert reason_of(validate_profile, profile("p", stack=[ref("a"), ref("")])) == (
        "validation error (profile.stack[1].profile_slug): must not be empty"
    )
    assert reason_of(validate_profile, profile("p", stack=[ref("Bad!")])) == (
        'validation error (profile.stack[0].profile_slug): profile slug "Bad!" is invalid'
    )
    assert reason_of(validate_profile, profile("p", stack=[ref("a", "no way")])) == (
        'validation error (profile.stack[0].registry_slug): registry slug "no way" is invalid'
    )


def test_profile_rules_apply_in_the_reference_order():
    # Slug first, then extensions, then model_info, then stack: every later rule is also broken here.
    broken = profile("", extensions={"bad": 1}, inference_settings={"model_info": {"context_window": -1}},
                     stack=[ref("")])
    assert reason_of(validate_profile, broken) == "validation error (profile.slug): must not be empty"
    broken["slug"] = "p"
    assert "profile.extensions[bad]" in reason_of(validate_profile, broken)
    broken["extensions"] = {}
    assert "profile.inference_settings.model_info" in reason_of(validate_profile, broken)
    broken["inference_settings"] = None
    assert "profile.stack[0].profile_slug" in reason_of(validate_profile, broken)
    broken["stack"] = []
    validate_profile(broken)


# --- ValidateRegistry (§2.4) --------------------------------------------------------------------------------


def test_registry_nil_and_slug():
    assert reason_of(validate_registry, None) == "validation error (registry): must not be nil"
    assert reason_of(validate_registry, registry("", {})) == "validation error (registry.slug): must not be empty"
    assert reason_of(validate_registry, registry("a b", {})) == (
        'validation error (registry.slug): registry slug "a b" is invalid'
    )


def test_registry_with_profiles_needs_a_default():
    assert reason_of(validate_registry, registry("r", {"a": profile("a")})) == (
        "validation error (registry.default_profile_slug): must be set when profiles are present"
    )


def test_registry_profile_nil_key_mismatch_and_missing_default():
    assert reason_of(validate_registry, registry("r", {"a": None}, "a")) == (
        "validation error (registry.profiles[a]): must not be nil"
    )
    assert reason_of(validate_registry, registry("r", {"a": profile("b")}, "a")) == (
        "validation error (registry.profiles[a].slug): map key and profile slug must match"
    )
    assert reason_of(validate_registry, registry("r", {"a": profile("a")}, "zzz")) == (
        "validation error (registry.default_profile_slug): default profile does not exist in registry"
    )


def test_registry_profile_errors_come_from_validate_profile():
    assert reason_of(validate_registry, registry("r", {"a": profile("a", extensions={"bad key": 1})}, "a")) == (
        'validation error (profile.extensions[bad key]): extension key "bad key" is invalid '
        "(expected namespace.feature@vN)"
    )


def test_registry_empty_and_default_without_profiles_are_valid():
    validate_registry(registry("r", {}))
    validate_registry(registry("r", {}, "ghost"))


def test_registry_rule_order_default_before_profiles():
    broken = registry("r", {"a": None})
    assert "registry.default_profile_slug" in reason_of(validate_registry, broken)


# --- stack topology ------------------------------------------------------------------------------------------


def test_topology_missing_same_registry_target():
    reg = registry("r", {"a": profile("a", stack=[ref("ghost")])}, "a")
    assert reason_of(validate_registry, reg) == (
        'validation error (registry.profiles[a].stack[0]): referenced profile "ghost" not found in registry "r"'
    )


def test_topology_external_refs_allowed_unresolved_at_load():
    reg = registry("r", {"a": profile("a", stack=[ref("base", "shared")])}, "a")
    validate_registry(reg)
    with pytest.raises(ValidationError) as err:
        validate_stack_topology({"r": reg}, allow_unresolved_external=False)
    assert str(err.value) == (
        'validation error (registry.profiles[a].stack[0]): referenced profile "base" not found in registry "shared"'
    )


def test_topology_explicit_ref_to_own_registry_must_resolve():
    reg = registry("r", {"a": profile("a", stack=[ref("ghost", "r")])}, "a")
    assert 'referenced profile "ghost" not found in registry "r"' in reason_of(validate_registry, reg)


def test_topology_cycle():
    reg = registry("r", {"a": profile("a", stack=[ref("b")]), "b": profile("b", stack=[ref("a")])}, "a")
    assert reason_of(validate_registry, reg) == (
        "validation error (registry.profiles[b].stack[0]): stack cycle detected: r/a -> r/b -> r/a"
    )


def test_topology_self_reference_is_a_cycle():
    reg = registry("r", {"a": profile("a", stack=[ref("a")])}, "a")
    assert reason_of(validate_registry, reg) == (
        "validation error (registry.profiles[a].stack[0]): stack cycle detected: r/a -> r/a"
    )


def chain_registry(length: int) -> dict:
    names = [f"p{i:02d}" for i in range(length)]
    profiles = {n: profile(n, stack=[ref(names[i + 1])] if i + 1 < length else []) for i, n in enumerate(names)}
    return registry("r", profiles, names[0])


def test_topology_depth_32_is_allowed_33_is_not():
    validate_registry(chain_registry(32))
    message = reason_of(validate_registry, chain_registry(33))
    assert message.startswith("validation error (registry.profiles[p31].stack[0]): stack depth exceeds max_depth=32 "
                              "while traversing r/p00 -> r/p01 -> ")
    assert message.endswith("r/p31 -> r/p32")


def test_topology_fan_in_is_not_a_cycle():
    reg = registry("r", {"agent": profile("agent", stack=[ref("a"), ref("b")]), "a": profile("a", stack=[ref("base")]),
                         "b": profile("b", stack=[ref("base")]), "base": profile("base")}, "agent")
    validate_registry(reg)


# --- decoding -------------------------------------------------------------------------------------------------


def test_decode_normalises_slugs_and_fills_maps():
    reg = decode_registry(
        {"Slug": " Default ", "profiles": {"Agent": {"slug": "AGENT"}}, "default_profile_slug": "Agent"}
    )
    assert reg["slug"] == "default"
    assert reg["default_profile_slug"] == "agent"
    assert reg["profiles"]["agent"]["slug"] == "agent"
    assert reg["profiles"]["agent"]["metadata"] == {} and reg["profiles"]["agent"]["extensions"] == {}
    assert reg["metadata"] == {}


@pytest.mark.parametrize(
    "payload, fragment",
    [
        ({"slug": "bad slug"}, 'registry slug "bad slug" is invalid'),
        ({"slug": "r", "profiles": {"Bad Key": {"slug": "x"}}}, 'profile slug "Bad Key" is invalid'),
        ({"slug": "r", "profiles": {"a": {"slug": "a", "stack": [{"profile_slug": "no!"}]}}}, 'profile slug "no!"'),
        ({"slug": 5}, "expected a string"),
        ({"slug": "r", "profiles": []}, "expected an object"),
        ([], "expected an object"),
    ],
)
def test_decode_rejects_what_go_rejects(payload, fragment):
    with pytest.raises(DecodeError) as err:
        decode_registry(payload)
    assert fragment in str(err.value)


# --- encoding (§1.5) --------------------------------------------------------------------------------------------


def test_encode_registry_field_order_and_omissions():
    reg = registry("r", {"b": profile("b", display_name="B", stack=[ref("a"), ref("x", "shared")],
                                      inference_settings={"Chat": {"Engine": "e"}, "API": None},
                                      metadata={"version": 2, "tags": [], "source": ""},
                                      extensions={"z.z@v1": {"b": 1, "a": [{"d": 1, "c": 2}]}, "a.a@v1": 1}),
                         "a": profile("a")}, "b")
    reg["description"] = "desc"
    reg["metadata"] = {"updated_by": "bob", "version": 3, "created_by": "", "tags": ["t"]}
    text = gojson.dumps(encode_registry(reg))
    assert text == (
        '{"slug":"r","description":"desc","default_profile_slug":"b","profiles":{'
        '"a":{"slug":"a","metadata":{}},'
        '"b":{"slug":"b","display_name":"B","stack":[{"profile_slug":"a"},{"registry_slug":"shared","profile_slug":"x"}],'
        '"inference_settings":{"Chat":{"Engine":"e"},"API":null},"metadata":{"version":2},'
        '"extensions":{"a.a@v1":1,"z.z@v1":{"a":[{"c":2,"d":1}],"b":1}}}},'
        '"metadata":{"version":3,"updated_by":"bob","tags":["t"]}}'
    )


def test_encode_empty_registry_keeps_metadata_and_drops_profiles():
    assert gojson.dumps(encode_registry(registry("r", {}))) == '{"slug":"r","metadata":{}}'


def test_gojson_escapes_html_like_go():
    assert gojson.dumps({"a": "<b>&\u2028"}) == '{"a":"\\u003cb\\u003e\\u0026\\u2028"}'
    assert gojson.body([1]) == b"[1]\n"
    assert json.loads(gojson.dumps({"a": "<é>"})) == {"a": "<é>"}


def test_slug_error_quotes_like_go_percent_q():
    with pytest.raises(SlugError) as err:
        parse_profile_slug('a"\tb\x01')
    assert str(err.value) == 'profile slug "a\\"\\tb\\x01" is invalid'
