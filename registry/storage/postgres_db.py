"""The one place a PostgreSQL connection is configured: the DSN, connection settings and the registry schema.

The table is the reference's, column for column (payload_json stays TEXT, so a row's bytes are those of the SQLite
table and a registry moves between the two unchanged). Beside it the store keeps its own bookkeeping, never read by
the reference: a one-row table holding the change generation, and a statement trigger that bumps the generation and
sends NOTIFY on every change to the table, whoever makes it (this service, psql, a restore).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import conninfo

from registry.domain.errors import StartupError

TABLE = "profile_registries"
GENERATION_TABLE = "profile_registries_generation"
TRIGGER = "profile_registries_changed"
# LISTEN/NOTIFY channels are per database, not per schema: the payload names the schema, so two registries kept in
# two schemas of one database do not wake each other's instances for nothing.
CHANNEL = "profile_registries"

# How long a connection attempt may take before the server counts as unreachable (libpq's connect_timeout, in
# seconds; a DSN that sets its own keeps it). Short, because a start, a write and the listener all wait this long.
DEFAULT_CONNECT_TIMEOUT_S = 5
# How long a write waits for another writer's lock (the registry's lock_timeout): SQLite's 5 s busy timeout.
LOCK_TIMEOUT_MS = 5000
APPLICATION_NAME = "profile-registry"

# Each statement is idempotent, so instances starting together (under the advisory lock) or an upgrade are safe.
SCHEMA_STATEMENTS = (
    (f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, updated_at_ms BIGINT NOT NULL DEFAULT 0)"),
    (f"CREATE TABLE IF NOT EXISTS {GENERATION_TABLE} ("
    "singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton), generation BIGINT NOT NULL)"),
    f"INSERT INTO {GENERATION_TABLE} (singleton, generation) VALUES (TRUE, 0) ON CONFLICT DO NOTHING",
    # The UPDATE takes the generation row's lock until the changing transaction ends: so a writer that locks this
    # row first (RowTransaction) knows nobody else can commit a change to the table meanwhile.
    f"""CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE next_generation BIGINT;
BEGIN
  UPDATE {GENERATION_TABLE} SET generation = generation + 1 RETURNING generation INTO next_generation;
  PERFORM pg_notify('{CHANNEL}', TG_TABLE_SCHEMA || ' ' || next_generation);
  RETURN NULL;
END $$""",
    f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}",
    (f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()"),
)
EXPECTED_COLUMNS = {"slug": "text", "payload_json": "text", "updated_at_ms": "bigint"}


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database as given on the command line, and the libpq settings every connection uses."""

    dsn: str  # as given (it may hold a password: never shown)
    params: dict[str, str]  # libpq keywords, with this service's defaults filled in

    @property
    def conninfo(self) -> str:
        return conninfo.make_conninfo(**self.params)

    @property
    def location(self) -> str:
        """The DSN without its password, for logs, health and error messages."""
        user = self.params.get("user", "")
        host = self.params.get("host", "") or "localhost"
        port = self.params.get("port", "") or "5432"
        return f"postgresql://{user + '@' if user else ''}{host}:{port}/{self.params.get('dbname', '')}"

    @property
    def host_port(self) -> str:
        return f"{self.params.get('host', '') or 'localhost'}:{self.params.get('port', '') or '5432'}"


def is_postgres_dsn(entry: str) -> bool:
    return entry.startswith(("postgresql://", "postgres://"))


def target_from_dsn(dsn: str) -> PostgresTarget:
    """Parse a `postgresql://` / `postgres://` URI (libpq's syntax); StartupError with the reason when it is bad."""
    try:
        params = {k: str(v) for k, v in conninfo.conninfo_to_dict(dsn).items() if v is not None}
    except psycopg.ProgrammingError as exc:
        # libpq quotes the whole URI in its message ('... in URI: "postgresql://user:password@..."'): scrubbed.
        reason = one_line(exc).replace(dsn, redact(dsn))
        raise StartupError(f"bad PostgreSQL DSN {redact(dsn)}: {reason}") from None
    params.setdefault("connect_timeout", str(DEFAULT_CONNECT_TIMEOUT_S))
    params.setdefault("application_name", APPLICATION_NAME)
    return PostgresTarget(dsn, params)


def redact(dsn: str) -> str:
    """A DSN with any password replaced, for messages about a DSN that could not even be parsed."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return dsn.split("?", 1)[0]
    userinfo, _, host = rest.partition("@")
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{host.split('?', 1)[0]}"


def one_line(exc: BaseException) -> str:
    """libpq's messages span lines ("connection failed: ...\\n\\tIs the server running..."): one line for operators."""
    return " ".join(str(exc).split())


def connect(target: PostgresTarget, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection with the service's settings; psycopg.OperationalError when the server cannot be reached."""
    return psycopg.connect(target.conninfo, autocommit=autocommit)


def table_schema(conn: psycopg.Connection) -> str | None:
    """The schema `profile_registries` resolves to on this connection's search_path (None: no such table)."""
    row = conn.execute(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass(%s)",
        (TABLE,),
    ).fetchone()
    return row[0] if row else None


def migrate(conn: psycopg.Connection, target: PostgresTarget) -> tuple[bool, str]:
    """Create the table and the change bookkeeping when missing, check the columns; (created, schema).

    Runs in one transaction under an advisory lock, so instances started together do not race on the DDL. A table
    that exists with the wrong columns (or payload_json not TEXT) is a StartupError: it is not ours to change.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
        schema = table_schema(conn)
        created = schema is None
        if schema is not None:
            columns: dict[str, str] = dict(
                conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s",
                    (schema, TABLE),
                ).fetchall()
            )
            wrong = {name: columns.get(name) for name, kind in EXPECTED_COLUMNS.items() if columns.get(name) != kind}
            if wrong:
                found = ", ".join(f"{name} {kind}" for name, kind in sorted(columns.items()))
                want = ", ".join(f"{name} {kind}" for name, kind in EXPECTED_COLUMNS.items())
                raise StartupError(
                    f"{target.location}: table {schema}.{TABLE} has columns ({found}), expected ({want})"
                )
        if created or not has_change_trigger(conn):
            try:
                for statement in SCHEMA_STATEMENTS:
                    conn.execute(statement)
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction) as exc:
                raise StartupError(
                    f"{target.location}: cannot create the {TABLE} table or its change trigger: {one_line(exc)} "
                    "(run one instance once with a role that may, or create them as README.md shows)"
                ) from exc
        schema = table_schema(conn)
    assert schema is not None
    return created, schema


def has_change_trigger(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s AND to_regclass(%s) IS NOT NULL",
        (TABLE, TRIGGER, GENERATION_TABLE),
    ).fetchone()
    return row is not None


def can_write(conn: psycopg.Connection) -> bool:
    """False on a hot standby, a read-only default transaction, or a role without the write privileges."""
    row = conn.execute(
        "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'), "
        "has_table_privilege(to_regclass(%s), 'INSERT, UPDATE, DELETE'), "
        "has_table_privilege(to_regclass(%s), 'UPDATE')",
        (TABLE, GENERATION_TABLE),
    ).fetchone()
    assert row is not None
    in_recovery, read_only_default, rows_writable, generation_writable = row
    return not in_recovery and read_only_default != "on" and bool(rows_writable) and bool(generation_writable)
