"""What /metrics costs every request: the same `serve` with the metrics and without them.

`serve` counts every answer in a WSGI wrapper around the app (registry/web/metrics.py: a clock, a counter and a
histogram observation per request). This starts two children on the same generated database (bench/read_api.py's
10 registries x 100 profiles): `serve` as shipped, and `serve` with `metrics.install` replaced by a no-op (no
wrapper, no /metrics route). They are loaded alone, in alternating rounds, on the detail route (small responses, so
a fixed per-request cost shows most) and the list route. Prints requests/s, p50/p99 and CPU per request of each,
the ratio with/without, and the difference of CPU per request.

On a small shared machine that difference is within the noise of two HTTP runs, so the wrapper is also timed
directly, in this process: one cached detail request through the app with and without the wrapper, best of
5 x 20,000 calls; against the CPU a detail request costs without metrics.

    python bench/metrics_cost.py                     # wrk when installed, else the Python client
    python bench/metrics_cost.py --seconds 12 --rounds 4 --driver wrk
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from registry.web.app_state import app_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_api import (
    ROUTES,
    child_server,
    cpu_seconds,
    default_driver,
    fetch,
    load,
    make_database,
    merge,
    merge_wrk,
    wrk_load,
)

# `serve` exactly as shipped, except that the metrics are never installed.
WITHOUT_METRICS = """
import sys
from registry.web import metrics
metrics.install = lambda app, service: None
from registry.cli import main
sys.exit(main(sys.argv[1:]))
"""


def wrapper_cost(db_path: Path, calls: int = 20_000, repeats: int = 5) -> float:
    """Microseconds the metrics wrapper adds to one request, timed in this process (best of `repeats`).

    One cached detail request (answered before Flask, registry/api/cached_reads.py, so little else is in the way)
    is called through the app's WSGI callable with the metrics wrapper and through the callable it wraps; the
    difference is the wrapper's own cost: a clock, the start_response capture, a counter and a histogram.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from werkzeug.test import EnvironBuilder

    from registry import create_app

    app = create_app({"PROFILE_REGISTRIES": [str(db_path)]})
    path, _, query = ROUTES["detail"].partition("?")
    environ = EnvironBuilder(path=path, query_string=query).get_environ()

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        return None

    def best_us(wsgi: Any) -> float:
        for _ in range(2):
            b"".join(wsgi(dict(environ), start_response))  # fills the caches, so every timed call is a hit
        best = float("inf")
        for _ in range(repeats):
            began = time.perf_counter()
            for _ in range(calls):
                b"".join(wsgi(dict(environ), start_response))
            best = min(best, (time.perf_counter() - began) / calls)
        return best * 1e6

    try:
        counted = app.wsgi_app
        return best_us(counted) - best_us(counted.__wrapped__)
    finally:
        app_state(app).service.chain.close()


def run(seconds: float = 6.0, clients: int = 16, threads: int = 8, warmup: float = 0.5, rounds: int = 3,
        driver: str | None = None) -> dict[str, Any]:
    """Both servers on both routes; figures per route, the ratio with/without metrics and the wrapper's CPU cost."""
    driver = driver or default_driver()
    workdir = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    try:
        db_path = workdir / "profiles.db"
        make_database(db_path)
        wrapper_us = wrapper_cost(db_path)
        (workdir / "without_metrics.py").write_text(WITHOUT_METRICS)
        serve = ["serve", "--profile-registries", str(db_path), "--port", "0", "--threads", str(threads)]
        with child_server([sys.executable, "-m", "registry", *serve], workdir) as (on_port, on_pid), \
                child_server([sys.executable, str(workdir / "without_metrics.py"), *serve], workdir) as (off_port,
                                                                                                      off_pid):
            if b"profile_registry_http_requests_total" not in fetch(on_port, "/metrics"):
                raise RuntimeError("the server with metrics does not serve /metrics")
            try:
                fetch(off_port, "/metrics")
                raise RuntimeError("the server without metrics still serves /metrics")
            except RuntimeError as exc:
                if "404" not in str(exc):
                    raise
            servers = {"with": (on_port, on_pid), "without": (off_port, off_pid)}
            for path in ROUTES.values():
                if fetch(on_port, path) != fetch(off_port, path):
                    raise RuntimeError(f"the two servers answer {path} differently")
            samples: dict[tuple[str, str], list[Any]] = {(s, r): [] for s in servers for r in ROUTES}
            cpu: dict[tuple[str, str], float | None] = {key: 0.0 for key in samples}
            measure = wrk_load if driver == "wrk" else load
            for round_ in range(rounds):
                for route, path in ROUTES.items():
                    # Which server goes first alternates: the slice right after a switch must not favour one side.
                    order = list(servers.items())[:: -1 if round_ % 2 else 1]
                    for server, (port, pid) in order:
                        before = cpu_seconds(pid)
                        samples[(server, route)].append(measure(port, path, clients, seconds / rounds, warmup))
                        after = cpu_seconds(pid)
                        spent = cpu[(server, route)]
                        cpu[(server, route)] = (
                            None if before is None or after is None or spent is None else spent + after - before
                        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures = {key: (merge_wrk(runs) if driver == "wrk" else merge(runs, seconds)) for key, runs in samples.items()}
    for key, figure in figures.items():
        spent = cpu[key]
        figure["cpu_us_per_request"] = spent / figure["requests"] * 1e6 if spent is not None else float("nan")
    detail_cpu = figures[("without", "detail")]["cpu_us_per_request"]
    return {
        "options": {"seconds": seconds, "clients": clients, "threads": threads, "warmup": warmup, "rounds": rounds,
                    "driver": driver},
        "wrapper": {"us_per_request": wrapper_us, "detail_cpu_us_without": detail_cpu,
                    "share_of_detail_cpu": wrapper_us / detail_cpu},
        "routes": {
            route: {
                "path": ROUTES[route],
                "with": figures[("with", route)],
                "without": figures[("without", route)],
                "ratio": figures[("with", route)]["rps"] / figures[("without", route)]["rps"],
                "metrics_cpu_us_per_request": figures[("with", route)]["cpu_us_per_request"]
                - figures[("without", route)]["cpu_us_per_request"],
            }
            for route in ROUTES
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measurement time per route and server")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads of both servers")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before each measured slice")
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices per server and route")
    parser.add_argument("--driver", choices=("wrk", "python"), default=default_driver(),
                        help="load generator (default: wrk when installed)")
    parser.add_argument("--json", action="store_true", help="print every figure as JSON")
    args = parser.parse_args(argv)
    figures = run(args.seconds, args.clients, args.threads, args.warmup, args.rounds, args.driver)
    if args.json:
        print(json.dumps(figures, indent=2))
    print(f"metrics on every request, {args.clients} connections ({figures['options']['driver']}), "
          f"waitress threads={args.threads}, {args.seconds:g} s per server and route")
    print(f"{'route':<7} {'server':<16} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'cpu us/req':>10}")
    for route, r in figures["routes"].items():
        for side in ("with", "without"):
            f = r[side]
            print(f"{route:<7} {side + ' metrics':<16} {f['rps']:>7.0f} {f['p50_ms']:>7.2f} {f['p99_ms']:>7.2f} "
                  f"{f['cpu_us_per_request']:>10.0f}")
        print(f"{route:<7} ratio with/without metrics: {r['ratio']:.3f}; metrics cost "
              f"{r['metrics_cpu_us_per_request']:.0f} us of CPU per request")
    wrapper = figures["wrapper"]
    print(f"metrics wrapper timed in-process: {wrapper['us_per_request']:.1f} us per request, "
          f"{wrapper['share_of_detail_cpu']:.1%} of a detail request's CPU without metrics "
          f"({wrapper['detail_cpu_us_without']:.0f} us)")
    print(f"reproduce: python bench/metrics_cost.py --seconds {args.seconds:g} --clients {args.clients} "
          f"--threads {args.threads} --rounds {args.rounds} --driver {figures['options']['driver']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
