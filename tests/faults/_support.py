"""Helpers of the faults suite: `python -m registry serve` as a real child process, payloads, privilege drop."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVING = re.compile(r"serving on http://127\.0\.0\.1:([1-9]\d*)", re.IGNORECASE)
# Upper bound for a child to start or to fail; generous for a loaded 2-core machine, never waited in full.
START_TIMEOUT = 30.0


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: the project importable, no bytecode writes (a dropped-privilege child cannot)."""
    env = {k: v for k, v in os.environ.items() if k != "PROFILE_REGISTRY_TOKEN"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def registry_json(slug: str, description: str = "", profiles: int = 1) -> str:
    """A valid registry row in the reference's JSON shape, with `profiles` profiles."""
    names = [f"p{i}" for i in range(profiles)]
    body: dict[str, Any] = {"slug": slug, "metadata": {}}
    if names:
        body["default_profile_slug"] = names[0]
        body["profiles"] = {n: {"slug": n, "description": description, "metadata": {}} for n in names}
    return json.dumps(body)


def run_serve_expecting_exit(
    args: list[str], cwd: Path, preexec_fn: Callable[[], None] | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m registry serve ARGS --port 0` that is expected to stop by itself (a startup error)."""
    return subprocess.run(
        [sys.executable, "-m", "registry", "serve", *args, "--port", "0"],
        cwd=cwd,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        preexec_fn=preexec_fn,
        check=False,
    )


class ServeProcess:
    """A `python -m registry serve` child on a free loopback port; its stderr (the log) is kept in `log_lines`."""

    def __init__(self, args: list[str], cwd: Path, preexec_fn: Callable[[], None] | None = None, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "registry", "serve", *args, "--port", "0", "--threads", "4"],
            cwd=cwd,
            env=child_env(**env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec_fn,  # noqa: PLW1509 - set-up runs before any thread of the child exists
        )
        self.log_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.port = self._wait_for_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line is None:
                raise RuntimeError("serve exited before listening:\n" + "".join(self.log_lines))
            match = SERVING.search(line)
            if match:
                return int(match.group(1))
        self.stop()
        raise RuntimeError("serve did not listen in time:\n" + "".join(self.log_lines))

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request; returns status, headers and body whatever the status."""
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def log(self) -> str:
        return "".join(self.log_lines)

    def stop(self) -> None:
        """SIGTERM (waitress stops), then SIGKILL if it lingers; only this child is signalled."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # The child is gone, so its stderr reaches end of file: the pump ends and the pipe can be closed (an open
        # pipe left to the garbage collector is a ResourceWarning).
        self._pump_thread.join(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


# Linux capability numbers (linux/capability.h): bypass file permission checks, and act as any file's owner.
_PERMISSION_BYPASS_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
_PR_CAPBSET_DROP = 24


def can_drop_permission_override() -> bool:
    """True where a root test can start a child for which mode bits hold (Linux, running as root)."""
    return sys.platform.startswith("linux") and os.geteuid() == 0


def drop_permission_override() -> None:
    """preexec_fn: the child stays root but loses the capabilities that let root ignore mode bits.

    Tests run as root, and root writes a 0444 file regardless. Dropping the capabilities from the bounding set
    before exec makes the exec'd child honour permissions like any other user, while it can still reach the
    interpreter under /root (which a switch to `nobody` could not).
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _PERMISSION_BYPASS_CAPS:
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")
