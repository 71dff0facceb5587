"""`profile-registry serve`: open the sources and run the app under waitress."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time

import waitress

from registry import create_app
from registry.cli.options import (
    MAX_THREADS,
    add_registry_sources,
    listen_host,
    port_number,
    proxy_address,
    proxy_headers,
    thread_count,
)
from registry.cli.request_deadline import install_request_deadlines
from registry.cli.serve_limits import add_limit_flags, app_settings, deadline_settings, waitress_settings
from registry.config import DEFAULTS, yaml_limits_of
from registry.domain.errors import StartupError
from registry.host_os import keep_freed_memory_for_reuse, stop_signals
from registry.service.registry_service import RegistryService
from registry.web.app_state import app_state
from registry.web.auth import TOKEN_ENV, load_tokens

log = logging.getLogger(__name__)

QUEUE_LOGGER = "waitress.queue"


class QueueDepthSummary(logging.Filter):
    """Let waitress's "Task queue depth is N" through once per interval, with how many were held back.

    Waitress logs it for every request that waits for a worker thread, so a busy server writes hundreds of
    lines a second, each a write to stderr from the thread that accepts connections. Operators still need to
    know the server is saturated (raise --threads), which one line a minute tells them.
    """

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._next_at = 0.0
        self._held = 0
        self._deepest = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        depth = args[0] if args and isinstance(args[0], int) else 0
        with self._lock:
            self._deepest = max(self._deepest, depth)
            now = time.monotonic()
            if now < self._next_at:
                self._held += 1
                return False
            if self._held:
                record.msg = f"{record.msg} (and {self._held} more such messages, deepest %d, since the last one)"
                record.args = (*args, self._deepest)
            self._next_at = now + self.interval_s
            self._held = 0
            self._deepest = 0
        return True


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve the API and dashboard under waitress")
    add_registry_sources(parser)
    parser.add_argument(
        "--host", type=listen_host, default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=port_number, default=8080, help="port to listen on (0-65535, default 8080)")
    parser.add_argument(
        "--threads", type=thread_count, default=8, help=f"waitress worker threads (1-{MAX_THREADS}, default 8)"
    )
    parser.add_argument(
        "--writable",
        action="store_true",
        help="turn the admin write API on (needs a token from PROFILE_REGISTRY_TOKEN or --token-file)",
    )
    parser.add_argument("--token-file", metavar="FILE", help="admin tokens, one `name:token` per line")
    parser.add_argument(
        "--trusted-proxy",
        type=proxy_address,
        default=DEFAULTS["WAITRESS_TRUSTED_PROXY"],
        metavar="ADDRESS",
        help="the reverse proxy's IP address (or * for any) whose --trusted-proxy-headers are believed, so a request "
        "it got over HTTPS counts as HTTPS (Secure session cookie); setting WAITRESS_TRUSTED_PROXY, default none",
    )
    parser.add_argument(
        "--trusted-proxy-headers",
        type=proxy_headers,
        default=DEFAULTS["WAITRESS_TRUSTED_PROXY_HEADERS"],
        metavar="HEADERS",
        help="comma-separated headers taken from the trusted proxy (default "
        f"{','.join(DEFAULTS['WAITRESS_TRUSTED_PROXY_HEADERS'])}; setting WAITRESS_TRUSTED_PROXY_HEADERS)",
    )
    parser.add_argument(
        "--session-cookie-secure",
        action="store_true",
        default=DEFAULTS["SESSION_COOKIE_SECURE"],
        help="always mark the dashboard's session cookie Secure (setting SESSION_COOKIE_SECURE; without it the "
        "cookie is Secure when the request came over HTTPS)",
    )
    add_limit_flags(parser)
    parser.set_defaults(run=run)


def proxy_settings(args: argparse.Namespace) -> dict[str, object]:
    """waitress's trusted-proxy keyword arguments: none unless --trusted-proxy names the proxy.

    Without a trusted proxy waitress drops X-Forwarded-* headers (clear_untrusted_proxy_headers), so a client on
    plain HTTP cannot claim HTTPS; from the named proxy, X-Forwarded-Proto sets the request's scheme.
    """
    if not args.trusted_proxy:
        return {}
    return {
        "trusted_proxy": args.trusted_proxy,
        "trusted_proxy_headers": set(args.trusted_proxy_headers),
        "trusted_proxy_count": 1,
    }


def build_app(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The app for these options; raises StartupError with a one-line reason."""
    if args.trusted_proxy_headers != DEFAULTS["WAITRESS_TRUSTED_PROXY_HEADERS"] and not args.trusted_proxy:
        # Headers from nobody in particular would be ignored: say so rather than serve as if they counted.
        raise StartupError("--trusted-proxy-headers needs --trusted-proxy (the proxy's IP address)")
    writable = bool(args.writable)
    tokens = load_tokens(args.token_file)
    if writable and not tokens:
        # Checked before any source is opened: a writable server nobody can authenticate to is a mistake.
        raise StartupError(f"--writable needs an admin token: set {TOKEN_ENV} or pass --token-file FILE")
    limits = app_settings(args)
    service = RegistryService.from_settings(
        args.profile_registries,
        DEFAULTS["DEFAULT_DATABASE"],
        DEFAULTS["SEED_REGISTRY_FILE"],
        yaml_limits_of(DEFAULTS | limits),
        max_row_bytes=limits["REGISTRY_MAX_ROW_BYTES"],
    )
    config = {
        "PROFILE_REGISTRIES": args.profile_registries,
        "WRITABLE": writable,
        "ADMIN_TOKENS": tokens,
        "SESSION_COOKIE_SECURE": bool(args.session_cookie_secure),
        **limits,
    }
    return create_app(config, service=service)


def run(args: argparse.Namespace) -> int:
    app = build_app(args)
    if app.config["WRITABLE"]:
        log.info(
            "admin write API is on (%d token(s); writes need Authorization: Bearer)", len(app.config["ADMIN_TOKENS"])
        )
    try:
        server = waitress.create_server(
            app,
            host=args.host,
            port=args.port,
            threads=args.threads,
            ident="profile-registry",
            **waitress_settings(args),
            **proxy_settings(args),
        )
    except OSError as exc:  # port taken, address not on this host: one line, not a traceback
        raise StartupError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    # A client trickling its request (one header line every few seconds) is cut after these, whatever
    # channel_timeout says (registry/cli/request_deadline.py).
    install_request_deadlines(server, *deadline_settings(args))
    queue_log = logging.getLogger(QUEUE_LOGGER)
    if not any(isinstance(f, QueueDepthSummary) for f in queue_log.filters):
        queue_log.addFilter(QueueDepthSummary())
    # The effective port, so `--port 0` (any free port) tells where it ended up.
    log.info("serving on http://%s:%s (dashboard /, API /api/, docs /docs)", args.host, server.effective_port)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (systemd stop, `kill`; and Ctrl-Break on Windows) ends the loop like Ctrl-C does, so the shutdown
        # below runs.
        for stop in stop_signals():
            signal.signal(stop, _stop_serving)
    try:
        keep_freed_memory_for_reuse()
        server.run()  # returns on SystemExit or KeyboardInterrupt, after waiting for the requests in progress
    finally:
        # A clean shutdown: stop taking requests, then close the sources, which empties the -wal (no committed
        # frame is left beside the main file for a later offline restore to trip over).
        server.close()
        app_state(app).service.chain.close()
        log.info("stopped")
    return 0


def _stop_serving(signum: int, frame: object) -> None:
    raise SystemExit(0)
