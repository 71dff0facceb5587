"""`profile-registry serve` as a real child process (`python -m registry`), with the port it ended up on."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

SERVING = re.compile(r"serving on http://[^:]+:(\d+)")


def run_serve(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `serve` expecting it to stop by itself (a startup error); the exit code and output."""
    return subprocess.run([sys.executable, "-m", "registry", "serve", "--port", "0", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=child_env(), check=False)


def child_env() -> dict[str, str]:
    """The environment with the project importable even when it is not installed."""
    root = str(Path(__file__).resolve().parents[1])
    return os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


class ServeProcess:
    """A running `serve --port 0`; `.url` once it listens; `stop()` ends it."""

    def __init__(self, args: list[str], cwd: Path, timeout: float = 60) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "registry", "serve", "--port", "0", *args], cwd=cwd, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, env=child_env()
        )
        self.lines: list[str] = []
        ready: queue.Queue[str | None] = queue.Queue()

        def drain() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.lines.append(line)
                match = SERVING.search(line)
                if match:
                    ready.put(match.group(1))
            ready.put(None)

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        try:
            port = ready.get(timeout=timeout)
        except queue.Empty:
            port = None
        if port is None:
            self.stop()
            raise RuntimeError("serve did not start:\n" + "".join(self.lines))
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Terminate the child (it is ours) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # The child is gone, so its stderr reaches end of file: the drain thread ends and the pipe can be closed.
        self._drain.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()
