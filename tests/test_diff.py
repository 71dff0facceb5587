"""Diffs of registries (registry.domain.diff): each kind of change, JSON pointers, redaction, unreadable rows."""

from __future__ import annotations

import copy

from registry_data import OAUTH, default_registry, team_registry

from registry.domain.diff import ABSENT, RegistryState, changed_paths, diff_registries, pointer, value_at
from registry.domain.model import decode_registry

LIVE_MS = 1_800_000_000_000
SNAP_MS = 1_790_000_000_000


def fresh() -> dict:
    """Registry `default`, deep-copied: registry_data shares its nested dicts between calls."""
    return copy.deepcopy(default_registry())


def decoded(payload: dict) -> dict:
    return decode_registry(copy.deepcopy(payload))


def states(*registries: dict, updated_at_ms: int = LIVE_MS) -> dict[str, RegistryState]:
    return {r["slug"]: RegistryState(decoded(r), updated_at_ms) for r in registries}


def one(before: dict, after: dict):
    """The single registry diff of `before` -> `after` (same slug)."""
    [result] = diff_registries(states(before), states(after, updated_at_ms=SNAP_MS))
    return result


def fields_of(result, profile: str) -> dict[str, tuple]:
    [p] = [p for p in result.profiles if p.slug == profile]
    return {f.path: (f.op, f.before, f.after) for f in p.fields}


def test_identical_registries_are_same_with_both_stamps():
    [result] = diff_registries(states(default_registry()), states(default_registry(), updated_at_ms=SNAP_MS))
    assert result.change == "same"
    assert (result.before_updated_at_ms, result.after_updated_at_ms) == (LIVE_MS, SNAP_MS)
    assert result.fields == [] and result.profiles == []


def test_a_profile_only_in_the_snapshot_is_added_with_its_fields():
    live = fresh()
    snap = fresh()
    snap["profiles"]["writer"] = {"slug": "writer", "display_name": "Writer", "metadata": {"version": 2}}
    result = one(live, snap)
    assert result.change == "changed"
    [profile] = result.profiles
    assert (profile.slug, profile.change) == ("writer", "added")
    assert fields_of(result, "writer") == {
        "/slug": ("add", ABSENT, "writer"),
        "/display_name": ("add", ABSENT, "Writer"),
        "/metadata": ("add", ABSENT, {"version": 2}),
    }


def test_a_profile_only_live_is_removed_with_its_fields():
    live = fresh()
    snap = fresh()
    del snap["profiles"]["beta"]
    result = one(live, snap)
    [profile] = result.profiles
    assert (profile.slug, profile.change) == ("beta", "removed")
    removed = fields_of(result, "beta")
    assert removed["/display_name"] == ("remove", "Beta", ABSENT)
    assert removed["/stack"] == ("remove", [{"profile_slug": "alpha"}], ABSENT)
    assert all(op == "remove" for op, _, _ in removed.values())


def test_a_field_inside_inference_settings_is_one_change_at_its_pointer():
    live = fresh()
    snap = fresh()
    snap["profiles"]["beta"]["inference_settings"]["Chat"]["Engine"] = "gpt-y"
    snap["profiles"]["beta"]["inference_settings"]["ModelInfo"]["context_window"] = 2000
    result = one(live, snap)
    assert result.change == "changed"
    assert fields_of(result, "beta") == {
        "/inference_settings/Chat/Engine": ("replace", "gpt-x", "gpt-y"),
        "/inference_settings/ModelInfo/context_window": ("replace", 1000, 2000),
    }


def test_an_extension_change_points_into_the_extension():
    live = fresh()
    snap = fresh()
    runtime = snap["profiles"]["beta"]["extensions"]["pinocchio.webchat_runtime@v1"]
    runtime["system_prompt"] = "Be brief"
    runtime["middlewares"][0]["config"]["default_mode"] = "writer"
    snap["profiles"]["beta"]["extensions"]["webchat.starter_suggestions@v1"] = {"items": ["Hi"]}
    changes = fields_of(one(live, snap), "beta")
    assert changes == {
        "/extensions/pinocchio.webchat_runtime@v1/middlewares/0/config/default_mode": ("replace", "reviewer", "writer"),
        "/extensions/pinocchio.webchat_runtime@v1/system_prompt": ("replace", "You are <beta> & friends", "Be brief"),
        "/extensions/webchat.starter_suggestions@v1": ("add", ABSENT, {"items": ["Hi"]}),
    }


def test_a_default_change_is_a_registry_field():
    live = fresh()
    snap = fresh()
    snap["default_profile_slug"] = "beta"
    result = one(live, snap)
    assert result.change == "changed"
    assert [(f.path, f.op, f.before, f.after) for f in result.fields] == [
        ("/default_profile_slug", "replace", "alpha", "beta")
    ]
    assert result.profiles == []


def test_registries_on_one_side_only_are_added_or_removed():
    results = {r.slug: r for r in diff_registries(states(default_registry()), states(team_registry()))}
    assert results["default"].change == "removed" and results["default"].after_updated_at_ms is None
    assert results["team"].change == "added" and results["team"].before_updated_at_ms is None
    assert {p.slug: p.change for p in results["team"].profiles} == {"beta": "added", "gamma": "added"}


def test_secrets_that_changed_are_listed_but_never_shown():
    live = fresh()
    snap = fresh()
    live["profiles"]["beta"]["inference_settings"]["API"] = {"APIKeys": {"openai-api-key": "sk-live"}}
    snap["profiles"]["beta"]["inference_settings"]["API"] = {"APIKeys": {"openai-api-key": "sk-snap"}}
    snap["profiles"]["beta"]["extensions"]["pinocchio.oauth@v1"] = OAUTH | {"access_token": "AT-2"}
    snap["profiles"]["alpha"]["inference_settings"] = {"api": {"openai_api_key": "sk-new"}}
    result = one(live, snap)
    beta = fields_of(result, "beta")
    assert beta == {
        "/extensions/pinocchio.oauth@v1/access_token": ("replace", "<redacted>", "<redacted>"),
        "/inference_settings/API/APIKeys/openai-api-key": ("replace", "<redacted>", "<redacted>"),
    }
    assert fields_of(result, "alpha") == {
        "/inference_settings": ("add", ABSENT, {"api": {"openai_api_key": "<redacted>"}})
    }
    text = repr(result.to_dict())
    assert "sk-" not in text and "AT" not in text.replace("AT-", "") and "AT-2" not in text


def test_a_quarantined_side_is_unreadable_with_its_reason():
    before = {"default": RegistryState(None, LIVE_MS, "payload_json is not valid JSON")}
    [result] = diff_registries(before, states(default_registry(), updated_at_ms=SNAP_MS))
    assert (result.change, result.problem) == ("unreadable", "payload_json is not valid JSON")
    assert result.before_updated_at_ms == LIVE_MS and result.profiles == []


def test_pointers_escape_tilde_and_slash_and_numbers_differ_from_booleans():
    assert pointer(("extensions", "a/b~c", 0)) == "/extensions/a~1b~0c/0"
    assert changed_paths({"x": 1}, {"x": True}) == [(("x",), "replace")]
    assert changed_paths({"x": [1, 2]}, {"x": [1, 2, 3]}) == [(("x",), "replace")]
    assert changed_paths({"x": [1, 2]}, {"x": [1, 3]}) == [(("x", 1), "replace")]
    assert value_at({"api_key": "<redacted>"}, ("api_key", "inner")) == "<redacted>"
