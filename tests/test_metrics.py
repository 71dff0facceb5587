"""GET /metrics: request counts and latency by route and status, and the service's state at scrape time."""

from __future__ import annotations

import psycopg
from conftest import registry_payload, write_row
from prometheus_client.parser import text_string_to_metric_families

from registry.domain.model import decode_registry
from registry.storage import backups
from registry.web.app_state import app_state


def samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_requests_are_counted_by_route_template_and_status(tmp_path, make_app):
    db = tmp_path / "p.db"
    write_row(db, "default", registry_payload("default", {"alpha": {}, "beta": {}}))
    client = make_app(db).test_client()
    for slug in ("alpha", "beta", "alpha", "missing"):
        client.get(f"/api/chat/profiles/{slug}")
    client.get("/no/such/page")
    got = samples(client)
    detail = (("method", "GET"), ("route", "/api/chat/profiles/<slug>"), ("status", "200"))
    assert got[("profile_registry_http_requests_total", detail)] == 3
    missing = (("method", "GET"), ("route", "/api/chat/profiles/<slug>"), ("status", "404"))
    assert got[("profile_registry_http_requests_total", missing)] == 1
    assert got[("profile_registry_http_request_duration_seconds_count", detail)] == 3
    assert got[("profile_registry_http_request_duration_seconds_sum", detail)] > 0
    unmatched = (("method", "GET"), ("route", "(unmatched)"), ("status", "404"))
    assert got[("profile_registry_http_requests_total", unmatched)] == 1
    assert got[("profile_registry_registries", ())] == 1
    assert got[("profile_registry_quarantined_registries", ())] == 0
    assert got[("profile_registry_database_up", (("source", str(db)),))] == 1


def test_quarantined_rows(tmp_path, make_app):
    db = tmp_path / "p.db"
    write_row(db, "default", registry_payload("default", {"alpha": {}}))
    write_row(db, "broken", "{not json")
    assert samples(make_app(db).test_client())[("profile_registry_quarantined_registries", ())] == 1


def test_newest_backup_age(tmp_path, make_app):
    db = tmp_path / "p.db"
    write_row(db, "default", registry_payload("default", {"alpha": {}}))
    app = make_app(db)
    client = app.test_client()
    got = samples(client)
    assert not any(name == "profile_registry_newest_backup_age_seconds" for name, _ in got)
    backups.create_backup(app_state(app).service.backup_source().store.target)
    age = samples(client)[("profile_registry_newest_backup_age_seconds", ())]
    assert 0 <= age < 60


def test_postgres_pool_listener_and_generation(pg_url, make_app):
    app = make_app(pg_url)
    client = app.test_client()
    store = app_state(app).service.store_sources()[0].store
    with store.write("team") as tx:
        tx.put(decode_registry(registry_payload("team", {"a": {}})))
    client.get("/api/chat/profiles?registry=team")
    got = samples(client)
    label = app_state(app).service.store_sources()[0].label
    assert "@" in label and ":" in label  # the DSN as shown (no password)
    with psycopg.connect(pg_url) as conn:
        generation = conn.execute("SELECT generation FROM profile_registries_generation").fetchone()[0]
    # The database's generation, the same number on every instance that is current.
    assert generation > 0
    assert got[("profile_registry_loaded_generation", (("source", label),))] == generation
    assert got[("profile_registry_postgres_listener_connected", (("source", label),))] == 1
    assert got[("profile_registry_postgres_pool_connections", (("source", label), ("state", "max")))] == 10
    assert ("profile_registry_postgres_notifications_total", (("source", label),)) in got
    assert got[("profile_registry_database_up", (("source", label),))] == 1


def test_newest_backup_age_of_a_postgresql_source(pg_url, make_app, tmp_path):
    # Without BACKUP_DIR a PostgreSQL source keeps no snapshots here: no figure, and the scrape still answers.
    assert not any(name == "profile_registry_newest_backup_age_seconds" for name, _ in samples(
        make_app(pg_url).test_client()))
    app = make_app(pg_url, BACKUP_DIR=str(tmp_path / "snaps"))
    client = app.test_client()
    backups.create_backup(app_state(app).service.backup_source().store, tmp_path / "snaps")
    age = samples(client)[("profile_registry_newest_backup_age_seconds", ())]
    assert 0 <= age < 60
