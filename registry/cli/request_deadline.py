"""A deadline for receiving each request under waitress: its head, then its body, however the client trickles them.

waitress closes a connection only after `channel_timeout` seconds of silence, so a client that sends one header
line every few seconds keeps its connection (and its slot under `connection_limit`) for as long as it likes. The
head is parsed by waitress before the WSGI app sees anything, so the app cannot bound it: the channel has to.

`DeadlineChannel` times the request it is receiving: from its first byte, the head (request line and headers) must
be complete within `head_timeout` seconds, and after that the body within `body_timeout`. A request that misses
its deadline is answered `408 Request Timeout` (waitress's own error response, then the connection closes). The
clock runs only while the server waits for the client: an idle keep-alive connection between requests is
`channel_timeout`'s business, and a request read ahead while an earlier one is answered is timed from when the
answer went out. The check runs on waitress's loop thread each time it polls (at least once a second), so the
cut comes within about a second of the deadline.
"""

from __future__ import annotations

import time
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.utilities import Error


class RequestTimeout(Error):
    code = 408
    reason = "Request Timeout"


class DeadlineChannel(HTTPChannel):
    """An HTTPChannel that answers 408 to a request whose head or body arrives too slowly (module docstring)."""

    request: Any  # waitress's partial request (its parser), None between requests
    head_timeout = 10.0
    body_timeout = 60.0
    # The partial request being timed, when its clock started, and whether that was for its head or its body.
    _timed: Any = None
    _since = 0.0
    _timing_body = False

    def received(self, data: bytes) -> bool:
        result = super().received(data)
        self._follow_request(time.monotonic())
        return bool(result)

    def readable(self) -> bool:
        # Called by the loop before every poll, so this is where an overdue request is noticed without a timer.
        now = time.monotonic()
        if self.requests or self.total_outbufs_len:
            # The server is answering (or sending): the client is not the one keeping us waiting.
            self._since = now
        elif self._timed is not None and self._timed is self.request and now - self._since > self._limit():
            self._refuse(now)
            return False
        return bool(super().readable())

    def _limit(self) -> float:
        return self.body_timeout if self._timing_body else self.head_timeout

    def _follow_request(self, now: float) -> None:
        """Start the clock for a new partial request, and restart it once its head is complete."""
        request = self.request
        if request is None:
            self._timed = None
        elif request is not self._timed:
            self._timed, self._since, self._timing_body = request, now, bool(request.headers_finished)
        elif request.headers_finished and not self._timing_body:
            self._since, self._timing_body = now, True

    def _refuse(self, now: float) -> None:
        """Turn the partial request into waitress's error answer (as its parser does for a bad request)."""
        with self.requests_lock:
            request = self.request
            if request is None or request is not self._timed or self.requests or self.will_close:
                return
            part = "body" if self._timing_body else "head (request line and headers)"
            request.error = RequestTimeout(
                f"the request {part} was not received within {self._limit():g} seconds"
            )
            request.completed = True
            self.requests.append(request)
            self.request = None
            self._timed = None
            self.last_activity = time.time()
        # As `received` does for the first complete request: the main loop hands it to a worker thread.
        self.server.add_task(self)


def install_request_deadlines(server: Any, head_timeout: float, body_timeout: float) -> None:
    """Make each listening socket of a waitress server (one, or several for a name with two addresses) time requests."""
    channel = type(
        "RequestDeadlineChannel",
        (DeadlineChannel,),
        {"head_timeout": float(head_timeout), "body_timeout": float(body_timeout)},
    )
    listeners = [server] if isinstance(server, BaseWSGIServer) else [
        dispatcher for dispatcher in server.map.values() if isinstance(dispatcher, BaseWSGIServer)
    ]
    for listener in listeners:
        listener.channel_class = channel
