"""`profile-registry check`: the runbook's post-restore validation (step 6) against a running service, one line per
check.

Stdlib HTTP only, so it runs wherever Python does. Expected profiles and defaults come from flags or from a
snapshot's manifest. Last, one chat request with an explicit profile (mock_parity unless `--chat-profile` names
another, none with `--no-chat`) is sent and followed until it finishes (contract §4.7).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from registry.cli.backup import add_database_options, backup_dir, database_target
from registry.cli.options import positive_float
from registry.domain.documents import MOCK_PARITY_SLUG
from registry.storage import backups

DEFAULT_URL = "http://127.0.0.1:8080"
CHAT_PROMPT = "profile-registry check: reply with anything."
DEFAULT_CHAT_PROFILE = MOCK_PARITY_SLUG


@dataclass
class Expectations:
    """What the service should serve: (registry, profile) pairs (registry "" = any) and registry -> default."""

    profiles: set[tuple[str, str]] = field(default_factory=set)
    defaults: dict[str, str] = field(default_factory=dict)
    registries: set[str] = field(default_factory=set)


@dataclass
class Report:
    """Collected pass/fail lines."""

    lines: list[tuple[bool, str, str]] = field(default_factory=list)

    def add(self, ok: bool, name: str, detail: str) -> bool:
        self.lines.append((ok, name, detail))
        return ok

    @property
    def ok(self) -> bool:
        return all(ok for ok, _, _ in self.lines)


class HTTPFailure(Exception):
    """A request that did not give a JSON 2xx answer; the message says what came back."""


def request_json(url: str, *, method: str = "GET", body: Any = None, timeout: float = 10.0) -> Any:
    """One HTTP request; the parsed JSON of a 2xx answer, else HTTPFailure with status and text."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Accept": "application/json"})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace").strip()
        raise HTTPFailure(f"{exc.code} {text[:200]}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HTTPFailure(f"cannot reach {url}: {reason}") from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise HTTPFailure(f"answer is not JSON: {raw[:80]!r}") from exc


def parse_pair(value: str, sep: str) -> tuple[str, str]:
    """`registry<sep>profile` or a bare profile (registry "")."""
    registry, found, profile = value.partition(sep)
    return (registry.strip().lower(), profile.strip().lower()) if found else ("", value.strip().lower())


def expectations_from_manifest(manifest: dict[str, Any]) -> Expectations:
    """Every profile and default recorded in a snapshot manifest."""
    return expectations_from(manifest.get("profiles") or {}, manifest.get("default_profiles") or {})


def expectations_from(profiles: dict[str, list[str]], defaults: dict[str, str]) -> Expectations:
    """Every profile and default of a snapshot, by registry."""
    exp = Expectations()
    for registry, names in profiles.items():
        exp.registries.add(registry)
        exp.profiles.update((registry, name) for name in names)
    for registry, default in defaults.items():
        exp.registries.add(registry)
        if default:
            exp.defaults[registry] = default
    return exp


def check_service(
    base: str, exp: Expectations, chat_profile: str | None = None, timeout: float = 10.0, chat_timeout: float = 60.0
) -> Report:
    """Run every check against `base` and collect the lines."""
    report = Report()
    base = base.rstrip("/")
    try:
        items = profile_items(request_json(f"{base}/api/chat/profiles", timeout=timeout))
    except HTTPFailure as exc:
        report.add(False, "profile list", str(exc))
        items = None
    if items is not None:
        real = [i for i in items if i.get("slug") != MOCK_PARITY_SLUG]
        registries = sorted({i.get("registry", "") for i in real})
        report.add(
            bool(real),
            "profile list",
            f"{len(real)} profiles in {len(registries)} registries"
            if real
            else f"no profiles besides {MOCK_PARITY_SLUG}",
        )
        present = {(i.get("registry", ""), i.get("slug", "")) for i in items}
        slugs = {s for _, s in present}
        for registry, slug in sorted(exp.profiles):
            found = (registry, slug) in present if registry else slug in slugs
            label = f"{registry}/{slug}" if registry else slug
            report.add(found, f"profile {label}", "listed" if found else "missing from GET /api/chat/profiles")
        for registry in sorted(set(registries) | exp.registries):
            if registry not in registries and not exp.defaults.get(registry):
                # Expected without profiles (so without a default): the list cannot show it, the registry filter can.
                check_registry_served(report, base, registry, timeout)
            else:
                check_default(report, base, registry, real, exp.defaults.get(registry), timeout)
    check_catalog(report, base, "middlewares", "name", timeout)
    check_catalog(report, base, "extensions", "key", timeout)
    check_health(report, base, timeout)
    if chat_profile:
        check_chat(report, base, chat_profile, timeout, chat_timeout)
    return report


def profile_items(answer: Any) -> list[dict[str, Any]]:
    """The profile list's items, each an object with string `registry` and `slug`; HTTPFailure for anything else.

    Whatever answers at --url may not be this service: its answer is checked before any field of it is used.
    """
    if not isinstance(answer, list):
        raise HTTPFailure(f"answer is not a JSON array but {type(answer).__name__}")
    for index, item in enumerate(answer):
        if not isinstance(item, dict):
            raise HTTPFailure(f"item {index} is {_json_type(item)}, not a profile object")
        for key in ("registry", "slug"):
            if not isinstance(item.get(key), str):
                raise HTTPFailure(f"item {index} has no string {key!r}: not a profile list")
    return answer


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    return {str: "a string", list: "an array", type(None): "null"}.get(type(value), type(value).__name__)


def check_health(report: Report, base: str, timeout: float) -> None:
    """GET /api/health: a degraded service fails the check, with one line per quarantined registry and its reason.

    A registry that fails load-time validation (a default naming a profile it lacks, a bad payload) is left out
    of the profile list, so only health can tell the check that it is missing.
    """
    try:
        health = request_json(f"{base}/api/health", timeout=timeout)
    except HTTPFailure as exc:
        report.add(False, "health", str(exc))
        return
    if not isinstance(health, dict) or not isinstance(health.get("status"), str):
        report.add(False, "health", "answer is not a health object with a status")
        return
    quarantined = health.get("quarantined")
    problems = health.get("problems")
    lines = 0  # quarantined registries reported
    for entry in quarantined if isinstance(quarantined, list) else []:
        if isinstance(entry, dict):
            report.add(False, f"registry {entry.get('slug')}", f"quarantined: {entry.get('reason')}")
            lines += 1
    problems = [str(p) for p in problems] if isinstance(problems, list) else []
    if health["status"] == "ok" and not lines:
        report.add(True, "health", "ok")
    elif health["status"] != "ok" and (problems or not lines):
        # Catalog problems degrade health too (the catalog lines above say which catalog is empty).
        report.add(False, "health", f"status {health['status']!r}" + (f": {'; '.join(problems)}" if problems else ""))


def check_default(
    report: Report, base: str, registry: str, items: list[dict[str, Any]], expected: str | None, timeout: float
) -> None:
    """The registry's default profile (is_default in the list) resolves through the detail route."""
    name = f"default of {registry}"
    defaults = [i["slug"] for i in items if i.get("registry") == registry and i.get("is_default")]
    if not any(i.get("registry") == registry for i in items):
        report.add(False, name, "registry not served")
        return
    if len(defaults) != 1:
        report.add(False, name, f"expected one default profile, the list marks {len(defaults)}")
        return
    default = defaults[0]
    if expected and default != expected:
        report.add(False, name, f"is {default!r}, expected {expected!r}")
        return
    try:
        doc = request_json(f"{base}/api/chat/profiles/{quote(default)}?registry={quote(registry)}", timeout=timeout)
    except HTTPFailure as exc:
        report.add(False, name, f"{default}: {exc}")
        return
    if not isinstance(doc, dict):
        report.add(False, name, f"{default}: answer is {_json_type(doc)}, not a profile document")
        return
    ok = doc.get("slug") == default and doc.get("is_default") is True
    report.add(
        ok, name, f"{default} resolves" if ok else f"{default}: document says is_default={doc.get('is_default')}"
    )


def check_registry_served(report: Report, base: str, registry: str, timeout: float) -> None:
    """A registry with no profiles of its own is served when the list filtered on it answers (404 when it is not)."""
    name = f"registry {registry}"
    try:
        request_json(f"{base}/api/chat/profiles?registry={quote(registry)}", timeout=timeout)
    except HTTPFailure as exc:
        report.add(False, name, f"not served: {exc}")
        return
    report.add(True, name, "served (no profiles, so no default)")


def check_catalog(report: Report, base: str, kind: str, key: str, timeout: float) -> None:
    """A schema catalog is a non-empty array whose items have a key and a schema."""
    name = f"{kind} catalog"
    try:
        items = request_json(f"{base}/api/chat/schemas/{kind}", timeout=timeout)
    except HTTPFailure as exc:
        report.add(False, name, str(exc))
        return
    if not isinstance(items, list) or not items:
        report.add(False, name, "empty: check the app's schema registration (runbook troubleshooting)")
        return
    bad = [i for i in items if not isinstance(i, dict) or key not in i or "schema" not in i]
    if bad:
        report.add(False, name, f"{len(bad)} item(s) without {key!r} and 'schema'")
        return
    names = [str(i[key]) for i in items]
    if kind == "extensions" and not any(n.startswith("middleware.") for n in names):
        report.add(False, name, "no middleware.* key (expected e.g. middleware.agentmode_config@v1)")
        return
    report.add(True, name, f"{len(items)}: {', '.join(names[:4])}{', ...' if len(names) > 4 else ''}")


def check_chat(report: Report, base: str, profile: str, timeout: float, chat_timeout: float) -> None:
    """POST a session and a message with the explicit profile, then poll the session until it finishes."""
    name = f"chat with {profile}"
    try:
        session = request_json(f"{base}/api/chat/sessions", method="POST", body={"profile": profile}, timeout=timeout)
        session_id = str(session["sessionId"])
        answer = request_json(
            f"{base}/api/chat/sessions/{quote(session_id)}/messages",
            method="POST",
            body={"prompt": CHAT_PROMPT, "profile": profile},
            timeout=timeout,
        )
        if not answer.get("accepted"):
            report.add(False, name, f"message not accepted: {answer}")
            return
        deadline = time.monotonic() + chat_timeout
        status = ""
        while time.monotonic() < deadline:
            state = request_json(f"{base}/api/chat/sessions/{quote(session_id)}", timeout=timeout)
            status = str(state.get("status", ""))
            if status == "finished":
                report.add(True, name, f"session {session_id} finished")
                return
            if status in ("failed", "error"):
                break
            time.sleep(0.1)  # polling a remote service; there is no push channel in the contract
        report.add(False, name, f"session {session_id} status {status!r} after {chat_timeout:g}s")
    except (HTTPFailure, KeyError, TypeError, AttributeError) as exc:
        report.add(False, name, str(exc))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check", help="post-restore validation of a running service (runbook step 6)")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the service (default {DEFAULT_URL})")
    parser.add_argument(
        "--expect-profile",
        action="append",
        default=[],
        metavar="[REGISTRY/]PROFILE",
        help="a profile that must be listed; repeatable",
    )
    parser.add_argument(
        "--expect-default",
        action="append",
        default=[],
        metavar="REGISTRY=PROFILE",
        help="a registry's expected default profile; repeatable",
    )
    parser.add_argument(
        "--from-snapshot",
        metavar="NAME_OR_PATH",
        help="expect every profile and default of this snapshot (its manifest, or the file itself for a cp copy)",
    )
    # The runbook's last check is "one profile-selected chat request". By default it goes to mock_parity, the
    # deterministic engine every service has, so a check never calls (or pays for) a real model unless told to.
    parser.add_argument(
        "--chat-profile",
        metavar="PROFILE",
        default=DEFAULT_CHAT_PROFILE,
        help=f"the profile of the one chat request the check sends (default {DEFAULT_CHAT_PROFILE}, which needs no "
        "engine); a profile with a real engine calls its model",
    )
    parser.add_argument("--no-chat", action="store_true", help="send no chat request")
    parser.add_argument("--timeout", type=positive_float, default=10.0, help="seconds per HTTP request (default 10)")
    add_database_options(parser)
    parser.set_defaults(run=run)


def load_expectations(args: argparse.Namespace) -> Expectations:
    """Flags plus, with --from-snapshot, the snapshot's profiles and defaults (from its manifest, else the file)."""
    exp = Expectations()
    if args.from_snapshot:
        candidate = Path(args.from_snapshot)
        if not candidate.is_file():
            candidate = backups.find_snapshot(database_target(args), args.from_snapshot, backup_dir(args)).path
        manifest = backups.read_manifest(candidate)
        if manifest is not None:
            exp = expectations_from_manifest(manifest)
        else:
            # A runbook `cp` copy: no manifest, so the file itself, checked as restore checks it, says what it holds.
            _, checked = backups.check_unlisted(candidate)
            exp = expectations_from(checked.profiles, checked.defaults)
    for value in args.expect_profile:
        exp.profiles.add(parse_pair(value, "/"))
    for value in args.expect_default:
        registry, profile = parse_pair(value, "=")
        if not registry:
            raise backups.SnapshotError(f"--expect-default {value!r}: use REGISTRY=PROFILE")
        exp.defaults[registry] = profile
        exp.registries.add(registry)
    return exp


def run(args: argparse.Namespace) -> int:
    try:
        exp = load_expectations(args)
    except backups.SnapshotError as exc:
        print(f"profile-registry check: error: {exc}")
        return 2
    report = check_service(args.url, exp, None if args.no_chat else args.chat_profile, args.timeout)
    for ok, name, detail in report.lines:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    failed = sum(1 for ok, _, _ in report.lines if not ok)
    print(f"{len(report.lines) - failed} passed, {failed} failed")
    return 0 if report.ok else 1
