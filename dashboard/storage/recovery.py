"""A corrupt store never blocks the live view: check the SQLite file at start; when it is not a
sound database (truncated, overwritten, not a file at all), move it aside with a timestamp, start
a fresh store, and say so (log, /healthz, the page)."""
import datetime as dt
import logging
import os
import sqlite3

from dashboard.storage.store import EventStore

log = logging.getLogger("dashboard.store")
SIDE_FILES = ("-wal", "-shm", "-journal")


# SQLite's result codes (their names' base) that say the file itself is bad: not a database, a
# damaged page. What a schema refuses (SQLITE_ERROR: another program's `events` table) is bad too.
BROKEN_SQLITE = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_ERROR")


class StoreUnavailable(Exception):
    """The store cannot be opened now for a reason outside the file (the disk full, an I/O error,
    a folder it cannot write in, the file locked): it is left as it is."""


def broken(exc):
    """Whether a SQLite error opening or checking the file says the file is bad (moved aside then),
    rather than the machine (a full disk, an I/O error, a read-only folder: left as it is). Before
    (a store audit), any error was taken for a bad file: a full disk at start moved a sound store
    aside as "unusable", and a folder SQLite could not create the file in was itself renamed."""
    name = getattr(exc, "sqlite_errorname", None)
    return not isinstance(name, str) or name.startswith(BROKEN_SQLITE)


def unavailable(path, exc):
    name = getattr(exc, "sqlite_errorname", "")
    return StoreUnavailable(f"{path}: {exc} ({name}); the file was left as it is")


def check(path):
    """None when the SQLite file at `path` is sound (or absent), else why not; StoreUnavailable
    when it cannot be read for a reason outside the file. Bounded: SQLite's quick_check reads
    each page once and stops at the first problem."""
    if not os.path.exists(path):
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.exists(folder) and not os.path.isdir(folder):
            return "the data folder is a file"
        return None
    if not os.path.isfile(path):
        return "the store is not a file"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if not broken(exc):
            raise unavailable(path, exc) from None
        return f"{type(exc).__name__}: {exc}"
    return None if result == "ok" else f"integrity check: {str(result)[:200]}"


def move_aside(path, now=None):
    """Rename the bad store (or the file standing where its folder should be) to
    `<name>.corrupt-<UTC time>`, with its WAL files; returns the new name (a file name only)."""
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    folder = os.path.dirname(os.path.abspath(path))
    target = path if os.path.exists(path) else folder
    if target == folder and os.path.isdir(folder):  # (never the data folder: only a file there)
        raise StoreUnavailable(f"{path}: nothing to move aside (the data folder is a folder)")
    moved = f"{target}.corrupt-{stamp}"
    os.rename(target, moved)
    if target == path:
        for suffix in SIDE_FILES:
            if os.path.exists(path + suffix):
                os.rename(path + suffix, moved + suffix)
    return os.path.basename(moved)


def ensure_folder(data_dir):
    """A file standing where the data folder should be is moved aside (and said), so that the key,
    the wall links and the store can live there. Returns the moved name, or None."""
    if os.path.exists(data_dir) and not os.path.isdir(data_dir):
        moved = move_aside(os.path.join(data_dir, "events.sqlite3"))
        log.error("THE DATA FOLDER %s WAS A FILE: moved it aside as %s", os.path.basename(data_dir), moved)
        return moved
    return None


def open_checked(path):
    """(EventStore at `path`, None) when the file is sound; else (a fresh EventStore, {"reason",
    "moved_to"}) after moving the bad one aside."""
    problem = check(path)
    if problem is None:
        try:
            return EventStore(path), None
        except sqlite3.DatabaseError as exc:  # sound to quick_check, refused by the schema
            if not broken(exc):  # (the disk full, a folder it cannot write in...)
                raise unavailable(path, exc) from None
            problem = f"{type(exc).__name__}: {exc}"
    moved = move_aside(path)
    log.error("THE EVENT STORE WAS UNUSABLE (%s): moved it aside as %s and started a fresh, empty "
              "store; history before now is in that file", problem, moved)
    return EventStore(path), {"reason": problem, "moved_to": moved}
