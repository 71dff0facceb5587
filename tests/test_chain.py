"""registry.service.chain: chaining sources (§3.4): last source wins, default registry, duplicates, lookup
precedence."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry.domain.errors import ProfileNotFound, RegistryNotFound, RegistryQuarantined, StartupError, ValidationError
from registry.service.chain import RegistryChain
from registry.storage.sources import open_source, parse_entries


def open_chain(*entries: str) -> RegistryChain:
    return RegistryChain([open_source(spec) for spec in parse_entries(list(entries))])


@pytest.fixture
def two_sources(tmp_path: Path) -> tuple[str, str]:
    shared = tmp_path / "shared.db"
    write_row(shared, "shared", registry_payload("shared", {"agent": {}, "base": {}}, "base"))
    write_row(shared, "alpha", registry_payload("alpha", {"agent": {}}))
    private = tmp_path / "private.yaml"
    private.write_text("slug: private\nprofiles:\n  agent: {}\n  solo: {}\n")
    return str(shared), str(private)


def test_default_registry_is_first_registry_of_the_last_source(two_sources):
    shared, private = two_sources
    chain = open_chain(shared, private)
    try:
        view = chain.view()
        assert view.default_registry == "private"
        assert view.precedence == ("private", "alpha", "shared")
        assert list(view.registries) == ["alpha", "private", "shared"]
    finally:
        chain.close()
    chain = open_chain(private, shared)
    try:
        # SQLite sources contribute their registries alphabetically: `alpha` comes first.
        assert chain.view().default_registry == "alpha"
    finally:
        chain.close()


def test_profile_only_lookup_prefers_the_top_of_the_stack(two_sources):
    chain = open_chain(*two_sources)
    try:
        view = chain.view()
        assert view.resolve_input("", "agent") == ("private", "agent")
        assert view.resolve_input("", "base") == ("shared", "base")
        assert view.resolve_input("", "") == ("private", "agent")  # YAML default: alphabetically first
        assert view.resolve_input("shared", "") == ("shared", "base")
        with pytest.raises(ProfileNotFound):
            view.resolve_input("", "nowhere")
        with pytest.raises(RegistryNotFound):
            view.resolve_input("ghost", "agent")
    finally:
        chain.close()


def test_detail_search_is_alphabetical_not_precedence(two_sources):
    chain = open_chain(*two_sources)
    try:
        slug, profile = chain.view().find_profile("agent")
        assert (slug, profile["slug"]) == ("alpha", "agent")
    finally:
        chain.close()


def test_duplicate_registry_across_sources_is_refused(tmp_path: Path, two_sources):
    other = tmp_path / "other.yaml"
    other.write_text("slug: shared\nprofiles:\n  x: {}\n")
    with pytest.raises(StartupError) as err:
        open_chain(two_sources[0], str(other))
    assert str(err.value) == 'duplicate registry slug "shared" across profile registry sources'


def test_zero_sources_message():
    with pytest.raises(StartupError) as err:
        RegistryChain([])
    assert str(err.value) == "validation error (profile-settings.profile-registries): must not be empty"


def test_registry_without_default_uses_profile_named_default_else_validation_error(tmp_path: Path):
    db = tmp_path / "r.db"
    write_row(db, "r", {"slug": "r", "metadata": {}})
    chain = open_chain(str(db))
    try:
        with pytest.raises(ValidationError) as err:
            chain.view().resolve_input("r", "")
        assert str(err.value) == (
            "validation error (profile.slug): profile slug is required and registry has no default"
        )
    finally:
        chain.close()


def test_unchanged_sources_give_the_same_view_object(two_sources):
    chain = open_chain(*two_sources)
    try:
        assert chain.view() is chain.view()
    finally:
        chain.close()


def test_quarantined_registry_is_named_when_a_search_fails(tmp_path: Path):
    db = tmp_path / "q.db"
    write_row(db, "good", registry_payload("good", {"a": {}}))
    write_row(db, "broken", '{"slug":"broken","profiles":')
    chain = open_chain(str(db))
    try:
        view = chain.view()
        assert view.find_profile("a")[0] == "good"
        with pytest.raises(RegistryQuarantined) as err:
            view.find_profile("elsewhere")
        assert err.value.slug == "broken"
        with pytest.raises(RegistryQuarantined):
            view.registry("broken")
    finally:
        chain.close()
