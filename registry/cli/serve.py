"""`profile-registry serve`: open the sources and run the app under waitress."""

from __future__ import annotations

import argparse
import logging

import waitress

from registry import create_app
from registry.cli.options import add_registry_sources
from registry.config import DEFAULTS
from registry.service import RegistryService

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve the API and dashboard under waitress")
    add_registry_sources(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads (default 8)")
    parser.set_defaults(run=run)


def build_app(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The app for these options; raises StartupError with a one-line reason."""
    service = RegistryService.from_settings(
        args.profile_registries, DEFAULTS["DEFAULT_DATABASE"], DEFAULTS["SEED_REGISTRY_FILE"]
    )
    return create_app({"PROFILE_REGISTRIES": args.profile_registries}, service=service)


def run(args: argparse.Namespace) -> int:
    app = build_app(args)
    log.info("serving on http://%s:%d (dashboard /, API /api/, docs /docs)", args.host, args.port)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="profile-registry")
    return 0
