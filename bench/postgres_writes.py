"""Admin-API writes on PostgreSQL against raw psycopg upserts of the same row, in one run.

bench/writes.py's registry (a `target` profile and one profile per thread, each carrying --payload-bytes) is copied
into a fresh PostgreSQL database; the service runs on it in its own process (4 waitress threads). Measured:
- PATCH: `PATCH /api/chat/profiles/target` with `expected_version`, one keep-alive client: writes/s, p50, p99;
- concurrent PATCH: --threads clients, each on its own profile of the same registry (one row: they serialise);
- raw: this process upserts the same row text with psycopg, one transaction per upsert (autocommit off, COMMIT each),
  the floor any PostgreSQL write of that row pays (the WAL flush at COMMIT).
Reported: API writes/s over raw upserts/s.

    python bench/postgres_writes.py --requests 300 --payload-bytes 2000 --threads 4
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from postgres_read import drop_database, fresh_database
from writes import ROOT, SERVER_SCRIPT, TOKEN, Client, concurrent_patches, seed, sequential_patches, summary

UPSERT = (
    "INSERT INTO profile_registries (slug, payload_json, updated_at_ms) VALUES ('raw', %s, %s) "
    "ON CONFLICT (slug) DO UPDATE SET payload_json = excluded.payload_json, updated_at_ms = excluded.updated_at_ms"
)


def raw_upserts(url: str, payload: str, count: int) -> dict[str, float]:
    latencies = []
    with psycopg.connect(url) as conn:
        began = time.perf_counter()
        for i in range(count):
            start = time.perf_counter()
            conn.execute(UPSERT, (payload[:-8] + f"{i:08d}", i))
            conn.commit()
            latencies.append(time.perf_counter() - start)
        elapsed = time.perf_counter() - began
        conn.execute("DELETE FROM profile_registries WHERE slug = 'raw'")
    return summary(latencies, elapsed)


def run(requests: int = 300, payload_bytes: int = 2000, threads: int = 4) -> dict[str, Any]:
    url = fresh_database()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "bench.db"
            seed(db_path, threads, payload_bytes)
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            subprocess.run([sys.executable, "-m", "registry", "copy", str(db_path), url], check=True, env=env,
                           stdout=subprocess.DEVNULL)
        server = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, url, TOKEN], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env, text=True)
        try:
            port = int(server.stdout.readline())  # type: ignore[union-attr]
            client = Client(port)
            path = "/api/chat/profiles/target?registry=default"
            status, doc = client.call("GET", path)
            assert status == 200, (status, doc)
            version = doc["metadata"]["version"]
            patch = sequential_patches(client, path, version, requests, payload_bytes)

            concurrent = concurrent_patches(port, threads, requests, payload_bytes)
        finally:
            server.terminate()
            server.wait(timeout=10)
        with psycopg.connect(url) as conn:
            payload = conn.execute("SELECT payload_json FROM profile_registries WHERE slug = 'default'").fetchone()[0]
        raw = raw_upserts(url, payload, requests)
    finally:
        drop_database()
    return {"row_bytes": len(payload.encode()), "patch": patch, "patch_concurrent": concurrent, "raw_upsert": raw}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--payload-bytes", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    f = run(args.requests, args.payload_bytes, args.threads)
    print(f"writes on PostgreSQL, row of {f['row_bytes']} bytes, {args.requests} writes each")
    for name in ("patch", "patch_concurrent", "raw_upsert"):
        s = f[name]
        print(f"{name:17} {s['per_s']:8.1f}/s  p50 {s['p50_ms']:7.2f} ms  p99 {s['p99_ms']:7.2f} ms")
    print(f"ratio API PATCH / raw upsert = {f['patch']['per_s'] / f['raw_upsert']['per_s']:.2f}; "
          f"concurrent / raw = {f['patch_concurrent']['per_s'] / f['raw_upsert']['per_s']:.2f}")
    print(f"reproduce: python bench/postgres_writes.py --requests {args.requests} --payload-bytes "
          f"{args.payload_bytes} --threads {args.threads}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
