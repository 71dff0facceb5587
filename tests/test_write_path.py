"""registry.service.writes drives the store's write transaction itself: one chain view per write, fresh when needed."""

from __future__ import annotations

import pytest
from conftest import registry_payload, write_row

from registry.domain.errors import ValidationError
from registry.service.registry_service import RegistryService
from registry.service.writes import RegistryWriter


@pytest.fixture
def service(db_path):
    write_row(db_path, "shared", registry_payload("shared", {"base": {}, "other": {}}), 1_000)
    service = RegistryService.from_settings([str(db_path)], str(db_path), None)
    yield service
    service.chain.close()


def count_views(service: RegistryService, monkeypatch) -> list[int]:
    calls: list[int] = []
    real = service.chain.view

    def counted():
        calls.append(1)
        return real()

    monkeypatch.setattr(service.chain, "view", counted)
    return calls


def test_a_patch_takes_one_chain_view(service, monkeypatch):
    writer = RegistryWriter(service)
    calls = count_views(service, monkeypatch)
    result = writer.update_profile(
        "shared", "base", {"description": "new"}, actor="t", source="test", expected_version=0
    )
    assert result.after["profiles"]["base"]["description"] == "new"
    assert len(calls) == 1


def test_a_commit_between_the_view_and_the_lock_is_seen_by_the_stack_check(service, db_path, monkeypatch):
    """Deleting a profile that another writer made a stack target after our view was taken is still refused."""
    writer = RegistryWriter(service)
    store = service.sqlite_sources()[0].store
    real_write = store.write

    def write_after_a_rival_commit(slug, **kwargs):
        # Another process adds a registry stacking on shared/other just before our transaction starts.
        top = registry_payload("leaf", {"top": {"stack": [{"registry_slug": "shared", "profile_slug": "other"}]}})
        write_row(db_path, "leaf", top, 2_000)
        return real_write(slug, **kwargs)

    monkeypatch.setattr(store, "write", write_after_a_rival_commit)
    with pytest.raises(ValidationError, match='referenced profile "other" not found in registry "shared"'):
        writer.delete_profile("shared", "other", actor="t", source="test")
    monkeypatch.undo()
    assert "other" in service.chain.view().registries["shared"].registry["profiles"]
