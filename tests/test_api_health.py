"""GET /api/health: status, database settings, registry count, quarantine list and catalog sizes."""

from __future__ import annotations

from pathlib import Path

from conftest import write_row
from registry_data import write_registries

from registry import create_app
from registry.domain.catalog import default_catalog
from registry.service.registry_service import RegistryService


def test_health_ok_reports_settings_and_sizes(tmp_path: Path, make_app):
    path = write_registries(tmp_path / "p.db")
    response = make_app(path).test_client().get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == str(path)
    assert (body["journal_mode"], body["busy_timeout_ms"]) == ("wal", 5000)
    assert body["registries"] == 2
    assert body["default_registry"] == "default"
    assert body["quarantined"] == []
    assert body["catalogs"] == {"middlewares": 1, "extensions": 2}
    assert body["databases"][0]["read_only"] is False


def test_health_reports_dsn_settings(tmp_path: Path, make_app):
    path = write_registries(tmp_path / "p.db")
    body = make_app(f"sqlite-dsn:file:{path}?_busy_timeout=2500&_journal_mode=WAL").test_client().get(
        "/api/health").get_json()
    assert (body["journal_mode"], body["busy_timeout_ms"]) == ("wal", 2500)


def test_health_degraded_with_empty_catalogs(tmp_path: Path):
    path = write_registries(tmp_path / "p.db")
    service = RegistryService.from_settings([str(path)], str(tmp_path / "unused.db"), None)
    service.catalog = default_catalog((), {})
    try:
        response = create_app({}, service=service).test_client().get("/api/health")
        body = response.get_json()
        assert response.status_code == 200
        assert body["status"] == "degraded"
        assert body["catalogs"] == {"middlewares": 0, "extensions": 0}
        assert "middleware catalog is empty" in body["problems"][0]
    finally:
        service.chain.close()


def test_health_503_when_no_registry_can_be_read(tmp_path: Path, make_app):
    path = tmp_path / "bad.db"
    write_row(path, "default", '{"slug":')
    response = make_app(path).test_client().get("/api/health")
    assert response.status_code == 503
    assert response.get_json()["status"] == "degraded"


def test_health_405_and_404_are_json(tmp_path: Path, make_app):
    client = make_app(write_registries(tmp_path / "p.db")).test_client()
    response = client.post("/api/health")
    assert response.status_code == 405
    assert response.get_json()["code"] == 405
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and response.get_json()["code"] == 404
