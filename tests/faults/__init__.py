"""Reliability suite: crashes, backups under load, bad database files, hostile HTTP and security properties."""
