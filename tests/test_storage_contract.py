"""The RegistryStore contract (registry/storage/interface.py), written once and run against every implementation.

Adding an implementation is one entry in IMPLEMENTATIONS: its name and the name of a fixture that returns a
function making the store NOT yet opened, on the one empty database of the test (each call: another store on it).
Every test below then runs against it too. The tests use nothing but the protocol, plus sqlite3 to read the
snapshot files `backup_to` writes (a snapshot is a SQLite file in the registry schema whatever the engine).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import registry_payload

from registry.domain.errors import RegistryError
from registry.domain.model import Registry, decode_registry
from registry.storage.interface import RegistryStore, StoreHealth
from registry.storage.postgres_db import target_from_dsn
from registry.storage.postgres_store import PostgresRegistryStore
from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import SQLiteRegistryStore

IMPLEMENTATIONS: dict[str, str] = {
    "sqlite": "sqlite_store_factory",
    "postgresql": "postgres_store_factory",
}


@pytest.fixture
def sqlite_store_factory(tmp_path: Path) -> Callable[[], RegistryStore]:
    return lambda: SQLiteRegistryStore(target_from_path(tmp_path / "registry.db"))


@pytest.fixture
def postgres_store_factory(pg_url: str) -> Callable[[], RegistryStore]:
    return lambda: PostgresRegistryStore(target_from_dsn(pg_url))


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make_store(request: pytest.FixtureRequest) -> Iterator[Callable[[], RegistryStore]]:
    """Open stores on the one database of this test (each call: another store, i.e. another connection set)."""
    factory: Callable[[], RegistryStore] = request.getfixturevalue(IMPLEMENTATIONS[request.param])
    opened: list[RegistryStore] = []

    def make() -> RegistryStore:
        store = factory().open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], RegistryStore]) -> RegistryStore:
    return make_store()


def registry(slug: str, description: str = "", **profiles: dict) -> Registry:
    body = registry_payload(slug, profiles or {"p": {}})
    if description:
        body["description"] = description
    return decode_registry(body)


def test_satisfies_the_protocol_and_opens_empty(store: RegistryStore) -> None:
    assert isinstance(store, RegistryStore)
    assert store.created is True
    assert store.read_only is False
    snap = store.snapshot()
    assert snap.registries == {} and snap.quarantined == {}


def test_a_put_is_read_back_with_a_new_generation(store: RegistryStore) -> None:
    before = store.snapshot()
    with store.write("alpha") as tx:
        assert tx.current is None and tx.quarantine_reason is None
        tx.put(registry("alpha", "one"))
    written = tx.result()
    assert written.before is None and written.after is not None
    after = store.snapshot()
    assert after.generation != before.generation
    assert after.registries["alpha"].registry["description"] == "one"
    assert after.registries["alpha"].updated_at_ms == written.updated_at_ms
    assert store.changed_since(before.generation) is True
    assert store.changed_since(after.generation) is False
    # Unchanged rows: the very same snapshot object, so caches keyed on it stay valid.
    assert store.snapshot() is after


def test_the_transaction_sees_the_committed_row(store: RegistryStore) -> None:
    with store.write("alpha") as tx:
        tx.put(registry("alpha", "one"))
    with store.write("alpha") as tx:
        assert tx.current is not None and tx.current["description"] == "one"
        tx.put(registry("alpha", "two"))
    assert tx.result().before["description"] == "one"  # type: ignore[index]
    assert store.snapshot().registries["alpha"].registry["description"] == "two"


def test_an_error_in_the_block_rolls_back_and_propagates(store: RegistryStore) -> None:
    with store.write("alpha") as tx:
        tx.put(registry("alpha", "kept"))
    generation = store.snapshot().generation
    with pytest.raises(LookupError, match="refused"), store.write("alpha") as tx:
        tx.put(registry("alpha", "lost"))
        raise LookupError("refused")
    assert store.changed_since(generation) is False
    assert store.snapshot().registries["alpha"].registry["description"] == "kept"


def test_dry_run_and_an_untouched_block_store_nothing(store: RegistryStore) -> None:
    with store.write("alpha", dry_run=True) as tx:
        tx.put(registry("alpha", "would be"))
    assert tx.result().after is not None
    with store.write("beta"):
        pass
    assert store.snapshot().registries == {}


def test_delete_removes_the_row(store: RegistryStore) -> None:
    with store.write("alpha") as tx:
        tx.put(registry("alpha"))
    with store.write("alpha") as tx:
        tx.delete()
    assert tx.result().after is None
    assert "alpha" not in store.snapshot().registries


def test_write_many_changes_every_row_together_or_none(store: RegistryStore) -> None:
    """A partial restore's transaction: each row's committed stamp is shown, and all rows commit or none."""
    with store.write("alpha") as tx:
        tx.put(registry("alpha", "a1"))
    stamp = store.snapshot().registries["alpha"].updated_at_ms
    with pytest.raises(LookupError), store.write_many(["beta", "alpha"]) as rows:
        assert list(rows) == ["beta", "alpha"]
        assert rows["alpha"].current_updated_at_ms == stamp and rows["beta"].current_updated_at_ms is None
        rows["alpha"].put(registry("alpha", "lost"))
        rows["beta"].put(registry("beta", "lost"))
        raise LookupError("refused")
    assert set(store.snapshot().registries) == {"alpha"}
    with store.write_many(["alpha", "beta"]) as rows:
        rows["alpha"].delete()
        rows["beta"].put(registry("beta", "b1"))
    assert {slug: r.registry["description"] for slug, r in store.snapshot().registries.items()} == {"beta": "b1"}


def test_a_bad_row_is_quarantined_not_raised(store: RegistryStore) -> None:
    store.put_payload("broken", "{not json", 5)
    snap = store.snapshot()
    assert "broken" in snap.quarantined and "not valid JSON" in snap.quarantined["broken"].reason
    assert snap.quarantined["broken"].updated_at_ms == 5
    with store.write("broken") as tx:
        assert tx.current is None and "not valid JSON" in (tx.quarantine_reason or "")
        tx.put(registry("broken", "repaired"))
    assert store.snapshot().registries["broken"].registry["description"] == "repaired"


def test_a_commit_through_another_store_is_seen_within_its_staleness_bound(
    make_store: Callable[[], RegistryStore],
) -> None:
    reader, writer = make_store(), make_store()
    generation = reader.snapshot().generation
    with writer.write("alpha") as tx:
        tx.put(registry("alpha", "from elsewhere"))
    # SQLite: at once (the bound is 0, so exactly one look). PostgreSQL: once the NOTIFY has arrived.
    deadline = time.monotonic() + reader.max_staleness_s
    while not reader.changed_since(generation) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert reader.changed_since(generation) is True
    assert reader.snapshot().registries["alpha"].registry["description"] == "from elsewhere"


def test_concurrent_read_modify_writes_lose_nothing(make_store: Callable[[], RegistryStore]) -> None:
    """Each writer reads the counter in the transaction and writes it + 1: the total is exact."""
    stores = [make_store(), make_store()]
    with stores[0].write("counter") as tx:
        tx.put(registry("counter", "0"))
    errors: list[BaseException] = []

    def bump(store: RegistryStore) -> None:
        try:
            for _ in range(15):
                with store.write("counter") as tx:
                    assert tx.current is not None
                    tx.put(registry("counter", str(int(tx.current["description"]) + 1)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(stores[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Read through a store opened now: the others may not have been told of each other's last commit yet.
    assert make_store().snapshot().registries["counter"].registry["description"] == "60"


def test_health_names_the_location(store: RegistryStore) -> None:
    health = store.health()
    assert isinstance(health, StoreHealth)
    assert health.location and health.read_only is False
    assert isinstance(health.settings, dict)


def _rows_of_file(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return {slug: json.loads(payload)["description"] for slug, payload in
                conn.execute("SELECT slug, payload_json FROM profile_registries")}
    finally:
        conn.close()


def test_backup_then_restore_round_trip(store: RegistryStore, tmp_path: Path) -> None:
    with store.write("alpha") as tx:
        tx.put(registry("alpha", "old"))
    snapshot = tmp_path / "copy.db"
    snapshot.touch()
    store.backup_to(snapshot)
    assert _rows_of_file(snapshot) == {"alpha": "old"}

    with store.write("alpha") as tx:
        tx.put(registry("alpha", "new"))
    with store.write("beta") as tx:
        tx.put(registry("beta", "added later"))
    seen: list[str] = []
    value = store.restore_from(snapshot, lambda: seen.append("before") or "safety")
    assert value == "safety" and seen == ["before"]
    snap = store.snapshot()
    assert set(snap.registries) == {"alpha"}
    assert snap.registries["alpha"].registry["description"] == "old"


def test_closed_store_refuses_reads(make_store: Callable[[], RegistryStore]) -> None:
    store = make_store()
    store.close()
    store.close()  # idempotent
    with pytest.raises(RegistryError, match="closed"):
        store.snapshot()
