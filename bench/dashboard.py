"""Benchmark: server time of the dashboard overview against the profile list API on the same data, same run.

Builds a database of N registries, takes M real snapshots of it (the registry rows change between snapshots, so
sizes and newest updated_at_ms vary), serves it with waitress on 127.0.0.1 and requests `/` and
`/api/chat/profiles` alternately over one keep-alive connection each (stdlib http.client). Server time is measured
inside the server by a WSGI wrapper (from the call until the whole body is produced); client latency is reported
too. A cached list request is answered before Flask (registry/api/cached_reads.py), in a few microseconds, which
no page rendered through Flask can approach; so the list route is also requested through Flask (its view answers
from the same cached bytes), and that is the baseline. Target: overview median <= 3x the median of the list route
through Flask; the ratio to the fast path is printed beside it. The overview is cached per data state (see
registry/dashboard/cache.py), so the price of a change is measured separately: the overview right after a row
write (a full re-render) and right after a new snapshot (the listing re-read as well). The steady figures are
taken once the backup folder's last change is older than the cache's RECENT_SECONDS.

Reproduce: python bench/dashboard.py --registries 100 --snapshots 200 --rounds 200
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import waitress
from flask import Flask
from waitress import wasyncore

from registry import create_app
from registry.dashboard.cache import RECENT_SECONDS
from registry.storage import backups
from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import CREATE_TABLE, TABLE
from registry.web.app_state import app_state

TARGET_RATIO = 3.0


def registry_payload(slug: str, profiles: int, version: int) -> dict[str, Any]:
    """A registry with stacked profiles, model info and runtime extensions, close to the example registry."""
    body: dict[str, Any] = {"slug": slug, "display_name": f"Registry {slug}", "default_profile_slug": "p0"}
    items = {}
    for i in range(profiles):
        profile: dict[str, Any] = {
            "slug": f"p{i}",
            "display_name": f"Profile {i} of {slug}",
            "description": "A benchmark profile with settings, model info and a runtime extension.",
            "inference_settings": {
                "chat": {"api_type": "openai", "engine": "gpt-4o-mini", "temperature": round(0.1 * i, 1)},
                "model_info": {"id": "gpt-4o-mini", "context_window": 128000, "cost": {"input": 0.15, "output": 0.6}},
            },
            "metadata": {"version": version},
            "extensions": {
                "pinocchio.webchat_runtime@v1": {"system_prompt": f"You are assistant {i}.", "tools": ["search"]}
            },
        }
        if i:
            profile["stack"] = [{"profile_slug": "p0"}]
        items[f"p{i}"] = profile
    body["profiles"] = items
    body["metadata"] = {"version": version}
    return body


def build_data(folder: Path, registries: int, profiles: int, snapshots: int) -> tuple[Path, Path]:
    """The database and `snapshots` real backups of it, one registry rewritten between two backups."""
    db_path = folder / "profiles.db"
    backup_dir = folder / "backups"
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(CREATE_TABLE)
    base = 1_760_000_000_000
    with conn:
        for r in range(registries):
            slug = f"reg{r:03d}"
            conn.execute(
                f"INSERT INTO {TABLE} (slug, payload_json, updated_at_ms) VALUES (?, ?, ?)",
                (slug, json.dumps(registry_payload(slug, profiles, 1)), base + r),
            )
    rng = random.Random(7)
    for s in range(snapshots):
        slug = f"reg{rng.randrange(registries):03d}"
        # Growing profile counts make the size history move; the stamps move forward with each change.
        with conn:
            conn.execute(
                f"UPDATE {TABLE} SET payload_json=?, updated_at_ms=? WHERE slug=?",
                (json.dumps(registry_payload(slug, profiles + s % 7, s + 2)), base + registries + s * 60_000, slug),
            )
        backups.create_backup(target_from_path(db_path), backup_dir)
    conn.close()
    return db_path, backup_dir


# The list route requested through Flask: the path the benchmark asks for, answered by the route below it.
FLASK_LIST = "/via-flask/api/chat/profiles"


class Timed:
    """WSGI wrapper recording, per path, the seconds from the call until the body is fully produced.

    FLASK_LIST goes to `flask_app` (Flask's own WSGI callable, no fast path in front) as the list route.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], flask_app: Callable[..., Iterable[bytes]]) -> None:
        self.app, self.flask_app = app, flask_app
        self.times: dict[str, list[float]] = {}
        self.recording = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        requested = environ["PATH_INFO"]
        start = time.perf_counter()
        if requested == FLASK_LIST:
            environ["PATH_INFO"] = FLASK_LIST.removeprefix("/via-flask")
            result = self.flask_app(environ, start_response)
        else:
            result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        if self.recording:
            self.times.setdefault(requested, []).append(time.perf_counter() - start)
        return [body]


def fetch(conn: http.client.HTTPConnection, path: str) -> tuple[float, int, int]:
    """One GET on a keep-alive connection: (seconds, status, body bytes)."""
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    return time.perf_counter() - start, response.status, len(body)


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 3),
        "min_ms": round(ordered[0] * 1000, 3),
    }


def run(
    registries: int = 100,
    snapshots: int = 200,
    profiles: int = 5,
    rounds: int = 200,
    warmup: int = 20,
    cold: int = 10,
) -> dict[str, Any]:
    """Build the data, serve it, measure both routes alternately; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        started = time.perf_counter()
        db_path, backup_dir = build_data(Path(tmp), registries, profiles, snapshots)
        build_s = time.perf_counter() - started
        # Steady state is what an operator reloading the page sees: for RECENT_SECONDS after a change of the backup
        # folder the overview also reads the folder's names (registry/dashboard/cache.py); that cost is part of the
        # after-backup figure below, not of the steady one.
        time.sleep(max(0.0, RECENT_SECONDS - (time.time_ns() - backup_dir.stat().st_mtime_ns) / 1e9))
        app = create_app({"PROFILE_REGISTRIES": [str(db_path)], "BACKUP_DIR": str(backup_dir), "ADMIN_TOKENS": []})
        timed = Timed(app.wsgi_app, Flask.wsgi_app.__get__(app))  # the app's own, before any wrapper was put in front
        app.wsgi_app = timed  # type: ignore[method-assign]
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        port = server.effective_port  # type: ignore[union-attr]
        paths = {"overview": "/", "api": "/api/chat/profiles", "api_flask": FLASK_LIST}
        conns = {name: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for name in paths}
        client: dict[str, list[float]] = {name: [] for name in paths}
        sizes: dict[str, int] = {}
        try:
            for _ in range(warmup):
                for name, path in paths.items():
                    _, status, size = fetch(conns[name], path)
                    if status != 200:
                        raise RuntimeError(f"GET {path} answered {status}")
                    sizes[name] = size
            timed.recording = True
            for _ in range(rounds):
                for name, path in paths.items():
                    client[name].append(fetch(conns[name], path)[0])
            steady = {name: list(timed.times[path]) for name, path in paths.items()}
            # The price of a change: a registry row written behind the service's back, then the overview
            # (re-rendered, snapshot listing still cached); a new snapshot, then the overview (listing re-read).
            timed.times.clear()
            writer = sqlite3.connect(db_path)
            for i in range(cold):
                with writer:
                    writer.execute(
                        f"UPDATE {TABLE} SET updated_at_ms=updated_at_ms+1 WHERE slug=?", (f"reg{i % registries:03d}",)
                    )
                fetch(conns["overview"], "/")
            writer.close()
            after_write = list(timed.times.get("/", []))
            timed.times.clear()
            for _ in range(max(1, cold // 5)):
                backups.create_backup(target_from_path(db_path), backup_dir)
                fetch(conns["overview"], "/")
            after_backup = list(timed.times.get("/", []))
        finally:
            for conn in conns.values():
                conn.close()
            # Close every socket from the server's own loop thread, so its select() never sees a closed descriptor.
            try:
                server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))  # type: ignore[union-attr]
            except OSError:
                # EBADF: the trigger pipe is already closed (seen rarely, as in tests/conftest.py's LiveServer);
                # the loop can no longer be woken, so its sockets are closed from here.
                wasyncore.close_all(server._map)  # type: ignore[union-attr]
            thread.join(timeout=5)
            server.task_dispatcher.shutdown()  # type: ignore[union-attr]
            app_state(app).service.chain.close()
        server_times = {name: summary(steady[name]) for name in paths}
        server_times["overview_after_write"] = summary(after_write)
        server_times["overview_after_backup"] = summary(after_backup)
        client_times = {name: summary(client[name]) for name in paths}
        ratio = server_times["overview"]["median_ms"] / server_times["api_flask"]["median_ms"]
        client_ratio = client_times["overview"]["median_ms"] / client_times["api_flask"]["median_ms"]
        fast_ratio = server_times["overview"]["median_ms"] / server_times["api"]["median_ms"]
        return {
            "registries": registries,
            "profiles_per_registry": profiles,
            "snapshots": snapshots,
            "rounds": rounds,
            "build_s": round(build_s, 1),
            "body_bytes": sizes,
            "server": server_times,
            "client": client_times,
            "ratio_server_median": round(ratio, 2),
            "ratio_client_median": round(client_ratio, 2),
            "ratio_server_median_vs_fast_path": round(fast_ratio, 1),
            "target_ratio": TARGET_RATIO,
            "meets_target": ratio <= TARGET_RATIO,
        }


def main(argv: list[str] | None = None) -> int:
    """Command line: print the figures and how to reproduce them; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registries", type=int, default=100)
    parser.add_argument("--snapshots", type=int, default=200)
    parser.add_argument("--profiles", type=int, default=5, help="profiles per registry")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--cold", type=int, default=10, help="overview requests right after a row change")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args(argv)
    figures = run(args.registries, args.snapshots, args.profiles, args.rounds, args.warmup, args.cold)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        s, c = figures["server"], figures["client"]
        print(
            f"data: {figures['registries']} registries x {figures['profiles_per_registry']} profiles, "
            f"{figures['snapshots']} snapshots (built in {figures['build_s']} s)"
        )
        print(
            f"server time  overview median {s['overview']['median_ms']} ms (p90 {s['overview']['p90_ms']}); list route "
            f"through Flask {s['api_flask']['median_ms']} ms (p90 {s['api_flask']['p90_ms']}), answered before Flask "
            f"{s['api']['median_ms']} ms (p90 {s['api']['p90_ms']})"
        )
        print(
            f"after change overview median {s['overview_after_write']['median_ms']} ms after a row write "
            f"(re-render), {s['overview_after_backup']['median_ms']} ms after a new snapshot (listing re-read)"
        )
        print(
            f"client time  overview median {c['overview']['median_ms']} ms, list route through Flask "
            f"{c['api_flask']['median_ms']} ms, before Flask {c['api']['median_ms']} ms"
        )
        print(f"bodies       overview {figures['body_bytes']['overview']} B, list API {figures['body_bytes']['api']} B")
        verdict = "meets" if figures["meets_target"] else "MISSES"
        print(
            f"ratio        overview / list route through Flask = {figures['ratio_server_median']}x server, "
            f"{figures['ratio_client_median']}x client ({verdict} the <= {TARGET_RATIO}x target); "
            f"overview / list answered before Flask = {figures['ratio_server_median_vs_fast_path']}x server"
        )
        print(
            f"reproduce:   python bench/dashboard.py --registries {args.registries} --snapshots {args.snapshots} "
            f"--profiles {args.profiles} --rounds {args.rounds}"
        )
    return 0 if figures["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
