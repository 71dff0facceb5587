"""Two `serve` processes on one PostgreSQL database: each sees the other's writes, and writes from both lose nothing."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest
from conftest import registry_payload
from serve_process import ServeProcess
from test_concurrent_writes import MARKERS, PATH, TOKEN, Client, client_process, request_once

THREADS_PER_INSTANCE = 4
UPDATES = 25  # per writer: 8 writers x 25 = 200 acknowledged writes


@pytest.fixture
def two_instances(pg_url, tmp_path, monkeypatch) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    monkeypatch.setenv("PROFILE_REGISTRY_TOKEN", f"writer:{TOKEN}")
    args = ["--profile-registries", pg_url, "--writable"]
    first = ServeProcess(args, tmp_path)
    try:
        second = ServeProcess(args, tmp_path)
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def seen_within(url: str, path: str, predicate, timeout: float = 2.0) -> float:
    """Seconds until GET `path` on `url` satisfies `predicate`."""
    with Client(url) as client:
        began = time.monotonic()
        while True:
            status, body = client.request("GET", path)
            if status == 200 and predicate(body):
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                pytest.fail(f"{url}{path} did not show the change within {timeout} s: {status} {body}")
            time.sleep(0.002)


def test_a_write_through_one_instance_is_seen_by_the_other(two_instances):
    first, second = two_instances
    status, body = request_once(
        first.url, "PUT", "/api/registries/default",
        registry_payload("default", {"target": {"extensions": {MARKERS: []}}})
    )
    assert status == 201, body
    lag = seen_within(second.url, PATH, lambda doc: doc["extensions"][MARKERS] == [])
    status, body = request_once(second.url, "PATCH", PATH, {"expected_version": 0, "description": "from the second"})
    assert status == 200, body
    seen_within(first.url, PATH, lambda doc: doc.get("description") == "from the second")
    print(f"\nthe second instance showed the first one's write {lag * 1000:.1f} ms after it was acknowledged")


def test_instances_racing_on_one_version_one_wins_one_gets_409(two_instances):
    first, second = two_instances
    status, _ = request_once(
        first.url, "PUT", "/api/registries/default",
        registry_payload("default", {"target": {"extensions": {MARKERS: []}}})
    )
    assert status == 201
    for version in range(5):
        seen_within(second.url, PATH, lambda doc, v=version: doc["metadata"].get("version", 0) == v)
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def patch(url: str, text: str, v: int, barrier: threading.Barrier, statuses: list[int]) -> None:
            with Client(url) as client:
                barrier.wait()
                statuses.append(client.request("PATCH", PATH, {"expected_version": v, "description": text})[0])

        racers = [threading.Thread(target=patch, args=(url, url, version, barrier, statuses))
                  for url in (first.url, second.url)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)
        assert sorted(statuses) == [200, 409], statuses


def test_eight_writers_across_both_instances_lose_nothing(two_instances):
    first, second = two_instances
    status, _ = request_once(
        first.url, "PUT", "/api/registries/default",
        registry_payload("default", {"target": {"extensions": {MARKERS: []}}})
    )
    assert status == 201
    seen_within(second.url, PATH, lambda doc: doc["extensions"][MARKERS] == [])
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(client_process, instance.url, n * THREADS_PER_INSTANCE, THREADS_PER_INSTANCE, UPDATES)
            for n, instance in enumerate((first, second))
        ]
        results = [future.result(timeout=600) for future in futures]

    problems = [p for r in results for p in r["problems"]]
    acknowledged = [m for r in results for m in r["acknowledged"]]
    versions = [v for r in results for v in r["versions"]]
    statuses: dict[int, int] = {}
    for r in results:
        for code, count in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    total = 2 * THREADS_PER_INSTANCE * UPDATES
    assert not problems, problems[:5]
    assert set(statuses) <= {200, 409}, statuses
    assert len(acknowledged) == statuses[200] == total
    assert sorted(versions) == list(range(1, total + 1)), "two writes were accepted on the same version"
    for instance in (first, second):
        seen_within(instance.url, PATH, lambda doc: doc["metadata"]["version"] == total)
        _, final = request_once(instance.url, "GET", PATH)
        assert sorted(final["extensions"][MARKERS]) == sorted(acknowledged), "an acknowledged write was lost"
    print(f"\n{statuses[200]} writes, {statuses.get(409, 0)} conflicts across two instances")
