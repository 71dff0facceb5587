"""50 threads read over real HTTP while another process rewrites rows: no error, no 5xx, changes are seen."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from pathlib import Path

from conftest import registry_payload, write_row

WRITES = 150
WRITER = """
import json, sqlite3, sys
path, writes = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(path, timeout=5, isolation_level=None)
conn.execute("PRAGMA busy_timeout=5000")
for i in range(writes):
    profiles = {f"p{j}": {"slug": f"p{j}", "metadata": {"version": i + 1}} for j in range(1 + i % 5)}
    payload = {"slug": "default", "default_profile_slug": "p0", "profiles": profiles, "metadata": {"version": i + 1}}
    other = {"slug": f"w{i % 4}", "metadata": {"version": i + 1}}
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO profile_registries VALUES ('default', ?, ?) ON CONFLICT(slug) DO UPDATE SET "
                 "payload_json=excluded.payload_json, updated_at_ms=excluded.updated_at_ms", (json.dumps(payload), i))
    conn.execute("INSERT OR REPLACE INTO profile_registries VALUES (?, ?, ?)", (other["slug"], json.dumps(other), i))
    conn.execute("COMMIT")
print("done")
"""


def test_fifty_readers_and_a_writer_process(tmp_path: Path, make_app, live_server):
    path = tmp_path / "p.db"
    write_row(path, "default", registry_payload("default", {"p0": {}}))
    server = live_server(make_app(path), threads=8)
    port = int(server.url.rsplit(":", 1)[1])
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(WRITES)], stdout=subprocess.PIPE, text=True)
    failures: list[str] = []
    versions_seen: set[int] = set()
    counts = []
    lock = threading.Lock()

    def reader(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        done = 0
        try:
            while writer.poll() is None or done < 5:
                route = "/api/chat/profiles" if index % 2 else "/api/chat/profiles/p0?registry=default"
                conn.request("GET", route)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    with lock:
                        failures.append(f"{route}: {response.status} {body[:200]!r}")
                    return
                data = json.loads(body)
                if isinstance(data, dict):
                    with lock:
                        versions_seen.add(data["metadata"].get("version", 0))
                done += 1
        except Exception as exc:  # noqa: BLE001 - any transport error fails the test, reported below
            with lock:
                failures.append(f"reader {index}: {exc!r}")
        finally:
            conn.close()
            with lock:
                counts.append(done)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    out, _ = writer.communicate(timeout=120)
    for thread in threads:
        thread.join(timeout=120)
    assert writer.returncode == 0 and out.strip() == "done"
    assert failures == []
    assert len(counts) == 50 and min(counts) >= 5
    assert len(versions_seen) > 1  # the readers saw the writer's changes while it ran
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/chat/profiles/p0?registry=default")
        assert json.loads(conn.getresponse().read())["metadata"]["version"] == WRITES
    finally:
        conn.close()
