"""The PostgreSQL store beyond the shared contract: its schema, NOTIFY freshness, cross-instance locking, outages.

Every test runs on a fresh database of the server named by PROFILE_REGISTRY_TEST_POSTGRES (tests/postgres_server.py).
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from conftest import registry_payload
from postgres_server import ADMIN_DSN
from serve_process import run_serve

from registry.domain import gojson
from registry.domain.errors import StartupError, StoreUnavailable
from registry.domain.model import decode_registry, encode_registry
from registry.storage.postgres_db import target_from_dsn
from registry.storage.postgres_listener import CHECK_INTERVAL_S, LISTENING
from registry.storage.postgres_store import PostgresRegistryStore
from registry.storage.sources import parse_entry


def open_store(url: str) -> PostgresRegistryStore:
    return PostgresRegistryStore(target_from_dsn(url)).open()


def wait_for(condition, timeout: float, step: float = 0.005) -> float:
    """Seconds until `condition()` held; fails the test after `timeout`."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - began


def test_entries_and_labels():
    assert parse_entry("postgresql://u@h:5/db").kind == "postgresql"
    assert parse_entry(" postgres://u@h/db ").kind == "postgresql"
    spec = parse_entry("postgresql://alice:s3cret@db.example:5432/reg?sslmode=require")
    assert spec.shown == "postgresql://alice@db.example:5432/reg" and "s3cret" not in spec.shown


def test_the_table_is_the_references(pg_url):
    store = open_store(pg_url)
    try:
        assert store.created is True
        with psycopg.connect(pg_url) as conn:
            columns = conn.execute(
                "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                "WHERE table_name = 'profile_registries' ORDER BY ordinal_position"
            ).fetchall()
            key = conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'profile_registries'::regclass AND i.indisprimary"
            ).fetchall()
        assert columns == [
            ("slug", "text", "NO", None),
            ("payload_json", "text", "NO", None),
            ("updated_at_ms", "bigint", "NO", "0"),
        ]
        assert key == [("slug",)]
        # The row's text is exactly what the SQLite store would write for the same registry.
        registry = decode_registry(registry_payload("team", {"a": {"description": "é ✓"}}))
        with store.write("team") as tx:
            tx.put(registry)
        with psycopg.connect(pg_url) as conn:
            stored = conn.execute("SELECT payload_json FROM profile_registries").fetchone()[0]
        assert stored == gojson.dumps(encode_registry(tx.result().after))
    finally:
        store.close()
    # Opening again finds the table and creates nothing.
    again = open_store(pg_url)
    assert again.created is False
    again.close()


def test_a_table_with_other_columns_is_refused(pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json JSONB NOT NULL)")
    with pytest.raises(StartupError, match=r"payload_json jsonb.*expected \(slug text, payload_json text"):
        open_store(pg_url)


def test_unreachable_at_start_is_one_line_and_exit_2(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_serve(["--profile-registries", f"postgresql://someone:pw@127.0.0.1:{port}/x"], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("profile-registry serve: error: profile registry source 0 (postgresql://someone@")
    assert "cannot connect to PostgreSQL" in lines[0] and "pw" not in lines[0]


def test_a_psql_commit_is_seen_through_notify(pg_url):
    """The trigger's NOTIFY reaches the listener, which then reloads: not the periodic fallback check."""
    store = open_store(pg_url)
    try:
        wait_for(lambda: store.health().settings["change_detection"] == LISTENING, 5)
        generation = store.snapshot().generation
        notified = store.health().settings["notifications"]
        with psycopg.connect(pg_url) as conn:
            conn.execute(
                "INSERT INTO profile_registries (slug, payload_json, updated_at_ms) VALUES (%s, %s, 7)",
                ("ops", gojson.dumps(registry_payload("ops", {"p": {}}))),
            )
        wait_for(lambda: store.health().settings["notifications"] > notified, 5)
        wait_for(lambda: store.changed_since(generation), CHECK_INTERVAL_S)
        assert store.snapshot().registries["ops"].updated_at_ms == 7
    finally:
        store.close()


def test_a_writer_of_another_instance_waits_and_then_sees_the_first_ones_row(pg_url):
    """The generation-row lock: while one instance's transaction is open, another's cannot start on stale data."""
    first, second = open_store(pg_url), open_store(pg_url)
    try:
        with first.write("team") as tx:
            tx.put(decode_registry(registry_payload("team", {"a": {}})))
        inside = threading.Event()
        release = threading.Event()
        seen: list[object] = []

        def slow_writer() -> None:
            with first.write("team") as tx:
                inside.set()
                release.wait(5)
                tx.put(decode_registry(registry_payload("team", {"a": {}, "b": {}})))

        def racing_writer() -> None:
            with second.write("team") as tx:
                seen.append(sorted(tx.current["profiles"]) if tx.current else None)

        holder = threading.Thread(target=slow_writer)
        holder.start()
        assert inside.wait(5)
        racer = threading.Thread(target=racing_writer)
        racer.start()
        time.sleep(0.3)
        assert seen == [], "the second instance entered its transaction while the first held the lock"
        release.set()
        holder.join(5)
        racer.join(5)
        assert seen == [["a", "b"]]
    finally:
        first.close()
        second.close()


def test_a_lost_connection_is_degraded_then_recovered(pg_url):
    """Every connection of the store killed by the server: reads go on, writes get 503, then all comes back."""
    store = open_store(pg_url)
    try:
        with store.write("team") as tx:
            tx.put(decode_registry(registry_payload("team", {"a": {}})))
        wait_for(lambda: store.health().settings["listener_connected"], 5)
        database = psycopg.conninfo.conninfo_to_dict(pg_url)["dbname"]
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            # Refuse new connections for a moment so the outage lasts long enough to be seen.
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
            wait_for(lambda: store.health().problem is not None, 5)
            health = store.health()
            assert health.problem_since_ms is not None and health.problem_since_ms <= time.time() * 1000
            assert "team" in store.snapshot().registries  # reads keep the loaded rows
            unavailable = pytest.raises(StoreUnavailable, match="not stored: PostgreSQL at .* is unavailable since")
            with unavailable, store.write("team") as tx:
                tx.delete()
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        with psycopg.connect(pg_url, autocommit=True) as conn:
            # Committed while the store was cut off: the reconnecting listener's generation check must find it.
            conn.execute(
                "UPDATE profile_registries SET payload_json = %s",
                (gojson.dumps(registry_payload("team", {"a": {}, "after": {}})),),
            )
        recovered_after = wait_for(lambda: store.health().problem is None, 10)
        wait_for(lambda: "after" in store.snapshot().registries["team"].registry["profiles"], 2)
        assert recovered_after < 5
        with store.write("team") as tx:
            tx.delete()
        assert "team" not in store.snapshot().registries
    finally:
        store.close()
