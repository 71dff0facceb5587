"""Read API on PostgreSQL: the same routes as bench/read_api.py, PostgreSQL against SQLite and the bare floor.

Generates the read benchmark's registry database (10 registries x 100 profiles), copies it into a fresh PostgreSQL
database with `profile-registry copy`, and starts three servers as child processes: `serve` on the SQLite file,
`serve` on PostgreSQL, and the bare waitress+Flask app returning the same bytes from memory. They are loaded alone,
in alternating rounds, so the ratios ours/bare of SQLite and of PostgreSQL come from the same run. The load
generator is bench/read_api.py's: wrk (16 keep-alive connections, one thread) when it is installed, which leaves the
cores to the servers, else the Python client (`--driver python`). Reads on PostgreSQL are served from the loaded
rows (no query per request), so the target is the SQLite ratio.

Then two instances against one: a second `serve` on the same PostgreSQL database, both loaded at once (half the
clients each), against the one instance loaded by all the clients; aggregate requests/s. On a machine with few
cores the instances share them, so this shows the cost of a second instance as much as its gain.

    python bench/postgres_read.py                     # PostgreSQL from PROFILE_REGISTRY_TEST_POSTGRES (or local)
    python bench/postgres_read.py --seconds 12 --rounds 4 --driver wrk
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_api import (
    BARE_APP,
    ROOT,
    ROUTES,
    child_server,
    default_driver,
    fetch,
    load,
    make_database,
    merge,
    merge_wrk,
    wrk_load,
)

ADMIN_DSN = os.environ.get("PROFILE_REGISTRY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE = "profile_registry_bench"


def fresh_database() -> str:
    """An empty database for this run (dropped and created again); its postgresql:// URL."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    p = conninfo.conninfo_to_dict(ADMIN_DSN)
    auth = str(p.get("user", "")) + (f":{p['password']}" if p.get("password") else "")
    return f"postgresql://{auth + '@' if auth else ''}{p.get('host', 'localhost')}:{p.get('port', 5432)}/{DATABASE}"


def drop_database() -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def serve_argv(source: str, threads: int) -> list[str]:
    return [sys.executable, "-m", "registry", "serve", "--profile-registries", source, "--port", "0",
            "--threads", str(threads)]


def parallel_load(ports: list[int], path: str, clients: int, seconds: float, warmup: float, driver: str) -> Any:
    """`clients` split evenly over the servers, all loaded at once.

    Python client: every latency. wrk: one wrk per server, their requests added up over the longest run, their
    percentiles averaged (the servers serve the same bytes from the same database).
    """
    results: list[Any] = [None for _ in ports]

    def one(i: int) -> None:
        measure = wrk_load if driver == "wrk" else load
        results[i] = measure(ports[i], path, clients // len(ports), seconds, warmup)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(ports))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if driver == "wrk":
        return {"requests": sum(r["requests"] for r in results), "seconds": max(r["seconds"] for r in results),
                "p50": sum(r["p50"] for r in results) / len(results), "p99": max(r["p99"] for r in results)}
    return [x for chunk in results for x in chunk]


def run(
    seconds: float = 6.0, clients: int = 16, threads: int = 8, warmup: float = 0.5, rounds: int = 3,
    driver: str | None = None,
) -> dict[str, Any]:
    driver = driver or default_driver()
    if driver == "wrk" and shutil.which("wrk") is None:
        raise RuntimeError("--driver wrk: wrk is not installed (Debian: apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-postgres-read-"))
    url = fresh_database()
    try:
        db_path = workdir / "profiles.db"
        make_database(db_path)
        env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        subprocess.run([sys.executable, "-m", "registry", "copy", str(db_path), url], check=True, cwd=workdir,
                       env=env, stdout=subprocess.DEVNULL)
        slice_seconds = seconds / rounds
        with child_server(serve_argv(str(db_path), threads), workdir) as (sqlite_port, _), \
                child_server(serve_argv(url, threads), workdir) as (pg_port, _), \
                child_server(serve_argv(url, threads), workdir) as (pg2_port, _):
            bodies = {name: fetch(sqlite_port, path).decode() for name, path in ROUTES.items()}
            for name, path in ROUTES.items():
                for port in (pg_port, pg2_port):
                    if fetch(port, path).decode() != bodies[name]:
                        raise RuntimeError(f"PostgreSQL serves other bytes than SQLite on {path}")
            (workdir / "bodies.json").write_text(json.dumps(bodies))
            (workdir / "bare.py").write_text(BARE_APP)
            with child_server([sys.executable, str(workdir / "bare.py"), str(workdir / "bodies.json"), str(threads)],
                              workdir) as (bare_port, _):
                servers = {"sqlite": [sqlite_port], "postgresql": [pg_port], "bare": [bare_port],
                           "postgresql x2": [pg_port, pg2_port]}
                samples: dict[tuple[str, str], list[Any]] = {(s, r): [] for s in servers for r in ROUTES}
                for _ in range(rounds):
                    for name, path in ROUTES.items():
                        for server, ports in servers.items():
                            measured = parallel_load(ports, path, clients, slice_seconds, warmup, driver)
                            samples[(server, name)].append(measured)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        drop_database()
    merged = merge_wrk if driver == "wrk" else (lambda chunks: merge(chunks, seconds))
    figures = {key: merged(chunks) for key, chunks in samples.items()}
    result: dict[str, Any] = {
        name: {server: figures[(server, name)] for server in ("sqlite", "postgresql", "bare", "postgresql x2")}
        for name in ROUTES
    }
    result["driver"] = driver
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measurement time per route and server")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive clients")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads of every server")
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices per server and route")
    parser.add_argument("--driver", choices=("wrk", "python"), default=default_driver(),
                        help="load generator (default: wrk when installed)")
    args = parser.parse_args(argv)
    figures = run(seconds=args.seconds, clients=args.clients, threads=args.threads, rounds=args.rounds,
                  driver=args.driver)
    print(f"read API on PostgreSQL, {args.clients} clients ({args.driver}), waitress threads={args.threads}, "
          f"{args.seconds:g} s per server and route, 10 registries x 100 profiles")
    print(f"{'route':7} {'server':14} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for route in ROUTES:
        servers = figures[route]
        for server, f in servers.items():
            print(f"{route:7} {server:14} {f['rps']:8.0f} {f['p50_ms']:7.2f} {f['p99_ms']:7.2f}")
        bare = servers["bare"]["rps"]
        print(f"{route:7} ratio ours/bare: SQLite {servers['sqlite']['rps'] / bare:.2f}, PostgreSQL "
              f"{servers['postgresql']['rps'] / bare:.2f}; two PostgreSQL instances / one = "
              f"{servers['postgresql x2']['rps'] / servers['postgresql']['rps']:.2f}")
    print(f"reproduce: python bench/postgres_read.py --seconds {args.seconds:g} --clients {args.clients} "
          f"--threads {args.threads} --rounds {args.rounds} --driver {args.driver}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
