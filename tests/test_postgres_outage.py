"""PostgreSQL stopped and started under load (a private server on a spare port, tests/postgres_server.py).

Writers keep PATCHing (retrying on 409 and 503), readers keep GETting, through a real `serve` process. While the
server is down, reads must still answer 200 and health must say degraded with the reason; after it is back, writes
must succeed again within seconds, and every write that was acknowledged must be in the final registry.
"""

from __future__ import annotations

import threading
import time

from conftest import registry_payload
from serve_process import ServeProcess
from test_concurrent_writes import MARKERS, PATH, TOKEN, Client, request_once

WRITERS = 4
WRITES_EACH = 15
READERS = 2
OUTAGE_S = 2.0
RECOVERY_LIMIT_S = 5.0


def test_postgres_stopped_and_started_under_load(private_pg, tmp_path, monkeypatch):
    monkeypatch.setenv("PROFILE_REGISTRY_TOKEN", f"writer:{TOKEN}")
    serve = ServeProcess(["--profile-registries", private_pg.url, "--writable"], tmp_path)
    try:
        status, _ = request_once(
            serve.url, "PUT", "/api/registries/default",
            registry_payload("default", {"target": {"extensions": {MARKERS: []}}})
        )
        assert status == 201
        acknowledged: list[str] = []
        write_statuses: dict[int, int] = {}
        read_failures: list[str] = []
        reads = [0]
        first_write_after_restart: list[float] = []
        restarted_at: list[float] = []
        done = threading.Event()
        lock = threading.Lock()

        def writer(n: int) -> None:
            with Client(serve.url) as client:
                for i in range(WRITES_EACH):
                    marker = f"w{n}-{i}"
                    while True:
                        status, doc = client.request("GET", PATH)
                        assert status == 200, doc
                        body = {"expected_version": doc["metadata"].get("version", 0),
                                "extensions": {MARKERS: doc["extensions"][MARKERS] + [marker]}}
                        status, answer = client.request("PATCH", PATH, body)
                        with lock:
                            write_statuses[status] = write_statuses.get(status, 0) + 1
                            if status == 200:
                                acknowledged.append(marker)
                                if restarted_at and not first_write_after_restart:
                                    first_write_after_restart.append(time.monotonic())
                        if status == 200:
                            break
                        assert status in (409, 503), (status, answer)
                        time.sleep(0.05)
                    time.sleep(0.1)  # spread the writes over the outage

        def reader() -> None:
            with Client(serve.url) as client:
                while not done.is_set():
                    status, body = client.request("GET", PATH)
                    with lock:
                        reads[0] += 1
                        if status != 200:
                            read_failures.append(f"{status} {body}")
                    time.sleep(0.01)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        threads += [threading.Thread(target=reader) for _ in range(READERS)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        private_pg.stop("fast")
        stopped_at = time.monotonic()
        time.sleep(0.5)
        status, health = request_once(serve.url, "GET", "/api/health")
        reads_before = reads[0]
        time.sleep(OUTAGE_S - (time.monotonic() - stopped_at))
        reads_during = reads[0] - reads_before
        private_pg.start()
        restarted_at.append(time.monotonic())
        for thread in threads[:WRITERS]:
            thread.join(120)
        done.set()
        for thread in threads[WRITERS:]:
            thread.join(10)

        assert status == 200 and health["status"] == "degraded", health
        database = health["databases"][0]
        assert database["unavailable"] and database["unavailable_since"].endswith("Z"), database
        assert any("unavailable since" in p for p in health["problems"]), health["problems"]
        assert read_failures == [], read_failures[:5]
        assert reads_during > 10, "reads should have kept answering while PostgreSQL was down"
        assert write_statuses.get(503, 0) > 0, "no write was attempted during the outage"
        assert set(write_statuses) <= {200, 409, 503}, write_statuses
        assert first_write_after_restart, "no write succeeded after the restart"
        recovery = first_write_after_restart[0] - restarted_at[0]
        assert recovery < RECOVERY_LIMIT_S, f"writes came back {recovery:.1f} s after the restart"
        assert len(acknowledged) == WRITERS * WRITES_EACH
        _, final = request_once(serve.url, "GET", PATH)
        assert sorted(final["extensions"][MARKERS]) == sorted(acknowledged), "an acknowledged write was lost"
        _, health = request_once(serve.url, "GET", "/api/health")
        assert health["status"] == "ok", health
        print(f"\n{write_statuses} writes; {reads_during} reads answered while down; writes back {recovery:.2f} s "
              "after the restart")
    finally:
        serve.stop()
