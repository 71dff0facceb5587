"""Options that several subcommands share, defined once."""

from __future__ import annotations

import argparse


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
