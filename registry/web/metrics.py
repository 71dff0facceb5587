"""GET /metrics: Prometheus text format, one collector registry per app (never the global one: tests build many apps).

Counted per request: requests and their latency by method, route (the URL rule, e.g. /api/chat/profiles/<slug>, so
the label set stays small whatever clients send) and status. Read at scrape time from the service: the loaded
generation and registries of each source, quarantined registries, whether each database is available, the age of
the newest backup snapshot, and for PostgreSQL the pool and the listener.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from registry.service.registry_service import RegistryService
from registry.storage import backups
from registry.storage.sources import PostgresSource

PREFIX = "profile_registry"
# Read routes answer in well under a millisecond, writes and chat runs take longer: buckets for both ends.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "(unmatched)"
# Where a WSGI layer that answers before Flask builds a request (registry/api/cached_reads.py) names the route.
FAST_ROUTE_KEY = "profile_registry.route"


class ServiceCollector(Collector):
    """What the service knows at scrape time, as gauges (nothing is stored between scrapes)."""

    def __init__(self, service: RegistryService, backup_dir: str | None) -> None:
        self.service = service
        self.backup_dir = backup_dir

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        view = self.service.chain.view()
        registries = GaugeMetricFamily(f"{PREFIX}_registries", "Healthy registries served", value=len(view.registries))
        quarantined = GaugeMetricFamily(
            f"{PREFIX}_quarantined_registries", "Registries whose row could not be decoded or validated",
            value=len(view.quarantined),
        )
        generation = GaugeMetricFamily(
            f"{PREFIX}_loaded_generation",
            "Generation of the rows each source serves (PostgreSQL: the database's change generation, equal on "
            "every instance that is current; SQLite and YAML: this process's reload counter)",
            labels=["source"],
        )
        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 while the database can take writes", labels=["source"])
        down_for = GaugeMetricFamily(
            f"{PREFIX}_database_unavailable_seconds", "How long the database has been unavailable (0: available)",
            labels=["source"],
        )
        pool = GaugeMetricFamily(f"{PREFIX}_postgres_pool_connections", "PostgreSQL pool connections",
                                 labels=["source", "state"])
        listener = GaugeMetricFamily(f"{PREFIX}_postgres_listener_connected",
                                     "1 while the LISTEN connection is up", labels=["source"])
        notifications = CounterMetricFamily(f"{PREFIX}_postgres_notifications", "NOTIFYs received from the table",
                                            labels=["source"])
        reconnects = CounterMetricFamily(f"{PREFIX}_postgres_listener_reconnects",
                                         "Times the LISTEN connection was made again", labels=["source"])
        now_ms = time.time() * 1000
        for source in self.service.chain.sources:
            snapshot = source.snapshot()
            if not isinstance(source, PostgresSource):
                generation.add_metric([source.label], snapshot.generation)
        for source in self.service.store_sources():
            health = source.store.health()
            up.add_metric([source.label], 0 if health.problem else 1)
            since = health.problem_since_ms
            down_for.add_metric([source.label], (now_ms - since) / 1000 if since else 0)
            if isinstance(source, PostgresSource):
                settings = health.settings
                generation.add_metric([source.label], settings["loaded_generation"] or 0)
                for state in ("size", "idle", "waiting"):
                    pool.add_metric([source.label, state], settings["pool"][state])
                pool.add_metric([source.label, "max"], settings["pool"]["max"])
                listener.add_metric([source.label], 1 if settings["listener_connected"] else 0)
                notifications.add_metric([source.label], settings["notifications"])
                reconnects.add_metric([source.label], settings["listener_reconnects"])
        yield from (registries, quarantined, generation, up, down_for, pool, listener, notifications, reconnects)
        age = self._newest_backup_age()
        if age is not None:
            yield GaugeMetricFamily(f"{PREFIX}_newest_backup_age_seconds",
                                    "Age of the newest snapshot in the backup folder", value=age)

    def _newest_backup_age(self) -> float | None:
        source = self.service.backup_source()
        if source is None:
            return None
        folder = Path(self.backup_dir) if self.backup_dir else None
        # verify=False: a scrape must not hash snapshot files; listing trusts the manifests.
        try:
            snapshots = backups.list_snapshots(source.store, folder, verify=False)
        except backups.NoBackupFolder:
            return None  # a PostgreSQL source without BACKUP_DIR keeps no snapshots here
        if not snapshots:
            return None
        return max(0.0, time.time() - snapshots[0].created_at.timestamp())


def install(app: Flask, service: RegistryService) -> CollectorRegistry:
    """Count every request and serve GET /metrics."""
    registry = CollectorRegistry(auto_describe=False)
    requests = Counter(f"{PREFIX}_http_requests", "HTTP requests answered", ["method", "route", "status"],
                       registry=registry)
    latency = Histogram(f"{PREFIX}_http_request_duration_seconds", "Time to answer, by route and status",
                        ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry)
    registry.register(ServiceCollector(service, app.config.get("BACKUP_DIR")))
    # The labelled children, made once per (method, route, status): labels() takes a lock and builds a key.
    children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    # Counted around Flask, in a plain WSGI wrapper rather than before/after_request hooks: every hook costs a
    # context-local lookup plus Flask's per-hook dispatch on the hottest path (about a tenth of a cached detail
    # request's Python calls, bench/read_api.py), and an answer Flask produced without running after_request
    # hooks (an unhandled error's 500) is counted too. Route and status are read when Flask calls start_response:
    # the request it built is still in the environ then ("werkzeug.request"; Flask clears it when it is done).
    flask_wsgi_app = app.wsgi_app

    def observe(key: tuple[str, str, int], started: float) -> None:
        pair = children.get(key)
        if pair is None:
            labels = (key[0], key[1], str(key[2]))
            pair = children.setdefault(key, (requests.labels(*labels), latency.labels(*labels)))
        pair[0].inc()
        pair[1].observe(time.perf_counter() - started)

    def counted(environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        key: tuple[str, str, int] | None = None

        def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
            nonlocal key
            req = environ.get("werkzeug.request")
            rule = getattr(req, "url_rule", None)
            method = req.method if req is not None else str(environ.get("REQUEST_METHOD", "")).upper()
            code = int(status[:3]) if status[:3].isdigit() else 500
            # An answer from the cached reads (registry/api/cached_reads.py) built no request: it names its route.
            route = rule.rule if rule is not None else environ.get(FAST_ROUTE_KEY, UNMATCHED)
            key = (method, route, code)
            return start_response(status, headers, exc_info)

        try:
            return flask_wsgi_app(environ, capture)
        finally:
            if key is not None:
                observe(key, started)

    counted.__wrapped__ = flask_wsgi_app  # type: ignore[attr-defined]  # what it wraps (bench/metrics_cost.py)
    app.wsgi_app = counted  # type: ignore[method-assign]

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return registry
