"""The `profile-registry` command group. Each subcommand lives in its own module with `add_parser(subparsers)`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

from registry.cli import backup, backups, check, copy, diff, import_export, inspect, restore, serve
from registry.domain.errors import StartupError

# Subcommand modules, in the order `--help` lists them.
COMMANDS = [serve, backup, backups, restore, diff, check, inspect, import_export, copy]


class OneLineParser(argparse.ArgumentParser):
    """A parser whose errors are one line (`profile-registry serve: error: ...`) and exit 2, like every other
    refusal of the command; the usage block stays behind `--help`. Subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = OneLineParser(prog="profile-registry", description="Run and operate a SQLite profile registry.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script and of `python -m registry`; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except StartupError as exc:
        print(f"profile-registry {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"profile-registry {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `profile-registry backups --json | head`: the reader left. Point stdout at devnull so the interpreter's
        # final flush does not print a traceback either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
