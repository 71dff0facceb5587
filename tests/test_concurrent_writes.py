"""Optimistic concurrency through the real HTTP server: 8 clients x 200 updates of one profile, retrying on 409.

The 8 client threads run in 2 client processes (4 threads each), so that client-side JSON work does not compete
with the server for this process's GIL; a reader thread here checks that every read is one whole state.
"""

from __future__ import annotations

import http.client
import itertools
import json
import multiprocessing
import random
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from conftest import registry_payload, write_row

from registry.web.auth import AdminToken

TOKEN = "concurrency-token"
PROCESSES = 2
THREADS_PER_PROCESS = 4
THREADS = PROCESSES * THREADS_PER_PROCESS
UPDATES = 200
MARKERS = "test.markers@v1"
PATH = "/api/chat/profiles/target?registry=default"


class Client:
    """One keep-alive HTTP connection (stdlib), as a real client would hold."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

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

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request_once(url: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One request on a connection of its own, closed after the answer."""
    with Client(url) as client:
        return client.request(method, path, body)


def write_markers(url: str, client_id: int, updates: int, out: dict[str, Any], lock: threading.Lock) -> None:
    """One client: `updates` times read the profile, append its marker, PATCH with expected_version; retry on 409."""
    with Client(url) as client:
        for i in range(updates):
            marker = f"t{client_id}-{i}"
            for attempt in itertools.count():
                status, doc = client.request("GET", PATH)
                if status != 200:
                    with lock:
                        out["problems"].append(f"GET {status} {doc}")
                    return
                version = doc["metadata"].get("version", 0)
                markers = doc["extensions"][MARKERS] + [marker]
                status, body = client.request(
                    "PATCH", PATH, {"expected_version": version, "extensions": {MARKERS: markers}}
                )
                with lock:
                    out["statuses"][status] = out["statuses"].get(status, 0) + 1
                if status == 200:
                    with lock:
                        out["acknowledged"].append(marker)
                        out["versions"].append(body["metadata"]["version"])
                    break
                if status != 409:
                    with lock:
                        out["problems"].append(f"PATCH {status} {body}")
                    return
                if body["expected_version"] != version or body["actual_version"] == version:
                    with lock:
                        out["problems"].append(f"409 that is not a conflict: sent {version}, got {body}")
                    return
                # What a well-behaved optimistic client does: back off a little, with jitter, then re-read.
                time.sleep(random.uniform(0, min(0.2, 0.01 * 2**attempt)))


def client_process(url: str, first_id: int, threads: int, updates: int) -> dict[str, Any]:
    """A client process running `threads` writers; returns what they saw."""
    out: dict[str, Any] = {"acknowledged": [], "versions": [], "statuses": {}, "problems": []}
    lock = threading.Lock()
    workers = [
        threading.Thread(target=write_markers, args=(url, first_id + n, updates, out, lock)) for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return out


def test_concurrent_updates_lose_nothing(db_path, make_app, live_server):
    write_row(db_path, "default", registry_payload("default", {"target": {"extensions": {MARKERS: []}}}))
    app = make_app(db_path, WRITABLE=True, ADMIN_TOKENS=[AdminToken("writer", TOKEN)])
    server = live_server(app)

    mixed: list[str] = []
    samples: list[int] = []
    writers_done = threading.Event()

    def reader() -> None:
        # Every read must be one whole registry state: the version and the marker count move together.
        with Client(server.url) as client:
            while not writers_done.is_set():
                status, doc = client.request("GET", PATH)
                if status != 200:
                    mixed.append(f"GET {status}")
                    return
                if doc["metadata"].get("version", 0) != len(doc["extensions"][MARKERS]):
                    version, count = doc["metadata"].get("version"), len(doc["extensions"][MARKERS])
                    mixed.append(f"version {version} with {count} markers")
                    return
                samples.append(doc["metadata"].get("version", 0))
                writers_done.wait(0.005)  # sample steadily without starving the writers

    began = time.monotonic()
    watcher = threading.Thread(target=reader)
    watcher.start()
    # spawn (not fork): this process runs server threads; spawn is also what Windows does.
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(client_process, server.url, p * THREADS_PER_PROCESS, THREADS_PER_PROCESS, UPDATES)
            for p in range(PROCESSES)
        ]
        results = [future.result(timeout=600) for future in futures]
    writers_done.set()
    watcher.join(timeout=30)
    elapsed = time.monotonic() - began

    problems = [p for r in results for p in r["problems"]]
    acknowledged = [m for r in results for m in r["acknowledged"]]
    versions = [v for r in results for v in r["versions"]]
    statuses: dict[int, int] = {}
    for r in results:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count

    assert not problems, problems[:5]
    assert not mixed, mixed[:5]
    assert len(set(samples)) > 10, "the reader should have seen the profile at many versions"
    assert not any(status >= 500 for status in statuses), statuses
    assert set(statuses) <= {200, 409}, statuses
    assert len(acknowledged) == statuses[200] == THREADS * UPDATES
    # Every acknowledged write produced its own version: no two writes were both accepted on the same base.
    assert sorted(versions) == list(range(1, THREADS * UPDATES + 1))
    status, final = request_once(server.url, "GET", PATH)
    assert status == 200
    assert final["metadata"]["version"] == THREADS * UPDATES
    assert sorted(final["extensions"][MARKERS]) == sorted(acknowledged), "an acknowledged write was lost"
    assert len(set(final["extensions"][MARKERS])) == THREADS * UPDATES
    print(f"\n{statuses[200]} writes, {statuses.get(409, 0)} conflicts, {len(samples)} reads in {elapsed:.1f}s")
