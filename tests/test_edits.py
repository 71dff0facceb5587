"""registry.domain.edits: the reference's write semantics on registry dicts (contract §7.1), plus the chain-wide
stack check."""

from __future__ import annotations

import copy

import pytest

from registry.domain import edits
from registry.domain.errors import ProfileNotFound, ValidationError, VersionConflict
from registry.domain.model import decode_registry


def registry(slug: str = "default", profiles: dict | None = None, default: str = "", version: int = 0) -> dict:
    payload = {
        "slug": slug,
        "default_profile_slug": default,
        "profiles": {name: {"slug": name, **body} for name, body in (profiles or {}).items()},
        "metadata": {"version": version} if version else {},
    }
    return decode_registry(payload)


def test_touch_bumps_version_keeps_created_and_sets_updated():
    first = edits.touch({}, actor="alice", source="seed", now_ms=100)
    assert first == {"created_at_ms": 100, "created_by": "alice", "source": "seed", "updated_at_ms": 100,
                     "updated_by": "alice", "version": 1}
    second = edits.touch(first, actor="bob", source="api", now_ms=200)
    assert second["version"] == 2
    assert (second["created_at_ms"], second["created_by"]) == (100, "alice")
    assert (second["updated_at_ms"], second["updated_by"], second["source"]) == (200, "bob", "api")
    assert first["version"] == 1, "touch must not mutate its input"


def test_create_profile_is_version_one_and_touches_registry():
    reg = registry(profiles={"a": {}}, default="a", version=3)
    before = copy.deepcopy(reg)
    out = edits.create_profile(reg, edits.build_profile(" New ", {"display_name": "N"}), actor="bob", now_ms=5)
    assert reg == before, "the stored registry must not be mutated"
    assert out["profiles"]["new"]["metadata"]["version"] == 1
    assert out["profiles"]["new"]["metadata"]["created_by"] == "bob"
    assert out["metadata"]["version"] == 4
    assert out["default_profile_slug"] == "a"


def test_first_profile_of_an_empty_registry_becomes_default():
    out = edits.create_profile(registry(), edits.build_profile("only", {}), now_ms=1)
    assert out["default_profile_slug"] == "only"


def test_create_existing_profile_is_refused():
    reg = registry(profiles={"a": {}}, default="a")
    with pytest.raises(edits.AlreadyExists):
        edits.create_profile(reg, edits.build_profile("a", {}), now_ms=1)


def test_build_profile_reports_reference_fields():
    with pytest.raises(ValidationError, match=r"validation error \(profile.extensions\[bad key\]\)"):
        edits.build_profile("x", {"extensions": {"bad key": 1}})
    with pytest.raises(ValidationError, match=r"validation error \(profile.slug\): must not be empty"):
        edits.build_profile("  ", {})
    with pytest.raises(ValidationError, match=r"profile.stack\[0\].profile_slug"):
        edits.build_profile("x", {"stack": [{"profile_slug": "Not Valid!"}]})


def test_update_checks_expected_version_of_the_profile():
    reg = registry(profiles={"a": {"metadata": {"version": 2}}}, default="a")
    with pytest.raises(VersionConflict) as info:
        edits.update_profile(reg, "a", {"display_name": "x"}, expected_version=1, now_ms=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert str(info.value) == 'profile "a" version conflict: expected=1 actual=2'
    out = edits.update_profile(reg, "a", {"display_name": "x"}, expected_version=2, actor="c", now_ms=9)
    assert out["profiles"]["a"]["metadata"]["version"] == 3
    assert out["profiles"]["a"]["display_name"] == "x"


def test_expected_version_zero_is_a_real_check():
    reg = registry(profiles={"a": {"metadata": {"version": 1}}}, default="a")
    with pytest.raises(VersionConflict):
        edits.update_profile(reg, "a", {"description": "d"}, expected_version=0, now_ms=1)


def test_update_merges_extensions_by_key_and_null_deletes():
    reg = registry(profiles={"a": {"extensions": {"x.one@v1": 1, "x.two@v1": 2}}}, default="a")
    out = edits.update_profile(reg, "a", {"extensions": {"x.two@v1": None, "x.three@v1": [3]}}, now_ms=1)
    assert out["profiles"]["a"]["extensions"] == {"x.one@v1": 1, "x.three@v1": [3]}


def test_update_unknown_profile_is_not_found():
    with pytest.raises(ProfileNotFound):
        edits.update_profile(registry(), "ghost", {}, now_ms=1)


def test_delete_default_profile_needs_another_default_first():
    reg = registry(profiles={"a": {}, "b": {}}, default="a")
    with pytest.raises(ValidationError, match="set another default"):
        edits.delete_profile(reg, "a", now_ms=1)
    out = edits.delete_profile(reg, "b", now_ms=1)
    assert sorted(out["profiles"]) == ["a"]
    last = edits.delete_profile(out, "a", now_ms=2)
    assert last["profiles"] == {} and last["default_profile_slug"] == ""


def test_set_default_checks_registry_version():
    reg = registry(profiles={"a": {}, "b": {}}, default="a", version=4)
    with pytest.raises(VersionConflict) as info:
        edits.set_default(reg, "b", expected_version=3, now_ms=1)
    assert info.value.resource == "registry"
    out = edits.set_default(reg, "b", expected_version=4, now_ms=1)
    assert out["default_profile_slug"] == "b" and out["metadata"]["version"] == 5
    with pytest.raises(ProfileNotFound):
        edits.set_default(reg, "zzz", now_ms=1)


def test_put_registry_keeps_stored_metadata_and_replaces_profiles():
    stored = registry(profiles={"a": {}, "b": {}}, default="a", version=2)
    stored["metadata"].update(created_at_ms=10, created_by="alice")
    incoming = registry(profiles={"c": {"metadata": {"version": 7}}}, default="c", version=99)
    out = edits.put_registry(stored, incoming, expected_version=2, actor="bob", now_ms=50)
    assert sorted(out["profiles"]) == ["c"]
    assert out["profiles"]["c"]["metadata"]["version"] == 7, "profile metadata is taken as supplied"
    assert out["metadata"]["version"] == 3
    assert (out["metadata"]["created_by"], out["metadata"]["updated_by"]) == ("alice", "bob")
    with pytest.raises(VersionConflict):
        edits.put_registry(stored, incoming, expected_version=1, now_ms=50)
    with pytest.raises(VersionConflict) as info:
        edits.put_registry(None, incoming, expected_version=1, now_ms=50)
    assert info.value.actual == 0


def test_put_registry_runs_reference_validation():
    bad = registry(profiles={"a": {}})
    with pytest.raises(ValidationError, match="must be set when profiles are present"):
        edits.put_registry(None, bad, now_ms=1)


def test_chain_check_refuses_dangling_ref_into_other_registry():
    shared = registry("shared", {"base": {}}, default="base")
    before = {"shared": shared, "default": registry(profiles={"a": {}}, default="a")}
    after = dict(before)
    after["default"] = registry(
        profiles={"a": {"stack": [{"registry_slug": "shared", "profile_slug": "missing"}]}}, default="a"
    )
    with pytest.raises(ValidationError, match='referenced profile "missing" not found in registry "shared"'):
        edits.check_chain_topology(before, after, "default")


def test_chain_check_refuses_cycle_through_two_registries():
    one = registry("one", {"a": {"stack": [{"registry_slug": "two", "profile_slug": "b"}]}}, default="a")
    two = registry("two", {"b": {}}, default="b")
    before = {"one": one, "two": two}
    looped = registry("two", {"b": {"stack": [{"registry_slug": "one", "profile_slug": "a"}]}}, default="b")
    with pytest.raises(ValidationError, match="stack cycle detected"):
        edits.check_chain_topology(before, {"one": one, "two": looped}, "two")


def test_chain_check_refuses_deleting_a_registry_others_stack_on():
    one = registry("one", {"a": {"stack": [{"registry_slug": "two", "profile_slug": "b"}]}}, default="a")
    two = registry("two", {"b": {}}, default="b")
    with pytest.raises(ValidationError, match='not found in registry "two"'):
        edits.check_chain_topology({"one": one, "two": two}, {"one": one}, "two")


def test_chain_check_tolerates_an_unrelated_existing_problem():
    broken = registry("broken", {"x": {"stack": [{"registry_slug": "gone", "profile_slug": "y"}]}}, default="x")
    mine = registry("mine", {"a": {}}, default="a")
    edited = registry("mine", {"a": {"display_name": "changed"}}, default="a")
    edits.check_chain_topology({"broken": broken, "mine": mine}, {"broken": broken, "mine": edited}, "mine")
    # The same pre-existing problem inside the edited registry does not block an unrelated edit either...
    own = registry("own", {"p": {"stack": [{"registry_slug": "gone", "profile_slug": "y"}]}, "q": {}}, default="q")
    own_edited = registry(
        "own",
        {"p": {"stack": [{"registry_slug": "gone", "profile_slug": "y"}]}, "q": {"description": "d"}},
        default="q",
    )
    edits.check_chain_topology({"own": own}, {"own": own_edited}, "own")
    # ...but a new problem does.
    worse = registry("own", {"p": {}, "q": {"stack": [{"profile_slug": "nope"}]}}, default="q")
    with pytest.raises(ValidationError):
        edits.check_chain_topology({"own": own}, {"own": worse}, "own")
