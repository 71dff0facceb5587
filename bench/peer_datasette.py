"""Peer for the benchmark report: Datasette serving the same database's `profile_registries` table as JSON.

Datasette is installed by this script into its own virtual environment (bench/.venv-datasette, gitignored), never
into the project's: it is a yardstick, not a dependency. `serve(db)` starts it on a free loopback port and yields
the URL of `/<db>/profile_registries.json?_size=max` (every row, as our list route returns every profile).

Reproduce: python bench/peer_datasette.py  (installs Datasette, prints its version)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
VENV = BENCH_DIR / ".venv-datasette"


def venv_python() -> Path:
    """The peer environment's interpreter (Scripts\\python.exe on Windows)."""
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_datasette() -> str:
    """Create the peer environment and install Datasette into it if missing; returns Datasette's version."""
    python = venv_python()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = [str(python), "-c", "import datasette.version as v; print(v.__version__)"]
    found = subprocess.run(probe, capture_output=True, text=True, check=False)
    if found.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "datasette"], check=True)
        found = subprocess.run(probe, capture_output=True, text=True, check=True)
    return found.stdout.strip()


def free_port() -> int:
    """A port the OS says is free on loopback now (Datasette prints no effective port for --port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(db: Path, timeout: float = 60.0) -> Iterator[tuple[str, int, str]]:
    """Datasette on `db` (read-write mode, like our service); yields (host, port, path of the table's JSON)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            str(venv_python()),
            "-m",
            "datasette",
            "serve",
            str(db),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--setting",
            "max_returned_rows",
            "100000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:  # bounded poll until Datasette answers; it gives no other readiness signal
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("datasette did not start")
            time.sleep(0.1)
        yield "127.0.0.1", port, f"/{db.stem}/profile_registries.json?_size=max"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    print(json.dumps({"datasette": ensure_datasette(), "venv": str(VENV)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
