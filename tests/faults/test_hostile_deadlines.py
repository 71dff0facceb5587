"""A client trickling its request cannot hold a connection: a deadline for the head, then the body (issue 11).

Against `python -m registry serve` on loopback, with raw sockets that send their request slowly on purpose.
Each test failed before registry/cli/request_deadline.py: waitress alone keeps a connection as long as a byte
arrives within `channel_timeout`, so a header line every 2 s held it for good.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from pathlib import Path

from ._support import ServeProcess


class SlowRequest:
    """One connection that sends `opening` at once, then `piece` every `every` seconds until the server answers.

    `answered_after` is how long after the first byte the server answered or closed, `answer` what it sent.
    """

    def __init__(self, url: str, opening: bytes, piece: bytes, every: float) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.started = time.monotonic()
        self.sock.sendall(opening)
        self.answer = b""
        self.answered_after: float | None = None
        self.pieces_sent = 0
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._writer = threading.Thread(target=self._trickle, args=(piece, every), daemon=True)
        self._writer.start()

    def _read(self) -> None:
        try:
            chunk = self.sock.recv(65536)
            self.answered_after = time.monotonic() - self.started
            while chunk:
                self.answer += chunk
                chunk = self.sock.recv(65536)
        except OSError:
            if self.answered_after is None:
                self.answered_after = time.monotonic() - self.started
        finally:
            self._done.set()

    def _trickle(self, piece: bytes, every: float) -> None:
        while not self._done.wait(every):
            try:
                self.sock.sendall(piece)
                self.pieces_sent += 1
            except OSError:
                return  # the server closed it

    def wait(self, timeout: float) -> None:
        self._done.wait(timeout)

    def close(self) -> None:
        self._done.set()
        self.sock.close()
        self._reader.join(timeout=5)
        self._writer.join(timeout=5)


def timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url + "/api/chat/profiles", timeout=30) as response:
        response.read()
        return response.status, time.monotonic() - started


HEAD = b"GET /api/chat/profiles HTTP/1.1\r\nHost: x\r\n"


def test_a_request_head_trickled_a_line_every_2s_is_cut_after_the_default_10s(tmp_path: Path) -> None:
    server = ServeProcess([], tmp_path)
    slow = SlowRequest(server.url, HEAD, b"X-Slow: 1\r\n", every=2.0)
    try:
        time.sleep(3)
        status, seconds = timed_get(server.url)  # others are served meanwhile
        assert status == 200 and seconds < 1.0, seconds
        slow.wait(timeout=20)
        # Cut at 10 s from its first byte (plus at most a loop tick), though a line came every 2 s.
        assert slow.answered_after is not None and 10.0 <= slow.answered_after < 12.0, slow.answered_after
        # HTTP/1.0 in the status line: the version is not known before the head is (as waitress's own 431).
        assert slow.answer.startswith(b"HTTP/1.0 408 Request Timeout\r\n"), slow.answer[:200]
        assert b"Connection: close" in slow.answer
        assert b"request head (request line and headers) was not received within 10 seconds" in slow.answer
        assert slow.pieces_sent >= 4  # it was trickling all along, never silent for channel_timeout
        assert timed_get(server.url)[0] == 200
    finally:
        slow.close()
        server.stop()
    assert "Traceback" not in server.log()


def test_the_head_deadline_is_a_serve_flag(tmp_path: Path) -> None:
    server = ServeProcess(["--request-head-timeout", "2"], tmp_path)
    slow = SlowRequest(server.url, HEAD, b"X-Slow: 1\r\n", every=0.5)
    try:
        slow.wait(timeout=10)
        assert slow.answered_after is not None and 2.0 <= slow.answered_after < 3.5, slow.answered_after
        assert b"408 Request Timeout" in slow.answer and b"within 2 seconds" in slow.answer, slow.answer[:300]
    finally:
        slow.close()
        server.stop()


def test_a_trickled_body_is_cut_after_the_body_deadline(tmp_path: Path) -> None:
    server = ServeProcess(["--request-body-timeout", "2"], tmp_path)
    head = (
        b"POST /api/chat/profile HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    slow = SlowRequest(server.url, head, b" ", every=0.3)
    try:
        slow.wait(timeout=10)
        assert slow.answered_after is not None and 2.0 <= slow.answered_after < 3.5, slow.answered_after
        assert b"408 Request Timeout" in slow.answer and b"request body was not received within 2 seconds" in (
            slow.answer
        ), slow.answer[:300]
    finally:
        slow.close()
        server.stop()


def test_an_idle_keep_alive_connection_between_requests_is_not_cut_by_the_head_deadline(tmp_path: Path) -> None:
    # The deadline times a request being received; waiting for the next request is channel_timeout's business.
    server = ServeProcess(["--request-head-timeout", "1"], tmp_path)
    host, port = server.url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            reader = sock.makefile("rb")
            for _ in range(2):
                sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
                status_line = reader.readline()
                assert status_line.startswith(b"HTTP/1.1 200"), status_line
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                reader.read(length)
                time.sleep(2.5)  # idle past the head deadline, on the same connection
    finally:
        server.stop()


def test_serve_refuses_a_bad_deadline_in_one_line(tmp_path: Path) -> None:
    from ._support import run_serve_expecting_exit

    for value in ("0", "abc", "3601"):
        done = run_serve_expecting_exit(["--request-head-timeout", value], tmp_path)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "argument --request-head-timeout" in done.stderr, done.stderr
