"""Benchmark: admin-API writes against raw BEGIN IMMEDIATE upserts of the same payload, and against API reads.

In one run, on one fresh database (WAL, synchronous as the service sets it):
- raw: this process upserts the same registry row (same payload size as the API writes) with `BEGIN IMMEDIATE`
  ... `COMMIT` on one connection, with and without the WAL checkpoint the service runs after each write;
- GET baseline: `GET /api/chat/profiles/target` through waitress (the service in its own process, 4 threads),
  one keep-alive stdlib client;
- PATCH: `PATCH /api/chat/profiles/target` with `expected_version` (the version returned by the previous write),
  same client: latency p50/p99 and writes/s;
- concurrent PATCH: --threads clients, each updating its own profile of the same registry (one row, so every write
  serialises on it) without conflicts, writes/s in total.
Reported ratios: API writes/s over raw upserts/s (with checkpoint, the like-for-like figure), PATCH p50 over GET p50.

Reproduce: python bench/writes.py --requests 300 --payload-bytes 2000 --threads 4
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.storage import sqlite_db as dbmod
from registry.storage.sqlite_store import TABLE, checkpoint

TOKEN = "bench-token"
MARKER_KEY = "bench.payload@v1"

SERVER_SCRIPT = """
import sys, waitress
from registry import create_app
from registry.web.auth import AdminToken
app = create_app({"PROFILE_REGISTRIES": [sys.argv[1]], "WRITABLE": True,
                  "ADMIN_TOKENS": [AdminToken("bench", sys.argv[2])]})
server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
print(server.effective_port, flush=True)
server.run()
"""


def seed(db_path: Path, profiles: int, payload_bytes: int) -> None:
    """Registry `default` with `target` and `p0..pN` profiles, each carrying `payload_bytes` in an extension."""
    body = {
        "slug": "default",
        "default_profile_slug": "target",
        "profiles": {
            name: {"slug": name, "metadata": {"version": 1}, "extensions": {MARKER_KEY: "x" * payload_bytes}}
            for name in ["target", *(f"p{i}" for i in range(profiles))]
        },
        "metadata": {"version": 1},
    }
    conn = dbmod.connect(dbmod.target_from_path(db_path))
    try:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
            "updated_at_ms INTEGER NOT NULL DEFAULT 0)"
        )
        conn.execute(f"INSERT INTO {TABLE} VALUES ('default', ?, 0)", (json.dumps(body),))
    finally:
        conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    return {
        "count": len(latencies),
        "per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        text = response.read()
        return response.status, (json.loads(text) if text.strip() else {})


def sequential_patches(client: Client, path: str, version: int, requests: int, payload_bytes: int) -> dict[str, float]:
    """`requests` PATCHes of one profile in a row, each with the `expected_version` the previous one returned."""
    latencies = []
    began = time.perf_counter()
    for i in range(requests):
        body = {"expected_version": version, "extensions": {MARKER_KEY: f"{i:08d}" + "y" * (payload_bytes - 8)}}
        start = time.perf_counter()
        status, doc = client.call("PATCH", path, body)
        latencies.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"PATCH answered {status}: {doc}")
        version = doc["metadata"]["version"]
    return summary(latencies, time.perf_counter() - began)


def concurrent_patches(port: int, threads: int, requests: int, payload_bytes: int) -> dict[str, float]:
    """`threads` clients, each PATCHing its own profile `p<n>` of the one registry row (so they serialise)."""
    per_thread = max(1, requests // threads)
    errors: list[str] = []
    all_latencies: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        own = Client(port)
        mine = []
        for i in range(per_thread):
            body = {"extensions": {MARKER_KEY: f"{i:08d}" + "z" * (payload_bytes - 8)}}
            start = time.perf_counter()
            status, doc = own.call("PATCH", f"/api/chat/profiles/p{n}?registry=default", body)
            mine.append(time.perf_counter() - start)
            if status != 200:
                errors.append(f"{status} {doc}")
                return
        with lock:
            all_latencies.extend(mine)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    began = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise RuntimeError(f"concurrent PATCH failed: {errors[:3]}")
    return summary(all_latencies, time.perf_counter() - began)


def raw_upserts(db_path: Path, payload: str, count: int, with_checkpoint: bool) -> dict[str, float]:
    """The floor: BEGIN IMMEDIATE upserts of the same row text, one connection, the service's PRAGMAs."""
    target = dbmod.target_from_path(db_path)
    conn = dbmod.connect(target)
    latencies = []
    try:
        began = time.perf_counter()
        for i in range(count):
            start = time.perf_counter()
            with dbmod.transaction(conn, target):
                conn.execute(
                    f"INSERT INTO {TABLE} (slug, payload_json, updated_at_ms) VALUES ('raw', ?, ?) "
                    "ON CONFLICT(slug) DO UPDATE SET payload_json=excluded.payload_json, "
                    "updated_at_ms=excluded.updated_at_ms",
                    (payload[:-8] + f"{i:08d}", i),
                )
            if with_checkpoint:
                checkpoint(conn)
            latencies.append(time.perf_counter() - start)
        elapsed = time.perf_counter() - began
        conn.execute(f"DELETE FROM {TABLE} WHERE slug = 'raw'")
    finally:
        conn.close()
    return summary(latencies, elapsed)


def run(
    requests: int = 300, payload_bytes: int = 2000, threads: int = 4, quick: bool = False, **_: Any
) -> dict[str, Any]:
    """Run every phase and return the figures (also used by bench/report.py)."""
    if quick:
        requests = min(requests, 100)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        seed(db_path, threads, payload_bytes)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, str(db_path), TOKEN],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        try:
            port = int(server.stdout.readline())  # type: ignore[union-attr]
            client = Client(port)
            path = "/api/chat/profiles/target?registry=default"
            status, doc = client.call("GET", path)
            assert status == 200, (status, doc)
            for _ in range(20):  # warm up both routes
                client.call("GET", path)
            version = doc["metadata"]["version"]

            latencies = []
            began = time.perf_counter()
            for _ in range(requests):
                start = time.perf_counter()
                client.call("GET", path)
                latencies.append(time.perf_counter() - start)
            get = summary(latencies, time.perf_counter() - began)

            patch = sequential_patches(client, path, version, requests, payload_bytes)

            concurrent = concurrent_patches(port, threads, requests, payload_bytes)
        finally:
            server.terminate()
            server.wait(timeout=10)
        conn = dbmod.connect(dbmod.target_from_path(db_path))
        try:
            payload = conn.execute(f"SELECT payload_json FROM {TABLE} WHERE slug = 'default'").fetchone()[0]
        finally:
            conn.close()
        raw = raw_upserts(db_path, payload, requests, with_checkpoint=False)
        raw_ck = raw_upserts(db_path, payload, requests, with_checkpoint=True)
    return {
        "requests": requests,
        "payload_bytes": payload_bytes,
        "row_bytes": len(payload.encode()),
        "threads": threads,
        "get": get,
        "patch": patch,
        "patch_concurrent": concurrent,
        "raw_upsert": raw,
        "raw_upsert_checkpoint": raw_ck,
        "ratio_api_vs_raw_checkpoint": round(patch["per_s"] / raw_ck["per_s"], 3),
        "ratio_api_vs_raw": round(patch["per_s"] / raw["per_s"], 3),
        "ratio_concurrent_vs_raw_checkpoint": round(concurrent["per_s"] / raw_ck["per_s"], 3),
        "ratio_patch_vs_get_p50": round(patch["p50_ms"] / get["p50_ms"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the figures and how to reproduce them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per phase (default 300)")
    parser.add_argument("--payload-bytes", type=int, default=2000, help="bytes of extension payload per profile")
    parser.add_argument("--threads", type=int, default=4, help="clients in the concurrent phase (default 4)")
    args = parser.parse_args(argv)
    figures = run(requests=args.requests, payload_bytes=args.payload_bytes, threads=args.threads)
    print(json.dumps(figures, indent=2))
    print(
        f"\nAPI PATCH {figures['patch']['per_s']}/s vs raw upsert+checkpoint "
        f"{figures['raw_upsert_checkpoint']['per_s']}/s"
        f" (ratio {figures['ratio_api_vs_raw_checkpoint']}), raw upsert alone {figures['raw_upsert']['per_s']}/s;"
        f" PATCH p50 {figures['patch']['p50_ms']} ms vs GET p50 {figures['get']['p50_ms']} ms"
        f" (x{figures['ratio_patch_vs_get_p50']})"
    )
    print(
        f"reproduce: python bench/writes.py --requests {args.requests} --payload-bytes {args.payload_bytes} "
        f"--threads {args.threads}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
