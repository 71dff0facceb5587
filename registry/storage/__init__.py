"""Storage: the only package that speaks SQL or opens a database connection.

- interface.py       RegistryStore, the contract every engine follows, and its value types (no engine in them)
- sqlite_store.py    the SQLite implementation: every SQL statement, the copy/check/restore of whole files
- sqlite_db.py       DatabaseTarget (a path and every DSN setting) and the one place a connection is configured
- sqlite_files.py    what a SQLite file's bytes say without a connection (header, stale -wal)
- walwatch.py        the wal-index header read that makes an unchanged read cost no sqlite3 call
- postgres_store.py  the PostgreSQL implementation (postgres_db.py: its connections and schema; postgres_listener.py:
                     LISTEN/NOTIFY; postgres_snapshots.py: backups and restores without opening a store)
- sources.py         `--profile-registries` entries and opening each as a source
- row_inspection.py  where a bad payload breaks, for `profile-registry inspect`
- backups/           snapshots of either engine (the same file): taking, manifests, listing, verification, retention,
                     restore
"""
