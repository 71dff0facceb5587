"""`serve`'s flags for what clients and data may cost: each one a setting of registry/config.py, checked as parsed.

A flag is the setting's name in lower case with dashes (`--chat-max-sessions` is CHAT_MAX_SESSIONS; the waitress
ones drop the WAITRESS_ prefix), its default is the setting's default, and a bad value is one line and exit 2
(argparse turns the ArgumentTypeError raised by the type function into that). README, "Security and limits".
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry import host_os
from registry.cli.options import byte_size, int_in_range
from registry.config import DEFAULTS
from registry.domain.errors import StartupError

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class LimitFlag:
    key: str  # the setting (registry/config.py)
    parse: Callable[[str], Any]
    help: str
    shown_range: str
    is_size: bool = False


def _int_flag(key: str, lowest: int, highest: int, what: str) -> LimitFlag:
    flag = _flag_of(key)
    return LimitFlag(key, int_in_range(flag, lowest, highest), what, f"{lowest}-{highest}")


def _size_flag(key: str, lowest: int, highest: int, what: str) -> LimitFlag:
    flag = _flag_of(key)
    return LimitFlag(key, byte_size(flag, lowest, highest), what, f"{_bytes(lowest)}-{_bytes(highest)}", True)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _flag_of(key: str) -> str:
    return key.removeprefix("WAITRESS_").lower().replace("_", "-")


# An environment variable name pattern: letters, digits, underscore and fnmatch's wildcards, nothing else (a
# space or a comma inside would be a mistake that silently allowed nothing).
ENV_PATTERN = re.compile(r"[A-Za-z0-9_*?\[\]!]+")


def env_patterns(value: str) -> list[str]:
    """`--api-key-env-allowed`: comma-separated shell-style patterns; `none` allows no variable at all."""
    if value.strip().lower() == "none":
        return []
    patterns = [p.strip() for p in value.split(",")]
    for pattern in patterns:
        if not ENV_PATTERN.fullmatch(pattern):
            raise argparse.ArgumentTypeError(
                f"{pattern!r} is not an environment variable pattern (letters, digits, _ and * ? [ ] only; "
                "comma-separated, or `none`)"
            )
    return patterns


# waitress.create_server's keyword arguments (the setting without WAITRESS_, in lower case).
WAITRESS_LIMITS = [
    _int_flag("WAITRESS_CONNECTION_LIMIT", 1, 65535, "open connections served at once"),
    _int_flag("WAITRESS_CHANNEL_TIMEOUT", 1, 86400, "seconds before a silent connection is closed"),
    _int_flag("WAITRESS_CLEANUP_INTERVAL", 1, 3600, "seconds between checks for silent connections"),
    _int_flag("WAITRESS_BACKLOG", 1, 65535, "connections queued by the kernel before they are accepted"),
    _size_flag("WAITRESS_MAX_REQUEST_HEADER_SIZE", KIB, 16 * MIB, "largest request line and headers"),
]

# The per-request deadlines of registry/cli/request_deadline.py.
DEADLINE_LIMITS = [
    _int_flag("REQUEST_HEAD_TIMEOUT", 1, 3600, "seconds to receive a request's line and headers, then 408"),
    _int_flag("REQUEST_BODY_TIMEOUT", 1, 3600, "seconds to receive a request's body once its head is in, then 408"),
]

# Settings of the app (create_app's config).
APP_LIMITS = [
    _int_flag("YAML_MAX_DEPTH", 1, 1000, "deepest nesting of a YAML registry, aliases followed"),
    _size_flag(
        "REGISTRY_MAX_EXPANDED_BYTES", KIB, GIB, "largest YAML registry with its aliases expanded (else quarantined)"
    ),
    _size_flag("REGISTRY_MAX_ROW_BYTES", KIB, GIB, "largest payload_json of a database row (else quarantined; 413)"),
    _size_flag("CHAT_MAX_PROMPT_BYTES", 1, MIB, "largest chat prompt, UTF-8 (413 beyond)"),
    _int_flag("CHAT_MAX_MESSAGES_PER_SESSION", 1, 1_000_000, "messages one chat session may hold (429 beyond)"),
    _int_flag("CHAT_MAX_SESSIONS", 1, 1_000_000, "chat sessions kept (least recently used idle ones dropped)"),
    _int_flag("CHAT_SESSION_IDLE_SECONDS", 1, 30 * 86400, "seconds an idle chat session is kept"),
    _size_flag("CHAT_MAX_SESSIONS_BYTES", KIB, 64 * GIB, "total text kept by chat sessions"),
    _int_flag("CHAT_MAX_CONCURRENT_RUNS", 1, 256, "chat runs at once (a fixed thread pool)"),
    _int_flag("CHAT_MAX_QUEUED_RUNS", 0, 1_000_000, "chat runs waiting for the pool (503 + Retry-After beyond)"),
    LimitFlag(
        "API_KEY_ENV_ALLOWED",
        env_patterns,
        "variables a profile may name as api_key_env (comma-separated patterns, or none; "
        "PROFILE_REGISTRY_* never)",
        "",
    ),
]


def add_limit_flags(parser: argparse.ArgumentParser) -> None:
    for limit in (*WAITRESS_LIMITS, *DEADLINE_LIMITS, *APP_LIMITS):
        default = DEFAULTS[limit.key]
        shown = ",".join(default) if isinstance(default, list) else default
        if limit.is_size:
            shown = _bytes(default)
        where = f"{limit.shown_range}, " if limit.shown_range else ""
        parser.add_argument(
            f"--{_flag_of(limit.key)}",
            type=limit.parse,
            default=default,
            metavar="N" if limit.shown_range else "PATTERNS",
            help=f"{limit.help} ({where}default {shown}; setting {limit.key})",
        )


def _value(args: argparse.Namespace, limit: LimitFlag) -> Any:
    return getattr(args, _flag_of(limit.key).replace("-", "_"))


def waitress_settings(args: argparse.Namespace) -> dict[str, int | bool]:
    """The keyword arguments of waitress.create_server that `serve` sets besides host, port and threads."""
    settings: dict[str, int | bool] = {
        limit.key.removeprefix("WAITRESS_").lower(): _value(args, limit) for limit in WAITRESS_LIMITS
    }
    # select() while it is safe: waitress's poll() loop registers every descriptor again on each turn, which cost
    # about 8% of the detail route's throughput under wrk (bench/read_api.py, 16 connections); poll() above that.
    use_poll = args.connection_limit > host_os.select_safe_connections()
    if use_poll and not host_os.can_poll():
        raise StartupError(
            f"--connection-limit {args.connection_limit}: at most {host_os.select_safe_connections()} on this "
            "system (waitress watches connections with select(), which holds no more)"
        )
    settings["asyncore_use_poll"] = use_poll
    return settings


def deadline_settings(args: argparse.Namespace) -> tuple[int, int]:
    """(head timeout, body timeout) in seconds."""
    head, body = (_value(args, limit) for limit in DEADLINE_LIMITS)
    return head, body


def app_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The app's settings given by these flags."""
    return {limit.key: _value(args, limit) for limit in APP_LIMITS}
