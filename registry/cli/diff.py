"""`profile-registry diff SNAPSHOT [OTHER]`: per registry and profile, the fields a restore would change.

SNAPSHOT is always the "after" side, what a restore would bring; the "before" side is the live database, or the
snapshot OTHER in its place (as `GET /api/backups/<name>/diff?against=OTHER`). Values are JSON; secrets read
`<redacted>`; `--json` prints the whole diff for scripts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from registry.cli.backup import (
    add_database_options,
    add_snapshot_argument,
    backup_dir,
    existing_database,
    fail,
    snapshot_path,
)
from registry.domain.diff import FieldChange, RegistryDiff
from registry.service.snapshot_diff import SnapshotDiff, diff_snapshot, live_side, snapshot_side
from registry.storage.interface import SnapshotError

# A value longer than this is cut in the text output (`--json` always has it whole).
TEXT_VALUE_CHARS = 160


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="show per registry and profile what differs between the live data and a snapshot, or two snapshots",
    )
    add_snapshot_argument(parser)
    parser.add_argument(
        "other",
        nargs="?",
        help="compare against this snapshot instead of the live data (the changes from OTHER to SNAPSHOT)",
    )
    add_database_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def show(value: Any) -> str:
    """A value as compact JSON, cut to TEXT_VALUE_CHARS."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= TEXT_VALUE_CHARS else text[: TEXT_VALUE_CHARS - 1] + "…"


def field_line(change: FieldChange) -> str:
    """`/path: before -> after`, `+ /path: value` or `- /path: value`."""
    path = change.path or "/"
    if change.op == "add":
        return f"+ {path}: {show(change.after)}"
    if change.op == "remove":
        return f"- {path}: {show(change.before)}"
    return f"  {path}: {show(change.before)} -> {show(change.after)}"


def registry_lines(registry: RegistryDiff) -> list[str]:
    """One registry's heading, its own fields, then each profile that differs with its fields."""
    stamps = f"updated_at_ms {registry.before_updated_at_ms} -> {registry.after_updated_at_ms}"
    lines = [f"registry {registry.slug}: {registry.change} ({stamps})"]
    if registry.problem:
        lines.append(f"    row cannot be read: {registry.problem}")
    lines.extend(f"  {field_line(f)}" for f in registry.fields)
    for profile in registry.profiles:
        lines.append(f"  profile {profile.slug}: {profile.change}")
        lines.extend(f"    {field_line(f)}" for f in profile.fields)
    return lines


def text(diff: SnapshotDiff) -> str:
    """The diff for a terminal: the two sides, every registry that differs, then a count."""
    lines = [f"--- {diff.before.label}", f"+++ {diff.after.label}"]
    for registry in diff.registries:
        if registry.change == "same":
            lines.append(f"registry {registry.slug}: same")
        else:
            lines.extend(registry_lines(registry))
    lines.append(f"{len(diff.changed)} of {len(diff.registries)} registries differ")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    target = existing_database(args)
    folder = backup_dir(args)
    try:
        after = snapshot_side(snapshot_path(args.snapshot, target, folder))
        before = live_side(target) if args.other is None else snapshot_side(snapshot_path(args.other, target, folder))
        diff = diff_snapshot(before, after)
    except SnapshotError as exc:
        return fail("diff", str(exc))
    print(json.dumps(diff.to_dict(), indent=2, ensure_ascii=False) if args.json else text(diff))
    return 0
