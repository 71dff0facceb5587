"""Read API throughput: our service against a bare waitress+Flask app serving the same bytes from memory.

Generates a registry database (10 registries x 100 profiles), starts `python -m registry serve` on it, records the
bytes of the two measured routes, then starts a bare waitress+Flask app that returns exactly those bytes from
memory. Each server is its own child process (same waitress thread count) and is loaded alone, in rounds that
alternate between the two, so both get the same CPU share against the same client and a change in the machine's
load hits both alike. Prints requests/s, p50 and p99 latency per route and the ratio ours/bare.

The load generator is `wrk` (16 keep-alive connections, one thread) when it is installed: a C client takes little
of the CPU the servers need, so the ratio shows the servers' own cost. Without wrk (`--driver python`, or on a
machine without it) the client is 16 threads in this process, each with one keep-alive `http.client` connection;
on a small machine that client competes with the servers for CPU and pulls both figures toward each other.

    python bench/read_api.py                      # defaults: 6 s per server and route in 3 rounds, 16 connections
    python bench/read_api.py --seconds 12 --clients 16 --threads 8 --rounds 4 --driver wrk
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROUTES = {"list": "/api/chat/profiles", "detail": "/api/chat/profiles/p050?registry=r05"}
SERVING = re.compile(r"(?:serving|Serving) on http://[^:]+:(\d+)")
WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
WRK_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
WRK_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
WRK_FAILURES = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), "
                          r"timeout (\d+)")

BARE_APP = """
import sys, json, waitress
from flask import Flask, Response
bodies = json.load(open(sys.argv[1]))
app = Flask("bare")
list_body = bodies["list"].encode()
detail_body = bodies["detail"].encode()

@app.get("/api/chat/profiles")
def profiles():
    return Response(list_body, mimetype="application/json")

@app.get("/api/chat/profiles/<slug>")
def profile(slug):
    return Response(detail_body, mimetype="application/json")

server = waitress.create_server(app, host="127.0.0.1", port=0, threads=int(sys.argv[2]))
print(f"serving on http://127.0.0.1:{server.effective_port}", file=sys.stderr, flush=True)
server.run()
"""


def make_database(path: Path, registries: int = 10, profiles: int = 100) -> None:
    """A database in the reference's shape: every profile with labels, a runtime extension and model_info."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
        "updated_at_ms INTEGER NOT NULL DEFAULT 0)"
    )
    for r in range(registries):
        slug = f"r{r:02d}"
        body = {
            f"p{p:03d}": {
                "slug": f"p{p:03d}",
                "display_name": f"Profile {p} of {slug}",
                "description": "A generated profile for the read benchmark.",
                "stack": [{"profile_slug": "p000"}] if p else [],
                "inference_settings": {
                    "Chat": {"Engine": "gpt-x"},
                    "ModelInfo": {"id": "gpt-x", "context_window": 128000},
                },
                "metadata": {"version": p + 1},
                "extensions": {
                    "pinocchio.webchat_runtime@v1": {"system_prompt": f"You are profile {p}.", "tools": ["search"]}
                },
            }
            for p in range(profiles)
        }
        payload = {"slug": slug, "default_profile_slug": "p000", "profiles": body, "metadata": {"version": 1}}
        conn.execute("INSERT OR REPLACE INTO profile_registries VALUES (?, ?, ?)", (slug, json.dumps(payload), 0))
    conn.commit()
    conn.close()


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc is not available (Windows, macOS)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@contextmanager
def child_server(argv: list[str], cwd: Path) -> Iterator[tuple[int, int]]:
    """Start a server child process, yield (port, pid) once it listens, terminate it afterwards."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        port = None
        for line in process.stderr:
            match = SERVING.search(line)
            if match:
                port = int(match.group(1))
                break
        if port is None:
            raise RuntimeError(f"server did not start: {' '.join(argv)}")
        # Keep reading its log so the child never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()  # type: ignore[union-attr]
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fetch(port: int, path: str) -> bytes:
    """One GET; the body (status must be 200)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return body
    finally:
        conn.close()


def load(port: int, path: str, clients: int, seconds: float, warmup: float) -> list[float]:
    """`clients` threads with keep-alive connections GET `path` for `seconds` after `warmup`; the latencies (s)."""
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = latencies[index]
        try:
            while True:
                began = time.perf_counter()
                if began >= stop_at:
                    break
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                ended = time.perf_counter()
                if response.status != 200:
                    errors.append(f"status {response.status}")
                    return
                if began >= start_at:
                    mine.append(ended - began)
        except Exception as exc:  # noqa: BLE001 - reported as a failed run, never hidden
            errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests on {path}: {errors[:3]}")
    merged = [x for mine in latencies for x in mine]
    if not merged:
        raise RuntimeError(f"no request on {path} completed inside the measurement window")
    return merged


def wrk_duration(seconds: float) -> str:
    """wrk reads whole numbers of a unit only: milliseconds are not one, so whole seconds (at least 1)."""
    return f"{max(1, round(seconds))}s"


def wrk_load(port: int, path: str, clients: int, seconds: float, warmup: float) -> dict[str, float]:
    """wrk with `clients` keep-alive connections for `seconds` after a `warmup` run; requests, p50 and p99 (s).

    One wrk thread: 16 connections need no more, and a second thread would take CPU from the server.
    """
    url = f"http://127.0.0.1:{port}{path}"
    if warmup > 0:
        subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{wrk_duration(warmup)}", url], check=True, capture_output=True
        )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{wrk_duration(seconds)}", "--latency", url],
        check=True, capture_output=True, text=True,
    ).stdout
    for match in WRK_FAILURES.finditer(out):
        if any(int(n) for n in match.groups() if n is not None):
            raise RuntimeError(f"wrk saw failed requests on {path}: {match.group(0)}")
    total = WRK_TOTAL.search(out)
    percentiles = {int(p): float(v) * WRK_UNITS[u] for p, v, u in WRK_PERCENTILE.findall(out)}
    if total is None or set(percentiles) != {50, 99}:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return {"requests": int(total.group(1)), "seconds": float(total.group(2)) * WRK_UNITS[total.group(3)],
            "p50": percentiles[50], "p99": percentiles[99]}


def merge_wrk(runs: list[dict[str, float]]) -> dict[str, float]:
    """Figures over every round of one server on one route; wrk gives percentiles per run, so those are averaged."""
    requests = sum(int(r["requests"]) for r in runs)
    return {
        "requests": requests,
        "rps": requests / sum(r["seconds"] for r in runs),
        "p50_ms": sum(r["p50"] for r in runs) / len(runs) * 1000,
        "p99_ms": sum(r["p99"] for r in runs) / len(runs) * 1000,
    }


def merge(latencies: list[list[float]], seconds: float) -> dict[str, float]:
    """Figures over every round of one server on one route."""
    merged = sorted(x for chunk in latencies for x in chunk)
    return {
        "requests": len(merged),
        "rps": len(merged) / seconds,
        "p50_ms": merged[len(merged) // 2] * 1000,
        "p99_ms": merged[min(len(merged) - 1, int(len(merged) * 0.99))] * 1000,
    }


def run(
    seconds: float = 6.0, clients: int = 16, threads: int = 8, warmup: float = 0.5, rounds: int = 3,
    registries: int = 10, profiles: int = 100, driver: str | None = None,
) -> dict[str, Any]:
    """Measure both servers on both routes; figures per route and the ratio ours/bare of requests/s.

    Both servers stay up for the whole run and are loaded in alternating rounds (ours, bare, ours, ...), each
    alone, so a change in the machine's load during the run affects both sides alike. `driver` is "wrk" or
    "python"; None picks wrk when it is installed.
    """
    driver = driver or default_driver()
    if driver == "wrk" and shutil.which("wrk") is None:
        raise RuntimeError("--driver wrk: wrk is not installed (Debian: apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-read-api-"))
    try:
        db_path = workdir / "profiles.db"
        make_database(db_path, registries, profiles)
        serve = [sys.executable, "-m", "registry", "serve", "--profile-registries", str(db_path), "--port", "0",
                 "--threads", str(threads)]
        with child_server(serve, workdir) as (ours_port, ours_pid):
            bodies = {name: fetch(ours_port, path).decode() for name, path in ROUTES.items()}
            (workdir / "bodies.json").write_text(json.dumps(bodies))
            (workdir / "bare.py").write_text(BARE_APP)
            bare_argv = [sys.executable, str(workdir / "bare.py"), str(workdir / "bodies.json"), str(threads)]
            with child_server(bare_argv, workdir) as (bare_port, bare_pid):
                ports = {"ours": (ours_port, ours_pid), "bare": (bare_port, bare_pid)}
                for name, path in ROUTES.items():
                    if fetch(bare_port, path).decode() != bodies[name]:
                        raise RuntimeError(f"bare app does not serve the same bytes on {path}")
                samples: dict[tuple[str, str], list[Any]] = {(server, name): [] for server in ports for name in ROUTES}
                cpu: dict[tuple[str, str], float | None] = {key: 0.0 for key in samples}
                slice_seconds = seconds / rounds
                for _ in range(rounds):
                    for name, path in ROUTES.items():
                        for server, (port, pid) in ports.items():
                            before = cpu_seconds(pid)
                            measure = wrk_load if driver == "wrk" else load
                            samples[(server, name)].append(measure(port, path, clients, slice_seconds, warmup))
                            after = cpu_seconds(pid)
                            spent = cpu[(server, name)]
                            # CPU per request does not depend on what else the machine runs, unlike requests/s.
                            cpu[(server, name)] = (
                                None if before is None or after is None or spent is None else spent + after - before
                            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if driver == "wrk":
        figures = {key: merge_wrk(runs) for key, runs in samples.items()}
    else:
        figures = {key: merge(chunks, seconds) for key, chunks in samples.items()}
    for key, figure in figures.items():
        spent = cpu[key]
        # The warm-up requests are not counted in `requests`, so this slightly overstates both sides alike.
        figure["cpu_us_per_request"] = spent / figure["requests"] * 1e6 if spent is not None else float("nan")
    return {
        "options": {"seconds": seconds, "clients": clients, "threads": threads, "warmup": warmup, "rounds": rounds,
                    "registries": registries, "profiles": profiles, "driver": driver},
        "bytes": {name: len(body.encode()) for name, body in bodies.items()},
        "routes": {
            name: {"path": ROUTES[name], "ours": figures[("ours", name)], "bare": figures[("bare", name)],
                   "ratio": figures[("ours", name)]["rps"] / figures[("bare", name)]["rps"],
                   "cpu_ratio": figures[("bare", name)]["cpu_us_per_request"]
                   / figures[("ours", name)]["cpu_us_per_request"]}
            for name in ROUTES
        },
    }


def default_driver() -> str:
    """wrk when it is on PATH, else the Python client."""
    return "wrk" if shutil.which("wrk") else "python"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures and how to reproduce them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measurement time per route and server")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads of both servers")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before each measured slice")
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices per server and route")
    parser.add_argument("--driver", choices=("wrk", "python"), default=default_driver(),
                        help="load generator (default: wrk when installed)")
    args = parser.parse_args(argv)
    figures = run(seconds=args.seconds, clients=args.clients, threads=args.threads, warmup=args.warmup,
                  rounds=args.rounds, driver=args.driver)
    print(f"read API, load from {args.driver}, {args.clients} connections, waitress threads={args.threads}, "
          f"{args.seconds:g} s per run, "
          f"10 registries x 100 profiles (list body {figures['bytes']['list']} bytes)")
    print(f"{'route':8} {'server':5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server CPU us/req':>18}")
    for name, route in figures["routes"].items():
        for server in ("ours", "bare"):
            f = route[server]
            print(f"{name:8} {server:5} {f['rps']:9.0f} {f['p50_ms']:8.2f} {f['p99_ms']:8.2f} "
                  f"{f['cpu_us_per_request']:18.0f}")
        print(f"{name:8} ratio ours/bare = {route['ratio']:.2f} (target >= 0.90); "
              f"CPU-per-request ratio bare/ours = {route['cpu_ratio']:.2f}")
    print(f"reproduce: python bench/read_api.py --seconds {args.seconds:g} --clients {args.clients} "
          f"--threads {args.threads} --rounds {args.rounds} --driver {args.driver}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
