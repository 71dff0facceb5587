"""Tell, before SQLite opens a database, whether the `-wal` beside it was written for that file.

SQLite replays a `-wal` into whatever main file has the matching name. After the runbook's offline restore (stop,
`cp backup profiles.db`, start) a `-wal` left by the service that was stopped would be replayed over the backup,
bringing back the rows the restore was meant to replace. Nothing in a `-wal` names its main file, but two facts
can contradict it, read here from the files' bytes without opening them with SQLite:

- the `-wal` header's page size differs from the main file's page size;
- the `-shm` (the WAL index, which survives a `kill -9`) says the first N frames of this very `-wal` were already
  checkpointed into the main file (its salt matches the `-wal` header), so the main file must hold exactly those
  frames' pages; a page that differs means the main file was replaced since.

What remains undetectable: a `-wal` none of whose frames were checkpointed yet (the service was killed between a
commit and its checkpoint, a window of milliseconds) or whose `-shm` is gone. The service empties the `-wal` after
each write and at shutdown (registry/storage/wal_reset.py), so an idle or cleanly stopped service leaves none.
"""

from __future__ import annotations

import struct
from pathlib import Path

# The first 16 bytes of every SQLite database file (defined in the lowest module that reads one).
SQLITE_HEADER = b"SQLite format 3\x00"

WAL_HEADER_SIZE = 32
WAL_FRAME_HEADER_SIZE = 24
WAL_MAGIC = (0x377F0682, 0x377F0683)
# The WAL index in -shm: two copies of a 48-byte header, then the checkpoint info whose first field is nBackfill.
SHM_HEADER_SIZE = 48
SHM_SALT_OFFSET = 32
SHM_BACKFILL_OFFSET = 96
# Never read more than this much of a -wal at start (a -wal this service leaves is a few pages).
MAX_FRAMES_COMPARED = 1_000_000


def foreign_wal_reason(db_path: Path) -> str | None:
    """Why the non-empty `-wal` beside `db_path` cannot belong to it, or None (it may; or there is none)."""
    wal_path = Path(f"{db_path}-wal")
    try:
        with wal_path.open("rb") as wal:
            header = wal.read(WAL_HEADER_SIZE)
            if len(header) < WAL_HEADER_SIZE:
                return None  # empty (or too short to hold a frame): nothing SQLite would replay
            magic, _, wal_page_size = struct.unpack(">III", header[:12])
            if magic not in WAL_MAGIC:
                return None  # SQLite ignores a -wal without a valid header
            main_page_size = _main_page_size(Path(db_path))
            if main_page_size is None:
                return None
            if wal_page_size != main_page_size:
                return f"its page size {wal_page_size} differs from the database's {main_page_size}"
            backfilled = _backfilled_frames(Path(f"{db_path}-shm"), header)
            if not backfilled:
                return None
            return _first_differing_page(wal, Path(db_path), wal_page_size, min(backfilled, MAX_FRAMES_COMPARED))
    except OSError:
        return None


def _main_page_size(db_path: Path) -> int | None:
    with db_path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        return None
    size = struct.unpack(">H", header[16:18])[0]
    return 65536 if size == 1 else size


def _backfilled_frames(shm_path: Path, wal_header: bytes) -> int:
    """How many frames of this -wal the -shm says are in the main file (0 when the -shm is absent or another's)."""
    try:
        with shm_path.open("rb") as handle:
            index = handle.read(SHM_BACKFILL_OFFSET + 4)
    except OSError:
        return 0
    if len(index) < SHM_BACKFILL_OFFSET + 4:
        return 0
    first, second = index[:SHM_HEADER_SIZE], index[SHM_HEADER_SIZE : 2 * SHM_HEADER_SIZE]
    # The two copies agree once a writer finished updating them; the salt ties the index to this -wal's header.
    if first != second or first[12] == 0 or first[SHM_SALT_OFFSET : SHM_SALT_OFFSET + 8] != wal_header[16:24]:
        return 0
    max_frame = struct.unpack("=I", first[16:20])[0]
    backfilled = struct.unpack("=I", index[SHM_BACKFILL_OFFSET : SHM_BACKFILL_OFFSET + 4])[0]
    return min(backfilled, max_frame)


def _first_differing_page(wal, db_path: Path, page_size: int, frames: int) -> str | None:  # type: ignore[no-untyped-def]
    """Compare the newest checkpointed image of each page with the main file's page."""
    latest: dict[int, int] = {}  # page number -> offset of its newest checkpointed frame in the -wal
    frame_size = WAL_FRAME_HEADER_SIZE + page_size
    for i in range(frames):
        offset = WAL_HEADER_SIZE + i * frame_size
        wal.seek(offset)
        frame_header = wal.read(WAL_FRAME_HEADER_SIZE)
        if len(frame_header) < WAL_FRAME_HEADER_SIZE:
            return None
        latest[struct.unpack(">I", frame_header[:4])[0]] = offset + WAL_FRAME_HEADER_SIZE
    with db_path.open("rb") as main:
        for page, offset in sorted(latest.items()):
            wal.seek(offset)
            main.seek((page - 1) * page_size)
            if wal.read(page_size) != main.read(page_size):
                return (
                    f"page {page} of the database differs from the copy the -wal says was checkpointed into it "
                    "(the database file was replaced after the -wal was written)"
                )
    return None
