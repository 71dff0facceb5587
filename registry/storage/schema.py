"""The reference's schema, exactly: what a registry database file may contain, and what differs in a given one.

A database handed to the service (a snapshot to restore, the live file at start) is data, not code: a trigger, a
view, a CHECK or an extra NOT NULL column in it would run on, or refuse, every later write. So the file must hold
the one table with the reference's columns, types, primary key and default, and nothing else: no other table,
index, view or trigger. The only objects besides the table are the index SQLite makes for the TEXT primary key and
the planner statistics `ANALYZE` writes (sqlite_stat1/sqlite_stat4), which change no row and run no code.
"""

from __future__ import annotations

import re
import sqlite3

TABLE = "profile_registries"
# PRAGMA user_version: 0 in a file the reference made (it records no version), ours in a file this service made.
SCHEMA_VERSION = 1
ACCEPTED_USER_VERSIONS = (0, SCHEMA_VERSION)

# The reference's column definitions, normalised (see _normalise), in order.
COLUMNS = {
    "slug": "slug text primary key",
    "payload_json": "payload_json text not null",
    "updated_at_ms": "updated_at_ms integer not null default 0",
}
PRIMARY_KEY_INDEX = f"sqlite_autoindex_{TABLE}_1"
STATISTICS_TABLES = frozenset({"sqlite_stat1", "sqlite_stat4"})
_TABLE_CONSTRAINT = re.compile(r"^(constraint|primary|unique|check|foreign)\b")


def schema_problems(conn: sqlite3.Connection) -> list[str]:
    """Everything that makes this database differ from the reference's schema; empty when it is exactly it.

    Each item names what is extra or missing (`extra trigger 'eat_rows'`, `column payload_json is ..., expected
    ...`), so a refusal can say why in one line.
    """
    problems: list[str] = []
    table_sql: str | None = None
    for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name"):
        if kind == "table" and name == TABLE:
            table_sql = sql
        elif not _allowed_companion(kind, name, sql):
            problems.append(f"extra {kind} {name!r}")
    if table_sql is None:
        problems.insert(0, f"missing table {TABLE!r}")
    else:
        problems[:0] = _table_problems(table_sql)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version not in ACCEPTED_USER_VERSIONS:
        problems.append(f"user_version {version} is not this service's ({SCHEMA_VERSION}, or 0 for a reference file)")
    return problems


def _allowed_companion(kind: str, name: str, sql: str | None) -> bool:
    """The primary key's own index (SQLite makes it, with no SQL text) or ANALYZE's statistics tables."""
    if kind == "index":
        return name == PRIMARY_KEY_INDEX and sql is None
    return kind == "table" and name in STATISTICS_TABLES


def describe(problems: list[str]) -> str:
    """One line for a refusal."""
    return "schema differs from the reference's: " + "; ".join(problems)


def _table_problems(sql: str) -> list[str]:
    """Compare the stored CREATE TABLE text, clause by clause, with the reference's."""
    text = _normalise(sql)
    start = text.find("(")
    end = _closing_paren(text, start) if start >= 0 else -1
    if end < 0:
        return [f"table {TABLE!r} has a definition this service cannot read: {sql!r}"]
    problems = []
    seen: dict[str, str] = {}
    for clause in _split_top_level(text[start + 1 : end]):
        if _TABLE_CONSTRAINT.match(clause):
            problems.append(f"extra table constraint {clause!r}")
            continue
        name = clause.split(" ", 1)[0].strip('"`[]')
        seen[name] = clause.replace(clause.split(" ", 1)[0], name, 1)
    for name, expected in COLUMNS.items():
        if name not in seen:
            problems.append(f"missing column {name!r}")
        elif seen[name] != expected:
            problems.append(f"column {name} is {seen[name]!r}, expected {expected!r}")
    problems.extend(f"extra column {name!r}" for name in seen if name not in COLUMNS)
    tail = text[end + 1 :].strip()
    if tail:
        problems.append(f"extra table option {tail!r}")
    return problems


def _normalise(sql: str) -> str:
    """Lower case, one space between words, none inside parentheses or around commas (outside string literals)."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    for i in range(0, len(parts), 2):  # even parts are outside string literals
        chunk = re.sub(r"\s+", " ", parts[i].lower())
        parts[i] = re.sub(r" ?([(),]) ?", r"\1", chunk)
    return "".join(parts).strip()


def _closing_paren(text: str, start: int) -> int:
    depth = 0
    quoted = False
    for i in range(start, len(text)):
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _split_top_level(body: str) -> list[str]:
    clauses: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in body:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            clauses.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    clauses.append("".join(current).strip())
    return [c for c in clauses if c]
