"""Benchmark: our snapshot and the whole verified backup against a plain file copy + fsync, and API latency during it.

On a generated database of about --size-mb megabytes (default 200), in one run:
- floor: `shutil.copyfile` of the database file and an fsync (the physical floor of any backup);
- snapshot: our copy through SQLite's backup API into an owner-only file, switched to journal_mode=DELETE, fsynced;
- verified backup: `registry.storage.backups.create_backup` (snapshot, integrity_check, every payload decoded and
  validated, fsync, sha256, manifest, rename);
- p99 latency of `GET /api/chat/profiles` (waitress in its own process, one keep-alive stdlib client) at rest and
  while `profile-registry backup` runs in another process, as an operator would run it.
Each timing is the median of --repeats runs, page cache warm for all three. Targets: snapshot <= 3x floor,
verified <= 5x floor, p99 during backup <= 3x p99 at rest.

Reproduce: python bench/backup.py --size-mb 200
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from registry.cli.backup import PRIORITIES
from registry.storage import backups
from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import CREATE_TABLE, NEW_DATABASE_PAGE_SIZE, TABLE, copy_database

TARGETS = {"snapshot_ratio": 3.0, "verified_ratio": 5.0, "p99_ratio": 3.0}
PROFILES_PER_REGISTRY = 10
BULK_BYTES_PER_PROFILE = 200_000  # inside inference_settings: stored and parsed, but not in the list response

SERVER_SCRIPT = """
import sys, waitress
from registry import create_app
app = create_app({"PROFILE_REGISTRIES": [sys.argv[1]], "DEFAULT_DATABASE": sys.argv[1]})
server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
print(server.effective_port, flush=True)
server.run()
"""


def generate(db_path: Path, size_mb: int, seed: int = 7, page_size: int = NEW_DATABASE_PAGE_SIZE) -> int:
    """A WAL database of about `size_mb` MB: registries of profiles whose inference_settings carry bulk text.

    `page_size` defaults to the one `profile-registry` gives a database it creates; 4096 is SQLite's default and
    what a database created elsewhere (the Go reference) has.
    """
    rng = random.Random(seed)
    per_registry = PROFILES_PER_REGISTRY * BULK_BYTES_PER_PROFILE
    registries = max(1, size_mb * 1_000_000 // per_registry)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute(f"PRAGMA page_size={int(page_size)}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(CREATE_TABLE)
    conn.execute("BEGIN")
    for r in range(registries):
        slug = f"reg{r:04d}"
        profiles = {}
        for p in range(PROFILES_PER_REGISTRY):
            bulk = rng.randbytes(BULK_BYTES_PER_PROFILE // 2).hex()
            profiles[f"p{p}"] = {
                "slug": f"p{p}",
                "display_name": f"Profile {p} of {slug}",
                "inference_settings": {"Chat": {"Engine": "gpt-4o-mini"}, "notes": bulk},
                "metadata": {"version": 1},
                "extensions": {"pinocchio.webchat_runtime@v1": {"system_prompt": f"You are assistant {p}."}},
            }
        payload = {"slug": slug, "default_profile_slug": "p0", "profiles": profiles, "metadata": {"version": 1}}
        conn.execute(
            f"INSERT INTO {TABLE} (slug, payload_json, updated_at_ms) VALUES (?, ?, ?)",
            (slug, json.dumps(payload), 1_760_000_000_000 + r),
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return registries


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def time_floor(db_path: Path, folder: Path) -> float:
    """Plain file copy and fsync of the same file."""
    dest = folder / "plain-copy.db"
    start = time.perf_counter()
    shutil.copyfile(db_path, dest)
    fsync_path(dest)
    elapsed = time.perf_counter() - start
    dest.unlink()
    return elapsed


def time_snapshot(db_path: Path, folder: Path) -> float:
    """Our snapshot step alone: owner-only file, backup API copy, journal_mode=DELETE, fsync."""
    dest = folder / "snapshot-only.db"
    start = time.perf_counter()
    os.close(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    copy_database(target_from_path(db_path), dest)
    fsync_path(dest)
    elapsed = time.perf_counter() - start
    dest.unlink()
    return elapsed


def time_verified(db_path: Path, folder: Path) -> float:
    """The whole `profile-registry backup` work in-process (no retention)."""
    start = time.perf_counter()
    info = backups.create_backup(target_from_path(db_path), folder)
    elapsed = time.perf_counter() - start
    info.path.unlink()
    backups.manifest_path(info.path).unlink()
    return elapsed


class Client:
    """Sequential GETs over one keep-alive connection; records (start time, latency) until stopped."""

    def __init__(self, port: int, path: str = "/api/chat/profiles") -> None:
        self.port, self.path = port, path
        self.samples: list[tuple[float, float]] = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            end = time.perf_counter()
            if ok:
                self.samples.append((start, end - start))
            else:
                self.errors += 1
        conn.close()

    def window(self, start: float, end: float) -> list[float]:
        return [lat for t, lat in self.samples if start <= t and t + lat <= end]


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) >= 2 else float("nan")


def latency(
    db_path: Path, folder: Path, rest_seconds: float, backup_runs: int, priority: str = "low"
) -> dict[str, Any]:
    """p99 of the list route at rest and while `profile-registry backup --priority PRIORITY` processes run."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, str(db_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        client = Client(port)
        client.thread.start()
        while len(client.samples) < 20:  # warm-up: the list body is built once per database generation
            time.sleep(0.05)
        rest_start = time.perf_counter()
        time.sleep(rest_seconds)
        rest_end = time.perf_counter()
        windows = []
        for _ in range(backup_runs):
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "registry",
                    "backup",
                    "--db",
                    str(db_path),
                    "--backup-dir",
                    str(folder),
                    "--keep",
                    "1",
                    "--priority",
                    priority,
                ],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            windows.append((start, time.perf_counter()))
        client.stop.set()
        client.thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    at_rest = client.window(rest_start, rest_end)
    during = [lat for s, e in windows for lat in client.window(s, e)]
    return {
        "p99_rest_ms": p99(at_rest) * 1000,
        "p99_backup_ms": p99(during) * 1000,
        "median_rest_ms": statistics.median(at_rest) * 1000,
        "median_backup_ms": statistics.median(during) * 1000,
        "requests_rest": len(at_rest),
        "requests_backup": len(during),
        "failed_requests": client.errors,
        "backup_process_s": statistics.median(e - s for s, e in windows),
    }


def run(
    size_mb: int = 200,
    repeats: int = 3,
    rest_seconds: float = 5.0,
    backup_runs: int = 2,
    folder: str | None = None,
    priority: str = "low",
    page_size: int = NEW_DATABASE_PAGE_SIZE,
) -> dict[str, Any]:
    """Generate the database, time floor/snapshot/verified backup, measure latency; returns the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-backup-", dir=folder) as tmp:
        work = Path(tmp)
        db_path = work / "profiles.db"
        registries = generate(db_path, size_mb, page_size=page_size)
        # Flush the generated file and run each step once untimed: otherwise the kernel's write-back of 200 MB
        # of fresh pages lands inside whichever timing comes first and swings the ratios by 2x.
        fsync_path(db_path)
        time_floor(db_path, work)
        time_snapshot(db_path, work)
        size = db_path.stat().st_size
        out = work / "out"
        out.mkdir()
        floor, snap, verified = [], [], []
        for _ in range(repeats):  # interleaved, so drift in the machine affects all three alike
            floor.append(time_floor(db_path, out))
            snap.append(time_snapshot(db_path, out))
            verified.append(time_verified(db_path, out))
        figures: dict[str, Any] = {
            "size_mb": round(size / 1e6, 1),
            "registries": registries,
            "page_size": page_size,
            "floor_s": statistics.median(floor),
            "snapshot_s": statistics.median(snap),
            "verified_s": statistics.median(verified),
        }
        figures["snapshot_ratio"] = figures["snapshot_s"] / figures["floor_s"]
        figures["verified_ratio"] = figures["verified_s"] / figures["floor_s"]
        figures |= latency(db_path, out, rest_seconds, backup_runs, priority)
        figures["backup_priority"] = priority
        figures["p99_ratio"] = figures["p99_backup_ms"] / figures["p99_rest_ms"]
        figures["targets"] = TARGETS
        figures["met"] = {k: figures[k] <= v for k, v in TARGETS.items()}
        figures["reproduce"] = (
            f"python bench/backup.py --size-mb {size_mb} --repeats {repeats} --backup-priority {priority} "
            f"--page-size {page_size}"
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200, help="size of the generated database (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs, median reported (default 3)")
    parser.add_argument("--rest-seconds", type=float, default=5.0, help="latency sampling at rest (default 5)")
    parser.add_argument("--backup-runs", type=int, default=2, help="backup processes during sampling (default 2)")
    parser.add_argument("--dir", help="where to put the generated files (default: the system temp folder)")
    parser.add_argument(
        "--backup-priority",
        choices=PRIORITIES,
        default="low",
        help="`--priority` of the backup processes (default low, as `profile-registry backup` runs by default)",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=NEW_DATABASE_PAGE_SIZE,
        help=f"page size of the generated database (default {NEW_DATABASE_PAGE_SIZE}, as profile-registry creates "
        "them; 4096 for one created elsewhere, such as by the Go reference)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = run(
        args.size_mb, args.repeats, args.rest_seconds, args.backup_runs, args.dir, args.backup_priority, args.page_size
    )
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    f = figures
    print(f"database: {f['size_mb']} MB, {f['registries']} registries, {f['page_size']}-byte pages")
    print(f"plain copy + fsync (floor): {f['floor_s']:.3f} s")
    print(
        f"snapshot (backup API + fsync): {f['snapshot_s']:.3f} s  = {f['snapshot_ratio']:.2f}x floor "
        f"(target <= {TARGETS['snapshot_ratio']:g}x) {'ok' if f['met']['snapshot_ratio'] else 'MISSED'}"
    )
    print(
        f"verified backup (all checks, sha256, manifest): {f['verified_s']:.3f} s  = {f['verified_ratio']:.2f}x floor "
        f"(target <= {TARGETS['verified_ratio']:g}x) {'ok' if f['met']['verified_ratio'] else 'MISSED'}"
    )
    print(
        f"GET /api/chat/profiles p99 at rest: {f['p99_rest_ms']:.2f} ms ({f['requests_rest']} requests), "
        f"during backup (--priority {f['backup_priority']}): {f['p99_backup_ms']:.2f} ms "
        f"({f['requests_backup']} requests) = {f['p99_ratio']:.2f}x "
        f"(target <= {TARGETS['p99_ratio']:g}x) {'ok' if f['met']['p99_ratio'] else 'MISSED'}; "
        f"failed requests: {f['failed_requests']}"
    )
    print(
        f"medians: at rest {f['median_rest_ms']:.2f} ms, during backup {f['median_backup_ms']:.2f} ms; "
        f"one `profile-registry backup` process took {f['backup_process_s']:.2f} s"
    )
    print(f"reproduce: {f['reproduce']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
