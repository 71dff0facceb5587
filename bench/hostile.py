"""Hostile clients against `python -m registry serve` on loopback: what they cost the server (issue 11).

Three loads, each against a fresh server child started from a checkout (`--checkout`, default this one), so
the same script measures the code before and after a change:

1. slow clients: 128 connections that send a header line every 2 s and never finish their request; the
   time of a normal `GET /api/chat/profiles` while they are held, how long the server lets them trickle (the
   request head deadline, 10 s by default), and the GET again after they close;
2. chat flood (no login needed): PROMPTS prompts of PROMPT_BYTES (1,000,000) bytes to one session, then 8
   parallel GETs of that session's snapshot while `/api/health` is timed; then, on a fresh server, 1,500
   messages posted by 32 clients at once to 10 sessions; the server's RSS and OS thread count before, at peak
   and after;
3. alias bomb: a 600-byte YAML source whose profile expands to about a GiB; the server's peak RSS during one
   `GET .../resolved` of it.

A watchdog kills the child when its RSS passes --rss-cap-mb (the figure is then "> cap"), so the "before" run
cannot take the machine down. Linux only (reads /proc). Run:

    python bench/hostile.py                          # this checkout
    git worktree add /tmp/before <commit> && python bench/hostile.py --checkout /tmp/before
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVING = re.compile(r"serving on http://127\.0\.0\.1:(\d+)")
SESSION = "0b5e3f7a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


def bomb_yaml(levels: int = 9, width: int = 10) -> str:
    """About width**levels leaves once expanded (10**9 here) from a file of a few hundred bytes."""
    lines = ["slug: bomb", "profiles:", "  boom:", "    inference_settings:", '      a0: &a0 ["xxxxxxxx", "xxxxxxxx"]']
    lines += [f"      a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


class Server:
    """A serve child from `checkout` on a free port, its RSS and thread count sampled from /proc."""

    def __init__(self, checkout: Path, cwd: Path, args: list[str], rss_cap_mb: int) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PROFILE_REGISTRY_TOKEN"}
        env["PYTHONPATH"] = str(checkout)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "registry", "serve", *args, "--port", "0"],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self.port = 0
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            match = SERVING.search(line)
            if match:
                self.port = int(match.group(1))
                break
        if not self.port:
            raise SystemExit("serve did not start:\n" + "".join(self.log))
        threading.Thread(target=self._drain_log, daemon=True).start()
        self.rss_cap_kb = rss_cap_mb * 1024
        self.peak_rss_kb = 0
        self.peak_threads = 0
        self.killed = False
        self._sampling = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _drain_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def status(self) -> tuple[int, int]:
        """(RSS in KiB, OS threads) of the child now; (0, 0) once it is gone."""
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0, 0
        rss = int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) if "VmRSS" in text else 0  # type: ignore[union-attr]
        threads = int(re.search(r"Threads:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
        return rss, threads

    def _watch(self) -> None:
        while self.proc.poll() is None:
            rss, threads = self.status()
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_threads = max(self.peak_threads, threads)
            if rss > self.rss_cap_kb and not self.killed:
                self.killed = True
                self.proc.send_signal(signal.SIGKILL)
            time.sleep(0.02)

    def reset_peaks(self) -> None:
        self.peak_rss_kb, self.peak_threads = self.status()

    def request(
        self, method: str, path: str, body: bytes | None = None, timeout: float = 120
    ) -> tuple[int, bytes, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            conn.close()

    def timed_get(self, path: str, timeout: float = 60) -> str:
        started = time.monotonic()
        try:
            status, _, _ = self.request("GET", path, timeout=timeout)
        except (OSError, http.client.HTTPException) as exc:
            return f"no answer after {time.monotonic() - started:.1f} s ({type(exc).__name__})"
        return f"{status} in {time.monotonic() - started:.2f} s"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def mib(kb: int) -> str:
    return f"{kb / 1024:.0f} MiB"


def slow_clients(server: Server, count: int = 128, every: float = 2.0, hold: float = 16.0) -> None:
    """`count` connections trickling one header line every `every` seconds for up to `hold` seconds.

    Times a normal GET while they are held, how long the server let each of them trickle (the request deadline
    cuts them; before it, none was cut), and the same GET after they are gone.
    """
    started = time.monotonic()
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /api/chat/profiles HTTP/1.1\r\nHost: x\r\n")
        sock.setblocking(False)
        sockets.append(sock)
    cut_after: dict[int, float] = {}
    first_lines: dict[int, bytes] = {}
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(every):
            for i, sock in enumerate(sockets):
                if i in cut_after:
                    continue
                try:
                    sock.sendall(f"X-Slow-{i}: 1\r\n".encode())
                except OSError:
                    cut_after.setdefault(i, time.monotonic() - started)

    def watch() -> None:
        # Notice the server's answer (or close) on each slow connection.
        while not stop.wait(0.05):
            for i, sock in enumerate(sockets):
                if i in cut_after:
                    continue
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                cut_after[i] = time.monotonic() - started
                first_lines[i] = data.split(b"\r\n", 1)[0]

    threads = [threading.Thread(target=trickle, daemon=True), threading.Thread(target=watch, daemon=True)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    print(
        f"  normal GET /api/chat/profiles with {count} slow connections held: {server.timed_get('/api/chat/profiles')}"
    )
    while time.monotonic() - started < hold and len(cut_after) < count:
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    if cut_after:
        times = sorted(cut_after.values())
        answers = sorted({line.decode("latin-1") or "closed" for line in first_lines.values()})
        print(
            f"  slow connections cut by the server: {len(times)} of {count}, after {times[0]:.1f}-{times[-1]:.1f} s "
            f"(a line every {every:g} s; answer: {', '.join(answers) or 'closed'})"
        )
    if len(cut_after) < count:
        print(f"  slow connections still open after {hold:g} s of trickling: {count - len(cut_after)}")
    for sock in sockets:
        sock.close()
    time.sleep(1)
    print(f"  the same GET after they closed:                        {server.timed_get('/api/chat/profiles')}")


def chat_flood(server: Server, prompts: int, prompt_bytes: int) -> None:
    rss, threads = server.status()
    print(f"  idle:                         RSS {mib(rss)}, {threads} threads")
    body = json.dumps({"prompt": "p" * prompt_bytes, "profile": "mock_parity"}).encode()
    statuses: dict[int, int] = {}
    server.reset_peaks()
    for _ in range(prompts):
        if server.proc.poll() is not None:
            break
        try:
            status, _, _ = server.request("POST", f"/api/chat/sessions/{SESSION}/messages", body)
        except (OSError, http.client.HTTPException):
            status = 0
        statuses[status] = statuses.get(status, 0) + 1
    time.sleep(2)
    rss, threads = server.status()
    print(
        f"  after {prompts} prompts of {prompt_bytes:,} bytes: RSS {mib(rss)} (peak {mib(server.peak_rss_kb)}), "
        f"statuses {statuses}"
    )
    server.reset_peaks()
    health: list[str] = []

    def snapshot() -> int:
        try:
            return server.request("GET", f"/api/chat/sessions/{SESSION}", timeout=300)[0]
        except (OSError, http.client.HTTPException):  # the watchdog killed the server mid-answer
            return 0

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(snapshot) for _ in range(8)]
        time.sleep(0.3)
        health.append(server.timed_get("/api/health", timeout=120))
        results = [f.result() for f in futures]
    print(
        f"  8 parallel snapshot GETs:     peak RSS {mib(server.peak_rss_kb)}"
        f"{' (killed at the cap)' if server.killed else ''}, "
        f"statuses {sorted(set(results))}, /api/health meanwhile {health[0]}"
    )


def chat_threads(server: Server) -> None:
    rss, threads = server.status()
    print(f"  idle:                         RSS {mib(rss)}, {threads} threads")
    server.reset_peaks()
    small = json.dumps({"prompt": "hello", "profile": "mock_parity"}).encode()
    flood_statuses: dict[int, int] = {}
    lock = threading.Lock()

    def post(i: int) -> None:
        try:
            status = server.request("POST", f"/api/chat/sessions/{SESSION[:-4]}{i % 10:04d}/messages", small)[0]
        except (OSError, http.client.HTTPException):
            status = 0
        with lock:
            flood_statuses[status] = flood_statuses.get(status, 0) + 1

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(post, range(1500)))
    peak_threads = server.peak_threads
    time.sleep(5)
    rss, threads = server.status()
    print(f"  1,500 messages from 32 clients: peak {peak_threads} threads, statuses {flood_statuses}")
    print(f"  5 s later:                    RSS {mib(rss)}, {threads} threads")


def alias_bomb(server: Server) -> None:
    server.reset_peaks()
    before, _ = server.status()
    started = time.monotonic()
    try:
        status, body, _ = server.request("GET", "/api/chat/profiles/boom/resolved?registry=bomb", timeout=120)
        answer = f"{status} {body[:90]!r}"
    except (OSError, http.client.HTTPException) as exc:
        answer = f"no answer ({type(exc).__name__})"
    took = time.monotonic() - started
    cap = " (killed at the cap)" if server.killed else ""
    print(
        f"  GET /resolved of the bomb: RSS {mib(before)} -> peak {mib(server.peak_rss_kb)}{cap} "
        f"in {took:.1f} s: {answer}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the code to start (a git worktree)")
    parser.add_argument("--prompts", type=int, default=300, help="1 MB prompts posted to one session (default 300)")
    parser.add_argument("--prompt-bytes", type=int, default=1_000_000, help="size of each prompt (default 1,000,000)")
    parser.add_argument("--rss-cap-mb", type=int, default=3072, help="kill the server past this RSS (default 3072)")
    parser.add_argument("--only", choices=["slow", "chat", "threads", "bomb"], action="append")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    git = ["git", "-C", str(checkout), "log", "--oneline", "-1"]
    head = subprocess.run(git, check=False, capture_output=True, text=True).stdout.strip()
    print(f"code: {checkout} ({head})")
    only = set(args.only or ["slow", "chat", "threads", "bomb"])
    work = Path(tempfile.mkdtemp(prefix="hostile-bench-"))
    try:
        if "slow" in only:
            print("slow clients:")
            (work / "slow").mkdir()
            server = Server(checkout, work / "slow", [], args.rss_cap_mb)
            try:
                slow_clients(server)
            finally:
                server.stop()
        if "chat" in only:
            print("chat flood:")
            (work / "chat").mkdir()
            server = Server(checkout, work / "chat", [], args.rss_cap_mb)
            try:
                chat_flood(server, args.prompts, args.prompt_bytes)
            finally:
                server.stop()
        if "threads" in only:
            print("chat threads:")
            (work / "threads").mkdir()
            server = Server(checkout, work / "threads", [], args.rss_cap_mb)
            try:
                chat_threads(server)
            finally:
                server.stop()
        if "bomb" in only:
            print("alias bomb:")
            (work / "bomb").mkdir()
            (work / "bomb" / "bomb.yaml").write_text(bomb_yaml())
            server = Server(checkout, work / "bomb", ["--profile-registries", "p.db,bomb.yaml"], args.rss_cap_mb)
            try:
                alias_bomb(server)
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"reproduce: python bench/hostile.py --checkout {checkout}")


if __name__ == "__main__":
    main()
