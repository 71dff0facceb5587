"""`profile-registry import FILE.yaml [--dry-run]` and `profile-registry export SLUG`: the reference's YAML format.

One registry per YAML file (contract §3.3). Import goes through the same write path as the admin API
(registry.service.writes): schema validation, the chain-wide stack check and one BEGIN IMMEDIATE transaction; the
registry's profile map is replaced wholesale. `--dry-run` runs every check and prints what would change.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from registry.cli.options import add_registry_sources
from registry.config import DEFAULTS
from registry.domain.errors import RegistryError, StartupError
from registry.domain.model import Profile, Registry, encode_profile
from registry.domain.yaml_json import load_json_yaml
from registry.service.registry_service import RegistryService
from registry.service.writes import RegistryWriter
from registry.storage.sources import load_yaml_registry

SOURCE = "import"  # metadata.source of registries written by `import`


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register both subcommands."""
    imp = subparsers.add_parser("import", help="create or replace a registry from a YAML registry file")
    imp.add_argument("file", metavar="FILE.yaml", help="one registry in the reference's YAML format")
    imp.add_argument("--dry-run", action="store_true", help="validate and show what would change; write nothing")
    add_registry_sources(imp)
    imp.set_defaults(run=run_import)
    exp = subparsers.add_parser("export", help="print one registry in the reference's YAML format")
    exp.add_argument("slug", metavar="SLUG", help="the registry to export")
    exp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    add_registry_sources(exp)
    exp.set_defaults(run=run_export)


def open_service(entries: list[str]) -> RegistryService:
    """The sources as `serve` opens them, without seeding; the default database must already exist."""
    if not entries and not Path(DEFAULTS["DEFAULT_DATABASE"]).exists():
        raise StartupError(
            f"no database at {DEFAULTS['DEFAULT_DATABASE']}; pass --profile-registries or run `serve` once"
        )
    return RegistryService.from_settings(entries, DEFAULTS["DEFAULT_DATABASE"], None)


def actor_name() -> str:
    """Who runs the command (recorded as created_by/updated_by)."""
    return os.environ.get("USER") or os.environ.get("USERNAME") or "cli"


# --- export --------------------------------------------------------------------------------------------------------


def yaml_default(registry: Registry) -> str:
    """The default a YAML registry gets on load: `default` if present, else the first slug."""
    names = sorted(registry["profiles"])
    return "default" if "default" in names else (names[0] if names else "")


def registry_to_yaml(registry: Registry) -> str:
    """A registry as a YAML document the reference (and `import`) reads back; profile metadata kept."""
    doc: dict[str, Any] = {"slug": registry["slug"]}
    for name in ("display_name", "description"):
        if registry.get(name):
            doc[name] = registry[name]
    profiles: dict[str, Any] = {}
    for slug in sorted(registry["profiles"]):
        body = encode_profile(registry["profiles"][slug])
        del body["slug"]  # YAML takes it from the map key
        if not body.get("metadata"):
            body.pop("metadata", None)
        profiles[slug] = body
    if profiles:
        doc["profiles"] = profiles
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)


def run_export(args: argparse.Namespace) -> int:
    """Print the registry; warn when YAML cannot carry its default profile."""
    service = open_service(args.profile_registries)
    try:
        try:
            registry = service.chain.view().registry(args.slug.strip().lower())
        except RegistryError as exc:
            print(f"profile-registry export: error: {exc}", file=sys.stderr)
            return 1
        text = registry_to_yaml(registry)
    finally:
        service.chain.close()
    expected = yaml_default(registry)
    if registry.get("default_profile_slug") and registry["default_profile_slug"] != expected:
        print(
            f'note: the YAML format has no default_profile_slug; importing this file makes "{expected}" the default '
            f'(the registry\'s default is "{registry["default_profile_slug"]}")',
            file=sys.stderr,
        )
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


# --- import --------------------------------------------------------------------------------------------------------


def _comparable(profile: Profile) -> dict[str, Any]:
    body = encode_profile(profile)
    body.pop("metadata", None)
    return body


def describe_change(before: Registry | None, after: Registry) -> tuple[str, list[str]]:
    """The verb (`create` or `replace`) and lines saying what it does: profiles added, removed, changed, default."""
    slug = after["slug"]
    if before is None:
        names = sorted(after["profiles"])
        return "create", [f'registry "{slug}" with {len(names)} profile(s): {", ".join(names) or "-"}']
    old, new = before["profiles"], after["profiles"]
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(s for s in set(old) & set(new) if _comparable(old[s]) != _comparable(new[s]))
    same = len(set(old) & set(new)) - len(changed)
    versions = f'{before["metadata"].get("version", 0)} -> {after["metadata"].get("version", 0)}'
    lines = [f'registry "{slug}" (version {versions})']
    lines.append(f"  profiles added:   {', '.join(added) or '-'}")
    lines.append(f"  profiles removed: {', '.join(removed) or '-'}")
    lines.append(f"  profiles changed: {', '.join(changed) or '-'}")
    lines.append(f"  profiles unchanged: {same}")
    for name in ("display_name", "description", "default_profile_slug"):
        if (before.get(name) or "") != (after.get(name) or ""):
            lines.append(f"  {name}: {before.get(name) or '-'} -> {after.get(name) or '-'}")
    return "replace", lines


def run_import(args: argparse.Namespace) -> int:
    """Validate the file, write it through the admin write path (or only show the change with --dry-run)."""
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"cannot read {path}: {exc}") from exc
    registry = load_yaml_registry(text, str(path))  # the bounded loader; a refusal is one line (StartupError)
    raw = load_json_yaml(text)
    raw_profiles = raw.get("profiles") if isinstance(raw.get("profiles"), dict) else {}
    service = open_service(args.profile_registries)
    try:
        result = RegistryWriter(service).put_registry(
            registry, actor=actor_name(), source=SOURCE, raw_profiles=raw_profiles, dry_run=args.dry_run
        )
    except RegistryError as exc:
        print(f"profile-registry import: error: {path}: {exc}", file=sys.stderr)
        return 1
    finally:
        service.chain.close()
    assert result.after is not None
    verb, lines = describe_change(result.before, result.after)
    if args.dry_run:
        print(f"dry run, nothing written: would {verb} {lines[0]}")
    else:
        print(f"{verb}d {lines[0]}")
    for line in lines[1:]:
        print(line)
    return 0
