"""Optimistic concurrency through the real HTTP server: 8 clients x 200 updates of one profile, retrying on 409."""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
from urllib.parse import urlsplit

from conftest import registry_payload, write_row

from registry.auth import AdminToken

TOKEN = "concurrency-token"
THREADS = 8
UPDATES = 200
MARKERS = "test.markers@v1"
PATH = "/api/chat/profiles/target?registry=default"


class Client:
    """One keep-alive HTTP connection (stdlib), as a real client would hold."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        return response.status, (json.loads(text) if text.strip() else {})


def test_concurrent_updates_lose_nothing(db_path, make_app, live_server):
    write_row(db_path, "default", registry_payload("default", {"target": {"extensions": {MARKERS: []}}}))
    app = make_app(db_path, WRITABLE=True, ADMIN_TOKENS=[AdminToken("writer", TOKEN)])
    server = live_server(app)

    acknowledged: list[str] = []
    statuses: dict[int, int] = {}
    problems: list[str] = []
    mixed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS + 1)
    writers_done = threading.Event()

    def writer(n: int) -> None:
        client = Client(server.url)
        start.wait()
        for i in range(UPDATES):
            marker = f"t{n}-{i}"
            for attempt in itertools.count():
                status, doc = client.request("GET", PATH)
                if status != 200:
                    with lock:
                        problems.append(f"GET {status} {doc}")
                    return
                version = doc["metadata"].get("version", 0)
                markers = doc["extensions"][MARKERS] + [marker]
                status, body = client.request(
                    "PATCH", PATH, {"expected_version": version, "extensions": {MARKERS: markers}}
                )
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    with lock:
                        acknowledged.append(marker)
                    break
                if status != 409:
                    with lock:
                        problems.append(f"PATCH {status} {body}")
                    return
                if (body["expected_version"], body["actual_version"]) == (version, version):
                    with lock:
                        problems.append(f"409 with equal versions: {body}")
                    return
                # What a well-behaved optimistic client does: back off a little, with jitter, then re-read.
                time.sleep(random.uniform(0, min(0.02, 0.001 * 2**attempt)))

    def reader() -> None:
        # Every read must be one whole registry state: the version and the marker count move together.
        client = Client(server.url)
        start.wait()
        while not writers_done.is_set():
            status, doc = client.request("GET", PATH)
            if status != 200:
                mixed.append(f"GET {status}")
                return
            if doc["metadata"].get("version", 0) != len(doc["extensions"][MARKERS]):
                mixed.append(f"version {doc['metadata'].get('version')} with {len(doc['extensions'][MARKERS])} markers")
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    watcher = threading.Thread(target=reader)
    for thread in [*threads, watcher]:
        thread.start()
    began = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join(timeout=300)
    writers_done.set()
    watcher.join(timeout=30)
    elapsed = time.monotonic() - began

    assert not problems, problems[:5]
    assert not mixed, mixed[:5]
    assert not any(status >= 500 for status in statuses), statuses
    assert set(statuses) <= {200, 409}, statuses
    assert len(acknowledged) == THREADS * UPDATES
    status, final = Client(server.url).request("GET", PATH)
    assert status == 200
    assert final["metadata"]["version"] == statuses[200] == THREADS * UPDATES
    assert sorted(final["extensions"][MARKERS]) == sorted(acknowledged), "an acknowledged write was lost"
    assert len(set(final["extensions"][MARKERS])) == THREADS * UPDATES
    print(f"\n{statuses[200]} writes, {statuses.get(409, 0)} conflicts in {elapsed:.1f}s")
