"""Options that several subcommands share, defined once."""

from __future__ import annotations

import argparse
import math
import socket


def add_registry_sources(parser: argparse.ArgumentParser) -> None:
    """`--profile-registries`: comma-separated and repeatable, as in the reference."""
    parser.add_argument(
        "--profile-registries",
        action="append",
        default=[],
        metavar="SOURCES",
        help="comma-separated profile registry sources (yaml/sqlite/sqlite-dsn); repeatable. "
        "Default: ./data/profiles.db, created with example data when new",
    )


# Parse-time checks: argparse turns a ValueError/ArgumentTypeError raised here into one usage line and exit 2, so
# a bad option never reaches a socket or a thread pool (a port past 65535 would wrap around, `--threads 0` would
# start a server that never answers).

MAX_THREADS = 256


def _integer(value: str, what: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a whole number, not {value!r}") from None


def port_number(value: str) -> int:
    """0 (any free port) to 65535."""
    port = _integer(value, "port")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range (0-65535; 0 picks a free port)")
    return port


def thread_count(value: str) -> int:
    """1 to MAX_THREADS worker threads."""
    threads = _integer(value, "threads")
    if not 1 <= threads <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"threads {threads} is out of range (1-{MAX_THREADS})")
    return threads


def listen_host(value: str) -> str:
    """A name or address this host can resolve to listen on (resolved here so a typo is one line, not a traceback)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("host is empty")
    try:
        socket.getaddrinfo(value, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise argparse.ArgumentTypeError(f"unknown host {value!r}: {reason}") from None
    return value


def int_in_range(what: str, lowest: int, highest: int):  # type: ignore[no-untyped-def]
    """An argparse type for a whole number from `lowest` to `highest`, named `what` in its one-line refusal."""

    def parse(value: str) -> int:
        number = _integer(value, what)
        if not lowest <= number <= highest:
            raise argparse.ArgumentTypeError(f"{what} {number} is out of range ({lowest}-{highest})")
        return number

    return parse


def non_negative_int(value: str) -> int:
    number = _integer(value, "value")
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is negative")
    return number


def non_negative_float(value: str) -> float:
    return _float(value, allow_zero=True)


def positive_float(value: str) -> float:
    return _float(value, allow_zero=False)


def _float(value: str, *, allow_zero: bool) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"{value!r} must be a finite number {'>= 0' if allow_zero else '> 0'}")
    return number


SIZE_UNITS = {"": 1, "b": 1, "kib": 1024, "k": 1024, "mib": 1024**2, "m": 1024**2, "gib": 1024**3, "g": 1024**3}


def byte_size(what: str, lowest: int, highest: int):  # type: ignore[no-untyped-def]
    """An argparse type for a size in bytes: a whole number, optionally with KiB, MiB or GiB (`8MiB`)."""

    def parse_size(value: str) -> int:
        number, unit = value.strip(), ""
        for suffix in sorted(SIZE_UNITS, key=len, reverse=True):
            if suffix and number.lower().endswith(suffix):
                number, unit = number[: -len(suffix)].strip(), suffix
                break
        if not number.isascii() or not number.isdigit():
            raise argparse.ArgumentTypeError(
                f"{what} must be a whole number of bytes (like 65536 or 64KiB), not {value!r}"
            )
        size = int(number) * SIZE_UNITS[unit]
        if not lowest <= size <= highest:
            raise argparse.ArgumentTypeError(f"{what} {value} is out of range ({lowest}-{highest} bytes)")
        return size

    return parse_size


def proxy_address(value: str) -> str:
    """`--trusted-proxy`: an IP address (waitress compares the peer's address to it), or `*` for any peer."""
    import ipaddress

    if value.strip() == "*":
        return "*"
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an IP address (or * for any peer)") from None


# The headers waitress knows how to take from a trusted proxy.
PROXY_HEADERS = ("x-forwarded-proto", "x-forwarded-for", "x-forwarded-host", "x-forwarded-port", "x-forwarded-by",
                 "forwarded")


def proxy_headers(value: str) -> list[str]:
    """`--trusted-proxy-headers`: comma-separated names from PROXY_HEADERS."""
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in PROXY_HEADERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown proxy header {', '.join(unknown) or '(none)'}: choose from {', '.join(PROXY_HEADERS)}"
        )
    return names
