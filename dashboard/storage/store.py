"""The event store: every accepted event, as received and as parsed; retention; queries.

In SQLite (a file under data_dir) or, for web processes on several machines, in a PostgreSQL server:
one set of queries, and the few differences (connecting, transactions, placeholders, the id column,
rounding down) in PostgresStore's overrides (storage/pgstore.py). The tables and statements are
storage/schema.py's, a row is storage/rows.py's, and the roll-ups kept beside the events are
storage/rollupstore.py's.

Writes are queued by ingest and committed in batches, one transaction each, from a worker thread, so
that a burst does not slow ingest and the database never blocks the green hub. Each thread has its
own connection (SQLite in WAL mode: readers do not wait for the writer). Ids only grow, so a cursor on
them is stable while events arrive and old ones are pruned.
"""
import collections
import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import sqlite3
import threading
import time

from dashboard.core import rollups
from dashboard.core.ratelimit import RateLimiter
from dashboard.core.redact import scrub
from dashboard.core.state import CORRECTION_KIND
from dashboard.storage.rollupstore import Rollups, shown_rollup_rows
from dashboard.storage.rows import row_for
from dashboard.storage.standby import Standby
from dashboard.storage.schema import (COLUMNS, FILTERS, INSERT, OLD_SQLITE_VARIABLES,
                                      ROLLUP_FILTERS, ROLLUP_UPSERT, ROWS_PER_STATEMENT, SCHEMA,
                                      SPAN_UPSERT, SQLITE_INSERT, TIME_TABLES, TOTAL, rows_for,
                                      rows_per_statement)
from dashboard.storage.threads import os_thread_rlock, sqlite_memory_mb

log = logging.getLogger("dashboard.storage.store")
# What other modules read from here (ingest, the writer process, tests and bench/): the store, and
# the row and statements it writes (storage/rows.py, storage/schema.py).
__all__ = ["EventStore", "open_store", "row_for", "rows_for", "event_json", "COLUMNS", "FILTERS",
           "INSERT", "ROLLUP_UPSERT", "ROWS_PER_STATEMENT", "SPAN_UPSERT", "TOTAL", "MAX_QUEUE",
           "FLUSH_ROWS", "PAGE_SIZE", "READER_CACHE_KIB", "WAL_CHECKPOINT_BYTES", "rows_per_statement"]


def open_store(database, default_path):
    """The store `database` names: empty → SQLite at default_path; a postgresql:// (or postgres://)
    URL → that PostgreSQL database. Anything else is a ValueError."""
    if not database:
        return EventStore(default_path)
    if database.startswith(("postgresql://", "postgres://")):
        from dashboard.storage.pgstore import PostgresStore

        return PostgresStore(database)
    scheme = database.partition(":")[0][:40]  # never the rest: it may hold a password
    raise ValueError(f"{scheme!r} is not supported: give a postgresql:// URL, or nothing "
                     f"for SQLite under data_dir")


MAX_QUEUE = 100_000  # events waiting for the writer; past it, history drops them (counted)
# ... and their stored text (data and frames), in characters, at most (those in flight to the
# writer included): a message may be up to --max-message-size, and 100,000 of 1 MiB would be 100 GB.
MAX_QUEUE_CHARS = 256 << 20

# SQLite page caches, in KiB (negative PRAGMA cache_size). Writes share one connection with a big
# cache: eight indexes over a million rows turn inserts into random disk reads with SQLite's default
# 2 MB, and the writer falls behind (bench/store.py). Reads have a connection per thread of the pool
# that runs them (up to 20): each keeps the default, so that together they stay small (a 64 MB cache
# each grew a soak's process by 1.8 GB/h as thread after thread filled its own).
WRITER_CACHE_KIB = 65536
READER_CACHE_KIB = 2048
# The WAL's size after which a commit copies its pages into the database file (SQLite's default:
# 1,000 pages, 4 MB). A batch of events dirties more than that (eight indexes, the roll-ups), so
# every commit was followed by a checkpoint that copied each page again; at 10,000 pages of 4 KiB a
# page that several commits change is copied once. With larger transactions (FLUSH_ROWS),
# bench/store.py's 1,000,000 events took 38 % fewer bytes written per event, and the store arm ran
# 1.10 times as fast (docs/performance.md). The WAL file grows to 40 MB and the commit that crosses
# it, whatever the file's page size (the pages are counted in the file's own size).
WAL_CHECKPOINT_BYTES = 10_000 * 4096
# The page size of a new SQLite file (one made before keeps its own: SQLite cannot change it in WAL
# mode). Each event adds a row to the table and to eight indexes, each at its own place in its
# B-tree: with 16 KiB pages the trees are shallower, split a quarter as often, and the writer spent
# less CPU per row than with SQLite's 4 KiB (docs/performance.md, "The file's page size").
PAGE_SIZE = 16384
# Rows a transaction at most (flush). Under a sustained stream a round of the keeper has many; each
# commit writes every page its rows dirtied, however few rows share a page, so fewer, larger ones
# write less (with the checkpoints above: 38 % fewer bytes per event). A request to the writer
# process stays below its 32 MB split (about 12 MB for 20,000 of LAVA's usual events; larger ones
# go in parts).
FLUSH_ROWS = 20_000


# SQLite's result codes (their names' base, extended codes included) of a store that cannot be read
# now: busy or locked past the wait, an I/O error, a file it cannot open, or one that is not (or
# no longer) a database. SQLITE_ERROR, a query that is wrong, is not among them.
UNREADABLE_SQLITE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN",
                     "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_FULL", "SQLITE_PROTOCOL",
                     "SQLITE_NOMEM")
READ_FAILURE_DEGRADES_S = 60.0  # how long /healthz lists `store` as degraded after a failed read
# Seconds a batch may take before /healthz says the store is stalled (a batch of 20,000 rows takes
# well under one; a writer process stopped, SIGSTOP or a hung disk, never ends its batch).
STALLED_AFTER_S = 60.0


class EventStore(Rollups, Standby):
    """SQLite file under data_dir; thread-safe: one connection per thread."""

    placeholder = "?"
    events_insert = SQLITE_INSERT
    id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"
    # Rows kept in their key's order: a report's days are read as one run of pages, not a page each.
    clustered = " WITHOUT ROWID"
    # Rounding x down to an integer (x is a column: no placeholder). CAST alone truncates towards 0.
    floor = "(CAST({x} AS INTEGER) - ({x} < CAST({x} AS INTEGER)))"

    def __init__(self, path, max_queue=MAX_QUEUE, writer_cache_kib=None, max_queue_chars=MAX_QUEUE_CHARS):
        self.path = path
        self.writer_cache_kib = WRITER_CACHE_KIB if writer_cache_kib is None else writer_cache_kib
        self.remote = None  # storage.writer.WriterProcess: batches and retention in a child
        self._local = threading.local()  # each thread's connection for reads
        self._writer = None  # the connection for writes (SQLite), made on the first one
        self._write_lock = os_thread_rlock()
        self.queue = collections.deque()
        self.max_queue = max_queue
        self.max_queue_chars = max_queue_chars
        # The text of the rows queued and in flight: added by enqueue (the loop), taken off by
        # flush once written (one at a time, under _flush_lock): each counter written by one side.
        self._chars_in = self._chars_out = 0
        self._flush_lock = os_thread_rlock()
        self.dropped = 0
        self.last_dropped = None  # wall time of the last dropped row
        self.written = 0
        self.pruned = 0
        self.last_batch = 0
        self.in_flight = 0  # rows taken from the queue and not yet committed
        self._flush_since = None  # monotonic time the batch under way started (stalled())
        self.last_error = None
        self.failing = False  # the last batch wrote nothing: /healthz says the store is degraded
        # Reads answered 503 because the store could not be read (cannot_read): how many, and the
        # last one's monotonic time and words (/healthz; `store` degraded for READ_FAILURE_DEGRADES_S).
        self.read_failures = 0
        self.last_read_failure = None
        self._read_failed_at = None
        self.log = RateLimiter(5.0, time.monotonic)  # one store error line per 5 s and kind
        self.watch_log = RateLimiter(300.0, time.monotonic)  # watch()'s lines: every 5 minutes
        self.file_gone = None  # moved() as watch() last found it (/healthz reads it: no I/O there)
        self._init_standby()  # rows held while another ingest process writes (storage/standby.py)
        schema = SCHEMA.format(id_column=self.id_column, clustered=self.clustered)
        self._create_schema(schema)
        if not self._time_tables_current():  # made by an older build: made anew, then rebuilt
            with self._transaction() as conn:
                for table in (*TIME_TABLES, "rollup_time_state"):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
            self._create_schema(schema)
        self._tracker = rollups.Tracker(self._open_spans(), self._queued())
        self._identity = self._file_identity()  # the file it opened (moved())
        if not self._rows("SELECT id FROM events LIMIT 1"):
            # A new store: its (no) roll-ups are complete from the start.
            if not self.rollups_complete():
                self.rebuild_rollups()
            if not self.time_rollups_complete():
                self.rebuild_time_rollups()

    # -- what differs between SQLite and PostgreSQL ---------------------------------------------
    def _connect(self, cache_kib=READER_CACHE_KIB):
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file's; an existing one keeps its own
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint={max(1, WAL_CHECKPOINT_BYTES // page)}")
        conn.row_factory = sqlite3.Row
        return conn

    def _create_schema(self, schema):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with self._transaction() as conn:
            conn.executescript(schema)

    @contextlib.contextmanager
    def _transaction(self):
        """A write: on the one writer connection (SQLite lets one write at a time anyway), from
        whichever thread, one at a time."""
        with self._write_lock:
            if self._writer is None:
                self._writer = self._connect(self.writer_cache_kib)
            try:
                with self._writer:  # commits, or rolls back on an exception
                    yield self._writer
            except sqlite3.Error as exc:
                # A connection SQLite opened read-only (the file or its folder could not be
                # written then) stays so: the next write connects anew. Before (a store audit), a
                # store read-only at start dropped every event until a restart, writable or not.
                if str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_READONLY"):
                    self._writer.close()
                    self._writer = None
                raise

    @staticmethod
    def _lost(conn):
        """Whether the server closed this connection (a file does not)."""
        return False

    # -- connections -----------------------------------------------------------------------
    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None or self._lost(conn):
            self._local.conn = None  # stays None if connecting fails: see _insert
            self._local.conn = conn = self._connect()
        return conn

    def _sql(self, sql):
        return sql.replace("?", self.placeholder)

    def _rows(self, sql, args=()):
        """Every row of one query; a connection the server closed (a restart) is replaced once."""
        for attempt in (1, 2):
            conn = self._conn()
            try:
                return conn.execute(self._sql(sql), args).fetchall()
            except Exception:
                if attempt == 2 or not self._lost(conn):
                    raise

    # -- writing ---------------------------------------------------------------------------
    def enqueue(self, row):
        """Queue one row for the next batch; a full queue drops (and counts) instead of growing."""
        size = len(row[-1]) + len(row[-2])  # its frames and data: what makes a row large
        if (len(self.queue) >= self.max_queue
                or self._chars_in - self._chars_out + size > self.max_queue_chars):
            self._drop(1, "queue", "the store's queue is full (%d rows, %d Mi characters at most): "
                       "dropping events from history; the writer is behind", self.max_queue,
                       self.max_queue_chars >> 20)
            return False
        self._chars_in += size
        self.queue.append(row)
        return True

    def flush(self, max_rows=FLUSH_ROWS):
        """Write up to max_rows queued rows in one transaction; returns how many were written.
        One flush at a time (the keeper's pool thread, the shutdown's last ones): idle() says
        whether one is under way, with rows taken from the queue and not yet written."""
        with self._flush_lock:
            rows = []
            while self.queue and len(rows) < max_rows:
                rows.append(self.queue.popleft())
            if not rows:
                return 0
            self.in_flight = len(rows)
            self._flush_since = time.monotonic()
            try:
                written = self._insert(rows)
            finally:
                self.in_flight = 0
                self._flush_since = None
                # Counted off once written (or lost): the queue's bound holds what is in flight too.
                self._chars_out += sum([len(row[-1]) + len(row[-2]) for row in rows])
            self.written += written
            self.last_batch = written
            self.failing = written == 0
            return written

    def _file_identity(self):
        """(device, inode) of the store's file, or None (none there; PostgreSQL's path is a URL)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def moved(self):
        """Why the file at the store's path is no longer the one this store opened ("deleted", or
        "replaced" by another file), else None: what is written goes on to the file it opened, which
        nothing reads once the dashboard restarts. Before (a store audit), a store deleted while the
        dashboard ran lost every later event silently: /healthz "ok", "written" rising."""
        if self._identity is None:
            return None
        now = self._file_identity()
        return None if now == self._identity else "deleted" if now is None else "replaced"

    def stalled(self, clock=time.monotonic):
        """Seconds the batch under way has taken, once past STALLED_AFTER_S (else 0). Before (a
        store audit), a writer process stopped by SIGSTOP went unsaid for as long as the queue took
        to fill (hours at a lab's rate), /healthz "ok" while history stood still."""
        since = self._flush_since
        taken = clock() - since if since is not None else 0.0
        return round(taken, 1) if taken >= STALLED_AFTER_S else 0.0

    def watch(self, clock=time.monotonic):
        """The keeper's look, every few seconds, whoever asks /healthz or not: a batch stalled and
        the file gone are each said in the log at most every 5 minutes; `file_gone` keeps the
        file's state for /healthz (which does no I/O). The batch first: its look does none either."""
        stalled = self.stalled(clock)
        if stalled and self.watch_log.allow("stalled")[0]:
            log.error("the store's writer has not finished its batch of %d rows in %.0f s: events "
                      "wait in its queue (%d now; dropped once it is full) and history stands "
                      "still", self.in_flight, stalled, len(self.queue))
        self.file_gone = self.moved()
        if self.file_gone and self.watch_log.allow("moved")[0]:
            log.error("THE STORE'S FILE %s WAS %s WHILE THE DASHBOARD RAN: what it writes goes to the "
                      "file it opened, which no one can read after a restart; restart the dashboard "
                      "(it opens what is there now, or starts a fresh store)", self.display_name,
                      self.file_gone.upper())

    def idle(self):
        """No flush under way (none has rows it took from the queue and has not written yet)."""
        if self._flush_lock.acquire(blocking=False):
            self._flush_lock.release()
            return True
        return False

    def write_in_process(self):
        """From now on, batches and retention are written by a child process (storage.writer),
        started at the first batch. The app's own writes (model, alerts) keep a small cache."""
        from dashboard.storage.writer import WriterProcess
        self.remote = WriterProcess(self.path, self.writer_cache_kib)
        self.writer_cache_kib = READER_CACHE_KIB
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def close(self):
        """End the writer process, if any (after the last flush)."""
        if self.remote is not None:
            self.remote.close()

    def _remote_call(self, op, *args, payload=None):
        """store.<op>(*args) in the writer process; its errors become this store's (its drops are
        counted by WriterProcess, and added in stats())."""
        from dashboard.storage.writer import WriterFailed
        try:
            return self.remote.call(op, *args, payload=payload)
        except WriterFailed as exc:
            self.last_error = self._scrub(str(exc))
            raise
        finally:
            if self.remote.state.get("last_error"):
                self.last_error = self._scrub(self.remote.state["last_error"])

    def _scrub(self, text):
        """An error's text without the store's folder (/healthz shows its file's name only)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        return text.replace(folder, "<data dir>") if folder not in ("", "/") else text

    def lost(self):
        """Rows lost to history so far (dropped), the writer process's included."""
        return self._losses()[0]

    def _losses(self):
        """(rows lost to history, wall time of the last loss), the writer process's included."""
        if self.remote is None:
            return self.dropped, self.last_dropped
        times = [t for t in (self.last_dropped, self.remote.last_dropped) if t is not None]
        return self.dropped + self.remote.dropped, max(times) if times else None

    def insert_once(self, rows, token, seq):
        """_insert(rows) for the writer process's request `seq` of the app run `token`, less what
        of it was committed already: a child that died after a commit and before its answer is
        sent the request again, and must not store any row twice."""
        skip = stored = 0
        done = self._rows("SELECT token, seq, rows, stored FROM writer_progress WHERE id = 1")
        if done and done[0]["token"] == token:
            if done[0]["seq"] > seq:
                return len(rows)  # (never: requests come one at a time, each until answered)
            if done[0]["seq"] == seq:
                skip, stored = min(done[0]["rows"], len(rows)), done[0]["stored"]
                if skip > stored:  # refused by the dead child, whose report of them died with it
                    self._drop(skip - stored, "row", "%d events of a batch were refused by a "
                               "writer process that then ended", skip - stored)
        if skip == len(rows):
            return stored
        return stored + self._insert(rows[skip:], (token, seq, skip, stored))

    def _insert(self, rows, marker=None):
        """Insert rows in one transaction; if that fails, row by row so one bad row loses only itself.

        Without a connection (a server that went away) the rest of the batch is dropped and counted;
        the next flush connects again. The hourly roll-ups are counted in the same transaction, and
        the writer process's progress: `marker` is (token, seq, rows of the request before these,
        how many of those were stored), and each commit notes how far it got (insert_once)."""
        if self.remote is not None:
            return self._insert_remote(rows)
        sql = self._sql(self.events_insert)
        with self._write_lock:  # one batch at a time: the open spans follow the committed rows
            try:
                with self._transaction() as conn:
                    self._write_many(conn, self.events_insert, rows)
                    pending = self._count_rollups(conn, rows)
                    if marker is not None:
                        self._mark(conn, marker, len(rows), len(rows))
                self._tracker.commit(*pending)
                return len(rows)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            written = 0
            for i, row in enumerate(rows):
                if getattr(self._local, "conn", None) is None:  # connecting failed: so would the rest
                    self._drop(len(rows) - i, "connect", "could not store %d events: %s",
                               len(rows) - i, self.last_error)
                    break
                try:
                    with self._transaction() as conn:
                        conn.execute(sql, row)
                        pending = self._count_rollups(conn, [row])
                        if marker is not None:  # each row with its progress: none is sent twice
                            self._mark(conn, marker, i + 1, written + 1)
                    self._tracker.commit(*pending)
                    written += 1
                except Exception as exc:
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self._drop(1, "row", "could not store event %s: %s", row[0], self.last_error)
                    if marker is not None:  # lost, and done with: a child that resumes this
                        # request does not try it again (it counts it: this child's report of it
                        # would die with this child)
                        try:
                            with self._transaction() as conn:
                                self._mark(conn, marker, i + 1, written)
                        except Exception:
                            pass
            return written

    def _mark(self, conn, marker, done, stored):
        """Note the writer process's progress: of the rows after marker's (token, seq, rows before,
        stored before), `done` are done with and `stored` stored (insert_once)."""
        token, seq, before, stored_before = marker
        conn.execute(self._sql("INSERT INTO writer_progress (id, token, seq, rows, stored) VALUES "
                               "(1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET token = "
                               "excluded.token, seq = excluded.seq, rows = excluded.rows, "
                               "stored = excluded.stored"),
                     (token, seq, before + done, stored_before + stored))

    def _insert_remote(self, rows):
        from dashboard.storage.writer import WriterFailed, WriterGone
        written = 0
        for part, request in self.remote.inserts_for(rows):
            try:
                written += self._remote_call("insert", part, payload=request)
            except WriterGone as exc:
                self.last_error = self._scrub(f"the writer process: {exc}")
                self._drop(len(part), "writer", "could not store %d events: the writer process "
                           "failed twice (%s)", len(part), self.last_error)
            except WriterFailed:  # _insert itself raised (it never should): they are lost
                self._drop(len(part), "writer", "could not store %d events: %s", len(part),
                           self.last_error)
        return written

    def _write_many(self, conn, sql, rows):
        """executemany(sql, rows), in order, ROWS_PER_STATEMENT rows a statement (the rest one a
        statement): `sql` is one row's INSERT, its VALUES group repeated. The rows of one call must
        not conflict with each other (PostgreSQL refuses to update one row twice in a statement):
        every caller's rows have distinct keys."""
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return
        # (PostgreSQL takes 65,535 variables: no older limit; both read schema.ROWS_PER_STATEMENT.)
        per = rows_for(len(rows[0]), None if self.placeholder != "?" else OLD_SQLITE_VARIABLES)
        whole = len(rows) - len(rows) % per
        cursor = conn.cursor()
        if whole:
            flat = itertools.chain.from_iterable
            cursor.executemany(self._sql(rows_per_statement(sql, per)), [
                list(flat(rows[i:i + per])) for i in range(0, whole, per)])
        if whole < len(rows):
            cursor.executemany(self._sql(sql), rows[whole:])
    def _drop(self, count, kind, message, *args):
        """Count rows lost to history, and say so at most once per 5 s per kind (a full disk
        must not write a log line per event)."""
        self.dropped += count
        self.last_dropped = time.time()
        speak, held = self.log.allow(kind)
        if speak:
            log.error(message + (f" ({held} more like this since the last report)" if held else ""),
                      *args)

    def dropped_recently(self, window=600.0):
        """Whether rows were lost to history in the last `window` seconds (/healthz: degraded)."""
        last = self._losses()[1]
        return last is not None and time.time() - last < window

    @property
    def display_name(self):
        """What /healthz shows: the file's name, never its path."""
        return os.path.basename(self.path)

    def prune(self, max_age_s, max_rows, now=None, chunk=10_000):
        """Delete events older than max_age_s and beyond the newest max_rows, in chunks."""
        now = time.time() if now is None else now
        if self.remote is not None:  # the open spans it trims are the writer process's
            deleted = self._remote_call("prune", max_age_s, max_rows, now, chunk)
            self.pruned += deleted
            return deleted
        deleted = 0
        limit_id = None
        if max_rows:
            found = self._rows("SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?", (max_rows,))
            limit_id = found[0]["id"] if found else None
        for _ in range(10_000):  # bounded: at most this many chunks per call
            args = (now - max_age_s if max_age_s else -1,
                    limit_id if limit_id is not None else -1, chunk)
            chosen = "SELECT id FROM events WHERE ts < ? OR id <= ? ORDER BY id LIMIT ?"
            with self._transaction() as conn:
                # The roll-ups lose what the events lose, in the same transaction.
                hour = self.floor.format(x="ts / 3600") + " * 3600"
                gone = conn.execute(self._sql(
                    f"SELECT {hour} AS h, kind, COALESCE(device, '') AS d, "
                    f"COALESCE(device_type, '') AS t, COALESCE(worker, '') AS w, COUNT(*) AS n "
                    f"FROM events WHERE id IN ({chosen}) GROUP BY h, kind, COALESCE(device, ''), "
                    f"COALESCE(device_type, ''), COALESCE(worker, '')"), args).fetchall()
                conn.cursor().executemany(self._sql(
                    "UPDATE rollup_hourly SET n = n - ? WHERE hour = ? AND kind = ? AND device = ? "
                    "AND device_type = ? AND worker = ?"),
                    [(g["n"], g["h"], g["kind"], g["d"], g["t"], g["w"]) for g in gone])
                totals = collections.Counter()
                for g in gone:
                    totals[(g["h"], g["kind"])] += g["n"]
                conn.cursor().executemany(self._sql(
                    "UPDATE rollup_hourly SET n = n - ? WHERE hour = ? AND kind = ? AND device = ? "
                    "AND device_type = ? AND worker = ?"),
                    [(n, h, kind, TOTAL, TOTAL, TOTAL) for (h, kind), n in totals.items()])
                conn.execute("DELETE FROM rollup_hourly WHERE n <= 0")
                cur = conn.execute(self._sql(f"DELETE FROM events WHERE id IN ({chosen})"), args)
            deleted += cur.rowcount
            if cur.rowcount < chunk:
                break
        if deleted:
            self._prune_time_rollups()
        self.pruned += deleted
        return deleted

    # -- the model's snapshot --------------------------------------------------------------
    def save_model(self, body, last_event_id):
        """Keep the model so that a restart starts from it (then replays newer events)."""
        with self._transaction() as conn:
            conn.execute(self._sql(
                "INSERT INTO model_snapshot (id, last_event_id, saved, body) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET last_event_id = excluded.last_event_id, "
                "saved = excluded.saved, body = excluded.body"),
                (last_event_id, time.time(), json.dumps(body)))

    def load_model(self):
        """(body, last_event_id) of the saved model, or (None, 0)."""
        rows = self._rows("SELECT body, last_event_id FROM model_snapshot WHERE id = 1")
        return (json.loads(rows[0]["body"]), rows[0]["last_event_id"]) if rows else (None, 0)

    def last_id(self):
        """The newest stored event's id (0 when there is none)."""
        return self._rows("SELECT MAX(id) AS m FROM events")[0]["m"] or 0

    def frames_after(self, event_id, limit=1_000_000, page=1000):
        """The frames of stored events newer than event_id, oldest first (for replay on restart);
        read a page at a time, so that a long replay never holds every row in memory."""
        sent = 0
        while sent < limit:  # bounded: each round sends at least one row, or ends
            rows = self._rows("SELECT id, frames FROM events WHERE id > ? ORDER BY id LIMIT ?",
                              (event_id, min(page, limit - sent)))
            for row in rows:
                try:
                    frames = [f.encode("utf-8") for f in json.loads(row["frames"])]
                except (ValueError, TypeError, AttributeError):
                    frames = None  # unreadable: the caller skips and counts it
                yield row["id"], frames
            sent += len(rows)
            if not rows:
                return
            event_id = rows[-1]["id"]

    # -- alerts (dashboard/alerts) ------------------------------------------------------------
    def save_alerts(self, alerts):
        """Keep alerts (new, or a new status of one already kept), in one transaction."""
        rows = [(a["id"], a["key"], a["rule"], a["status"], a["fired_at"], a.get("resolved_at"),
                 json.dumps(a, separators=(",", ":"))) for a in alerts]
        if not rows:
            return
        with self._transaction() as conn:
            conn.cursor().executemany(self._sql(
                "INSERT INTO alerts (id, alert_key, rule, status, fired_at, resolved_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "status = excluded.status, resolved_at = excluded.resolved_at, "
                "body = excluded.body"), rows)

    def alerts(self, status=None, since=None, until=None, limit=100, with_delivery=False,
               resolved_since=None):
        """Kept alerts, newest first: those firing, resolved, or all (status None), fired in a
        range; `with_delivery`: only those with notifications still to go out (the engine's
        restore reads these of the resolved ones, not every one kept); `resolved_since`: only
        those resolved since then (the engine's start: which may have notified in the last hour)."""
        where, args = [], []
        if resolved_since is not None:
            where.append("resolved_at >= ?")
            args.append(resolved_since)
        if with_delivery:  # the key as json writes it: a value's own quotes would be escaped
            where.append("body LIKE ?")
            args.append('%"delivery"%')
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if since is not None:
            where.append("fired_at >= ?")
            args.append(since)
        if until is not None:
            where.append("fired_at < ?")
            args.append(until)
        sql = (f"SELECT body FROM alerts WHERE {' AND '.join(where) or '1 = 1'} "
               f"ORDER BY fired_at DESC, id LIMIT ?")
        return [json.loads(r["body"]) for r in self._rows(sql, (*args, limit))]

    def prune_alerts(self, before):
        """Forget resolved alerts fired before `before` (epoch seconds); returns how many."""
        with self._transaction() as conn:
            cur = conn.execute(self._sql("DELETE FROM alerts WHERE status = 'resolved' AND "
                                         "fired_at < ?"), (before,))
        return cur.rowcount

    # -- reading ---------------------------------------------------------------------------
    def events(self, filters=None, since=None, until=None, before=None, after=None, limit=100,
               newest_first=True, corrections=False, exclude_kinds=()):
        """Stored events matching exact-value filters and a time range, paged by id (with
        `corrections`, a kind filter takes that kind's corrections too), none of `exclude_kinds`."""
        where, args = _where(filters, since, until, corrections, exclude_kinds)
        if before is not None:
            where.append("id < ?")
            args.append(before)
        if after is not None:
            where.append("id > ?")
            args.append(after)
        sql = (f"SELECT * FROM events WHERE {' AND '.join(where)} "
               f"ORDER BY id {'DESC' if newest_first else 'ASC'} LIMIT ?")
        return [event_json(r) for r in self._rows(sql, (*args, limit))]

    def anchor_id(self, ts, side):
        """The id of the event shown to every viewer (a device's, a worker's, a job's state, a
        correction of no job: never a job's message, which is hidden with its job, nor a job's
        correction, which may be hidden with it: visibility.corrects_only_hidden) nearest to `ts`:
        the newest before it (`side` "before") or the oldest at or after it ("after"); None when
        there is none. A step along the time index (web/paging.py: where an export's ids begin
        and end, which must not depend on rows hidden from its viewer)."""
        cond, order = ("ts < ?", "DESC") if side == "before" else ("ts >= ?", "ASC")
        # (`+job`, `kind || ''`: SQLite would otherwise join two other indexes for the OR and sort
        # all they give, a second a million rows; both are valid in PostgreSQL too.)
        found = self._rows(f"SELECT id FROM events WHERE {cond} AND (+job IS NULL OR kind || '' IN "
                           f"('device', 'worker', 'testjob')) ORDER BY ts {order} LIMIT 1", (ts,))
        return found[0]["id"] if found else None

    def cut_id(self, filters, since, until, after, most, below):
        """The id of the `most`-th event matching the filters and time range with an id between
        `after` and `below`, when more than `most` match; None when they all fit. Counted first
        through the filters' own index (no sort, `most` + 1 rows at most); only a cut export then
        looks for the id."""
        where, args = _where(filters, since, until)
        where += ["+id > ?", "+id < ?"]
        args += [after, below]
        cond = " AND ".join(where)
        n = self._rows(f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM events WHERE {cond} LIMIT ?) AS m",
                       (*args, most + 1))[0]["n"]
        if n <= most:
            return None
        found = self._rows(f"SELECT id FROM events WHERE {cond} ORDER BY id LIMIT 1 OFFSET ?",
                           (*args, most - 1))
        return found[0]["id"] if found else None  # (pruned meanwhile: they all fit now)

    @staticmethod
    def read_errors():
        """The exception classes a read of this store raises (web/api.py answers them)."""
        return (sqlite3.Error,)

    def cannot_read(self, exc):
        """Whether `exc`, raised by a read, says the store cannot be read now (its file locked,
        unreadable or broken), not that the query was wrong (SQLITE_ERROR: a defect, answered 500)."""
        name = getattr(exc, "sqlite_errorname", None)
        return isinstance(exc, sqlite3.Error) and (
            isinstance(name, str) and name.startswith(UNREADABLE_SQLITE)
            or self.moved() is not None)  # (a reader's new, empty file: "no such table")

    def note_read_failure(self, exc, clock=time.monotonic):
        """Count a read that failed for cannot_read's reasons (the web answered it 503)."""
        self.read_failures += 1
        self._read_failed_at = clock()
        self.last_read_failure = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                  "error": self._read_failure_words(exc)}

    def _read_failure_words(self, exc, limit=200):
        """A failed read's words for /healthz and the log: its kind and its first line, cut short,
        without a password or the store's folder (scrubbed before it is cut: a secret cut short
        is not found)."""
        text = self._scrub(scrub(str(exc))).strip()
        first = text.splitlines()[0] if text else ""
        return f"{type(exc).__name__}: {first[:limit]}" if first else type(exc).__name__

    def read_failed_recently(self, clock=time.monotonic):
        return self._read_failed_at is not None and clock() - self._read_failed_at < READ_FAILURE_DEGRADES_S

    def stats(self):
        """The /healthz section."""
        dropped, last_dropped = self._losses()
        return {"file": self.display_name, "queued": len(self.queue),
                "read_failures": self.read_failures, "last_read_failure": self.last_read_failure,
                "queued_chars": self._chars_in - self._chars_out, "written": self.written,
                "dropped": dropped, "last_dropped": last_dropped, "pruned": self.pruned,
                "last_batch": self.last_batch, "last_error": self.last_error,
                "failing": self.failing, "stalled_s": self.stalled(), "file_gone": self.file_gone,
                "sqlite_memory_mb": self._memory_mb(),
                "rollup_out_of_order": (self._tracker.out_of_order if self.remote is None
                                        else self.remote.state.get("out_of_order", 0)),
                "writer_process": None if self.remote is None else self.remote.stats(),
                "standby": dict(self.standby)}

    @staticmethod
    def _memory_mb():
        return sqlite_memory_mb()

    def id_bounds(self):
        """(oldest, newest) id of the stored events, (None, None) when there are none."""
        # Two subqueries: each a step to one end of the ids. (MIN and MAX in one SELECT read every
        # row, 0.1 s a million, and a restricted viewer's every page of events asks this.)
        row = self._rows("SELECT (SELECT MIN(id) FROM events) AS lo, "
                         "(SELECT MAX(id) FROM events) AS hi")[0]
        return row["lo"], row["hi"]

    def count(self, filters=None, exclude_kinds=()):
        """How many events are stored (that match exact-value filters, none of `exclude_kinds`)."""
        where, args = _where(filters, None, None, exclude_kinds=exclude_kinds)
        return self._rows(f"SELECT COUNT(*) AS n FROM events WHERE {' AND '.join(where)}", args)[0]["n"]

    def health_since(self, device):
        """(health, ISO time) of one device's current stored health and when it entered it: its
        first transition (corrections count) into that health after its last one with another,
        as the time roll-ups keep it (one row: device_span). None when the store holds no health
        of the device."""
        rows = self._rows("SELECT health, health_since FROM device_span WHERE device = ?", (device,))
        if not rows or rows[0]["health"] is None or rows[0]["health_since"] is None:
            return None
        return rows[0]["health"], dt.datetime.fromtimestamp(
            rows[0]["health_since"], dt.timezone.utc).isoformat()

    def buckets(self, width_s, since, until, filters=None, rollups=True, exclude=None):
        """Event counts per time bucket and kind: [(bucket_start_ts, kind, n)], oldest first.
        A bucket starts at a multiple of width_s (rounded down, also before 1970).

        Whole hours come from the roll-ups when they can answer (width a multiple of an hour,
        filters on what they count), the partial hours at either end from the events: the same
        figures as a scan, without reading every row of the window. `exclude`: (boards, device
        types) left out (core.withheld): from the totals, their own rows' counts are taken away."""
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        if (rollups and since is not None and until is not None and width_s % 3600 == 0
                and set(filters) <= set(ROLLUP_FILTERS) and self.rollups_complete()):
            first, last = -(-since // 3600) * 3600, until // 3600 * 3600
            if first < last:
                counts = collections.Counter()
                for lo, hi in ((since, first), (last, until)):
                    if lo < hi:
                        for b, kind, n in self.buckets(width_s, lo, hi, filters, rollups=False,
                                                       exclude=exclude):
                            counts[(b, kind)] += n
                where = ["hour >= ?", "hour < ?"] + [f"{k} = ?" for k in filters]
                args = [width_s, float(width_s), first, last, *filters.values()]
                sql = (f"SELECT {self.floor.format(x='x')} * ? AS b, kind, CAST(SUM(n) AS BIGINT) AS n FROM "
                       f"(SELECT hour / ? AS x, kind, n FROM rollup_hourly "
                       "WHERE {where}) AS r GROUP BY b, kind")
                if not set(filters) - {"kind"}:  # the totals' rows; else the named ones match
                    read = self._totals_less_withheld(
                        sql, where, args, [f"{k} = '{TOTAL}'" for k in ("device", "device_type", "worker")],
                        exclude)
                else:
                    cond, more = shown_rollup_rows(exclude) if exclude else ([], [])
                    read = [(r, 1) for r in self._rows(sql.format(where=" AND ".join(where + cond)),
                                                       args + more)]
                for r, sign in read:
                    counts[(r["b"], r["kind"])] += sign * r["n"]
                # (Retention may have taken counts of the withheld kept a little longer: never
                # below 0.)
                return [(b, kind, n) for (b, kind), n in sorted(counts.items()) if n > 0]
        where, args = _where(filters, since, until, exclude=exclude)
        sql = (f"SELECT {self.floor.format(x='x')} * ? AS b, kind, COUNT(*) AS n "
               f"FROM (SELECT ts / ? AS x, kind FROM events WHERE {' AND '.join(where)}) AS e "
               f"GROUP BY b, kind ORDER BY b, kind")
        return [(r["b"], r["kind"], r["n"]) for r in self._rows(sql, (width_s, width_s, *args))]

    def job_buckets(self, width_s, since, until, filters=None, exclude_kinds=(), limit=100_000,
                    exclude=None):
        """Event counts per time bucket, kind and job, of the kinds not excluded:
        [(bucket_start_ts, kind, job, n)], at most `limit` of them (a restricted viewer's
        chart counts only the jobs it may see: web/history.py); `exclude` as buckets'."""
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        where, args = _where(filters, since, until, exclude_kinds=exclude_kinds, exclude=exclude)
        sql = (f"SELECT {self.floor.format(x='x')} * ? AS b, kind, job, COUNT(*) AS n "
               f"FROM (SELECT ts / ? AS x, kind, job FROM events WHERE {' AND '.join(where)}) AS e "
               f"GROUP BY b, kind, job LIMIT ?")
        return [(r["b"], r["kind"], r["job"], r["n"])
                for r in self._rows(sql, (width_s, width_s, *args, int(limit)))]

    def rows(self, kind, since, until, filters=None, columns=("ts", "device", "device_type",
                                                               "state", "health", "job"),
             limit=2_000_000, exclude=None):
        """Some columns of the rows of one kind in a time range, oldest first (for statistics);
        `exclude` as buckets'."""
        assert set(columns) <= set(COLUMNS)  # names are ours, never the user's
        where, args = _where(dict(filters or {}, kind=kind), since, until, corrections=True,
                             exclude=exclude)
        sql = (f"SELECT {', '.join(columns)} FROM events WHERE {' AND '.join(where)} "
               f"ORDER BY ts, id LIMIT ?")
        return [dict(r) for r in self._rows(sql, (*args, int(limit)))]

    def jobs_on(self, devices, most):
        """The jobs with a stored row on one of these boards, at most `most` (by events_device;
        the boards 500 to a query, under old SQLite's 999 variables)."""
        devices, found = list(devices), set()
        for i in range(0, len(devices), 500):
            if len(found) >= most:
                break
            part = devices[i:i + 500]
            found.update(r["job"] for r in self._rows(
                f"SELECT DISTINCT job FROM events WHERE device IN ({', '.join('?' * len(part))}) "
                f"AND job IS NOT NULL LIMIT ?", (*part, int(most))))
        return sorted(found)[:int(most)]

    def outcomes(self, since, until, filters=None, exclude=None):
        """(first finish ts, health) of each job that finished in the range; `exclude` as
        buckets'."""
        where, args = _where(dict(filters or {}, kind="testjob"), since, until, corrections=True,
                             exclude=exclude)
        sql = (f"SELECT ts, job, health, state FROM (SELECT ts, job, health, state, ROW_NUMBER() "
               f"OVER (PARTITION BY job ORDER BY ts, id) AS k FROM events WHERE {' AND '.join(where)} "
               f"AND state = 'Finished') AS f WHERE k = 1 ORDER BY ts, job")
        return [dict(r) for r in self._rows(sql, args)]

    def state_before(self, kind, key, since, filters=None, lookback=None,
                     columns=("ts", "device", "device_type", "state", "health", "job"), exclude=None):
        """For each `key` value, its last row of `kind` before `since` (within `lookback` s);
        `exclude` as buckets' (a row left out: its object's last row before it counts)."""
        assert set(columns) <= set(COLUMNS)  # names are ours, never the user's
        where, args = _where(dict(filters or {}, kind=kind), since - lookback if lookback else None,
                             None, corrections=True, exclude=exclude)
        where.append("ts < ?")
        args.append(since)
        cols = ", ".join(columns)
        if (filters or {}).get(key) is not None:  # one object: its newest row, by index
            sql = f"SELECT {cols} FROM events WHERE {' AND '.join(where)} ORDER BY ts DESC LIMIT 1"
            return [dict(r) for r in self._rows(sql, args)]
        sql = (f"SELECT {', '.join('e.' + c for c in columns)} FROM events e "
               f"JOIN (SELECT MAX(id) AS id FROM events "
               f"WHERE {' AND '.join(where)} GROUP BY {key}) last ON e.id = last.id")
        return [dict(r) for r in self._rows(sql, args)]


def _where(filters, since, until, corrections=False, exclude_kinds=(), exclude=None):
    """SQL conditions and their arguments. With `corrections`, a `kind` filter also takes the
    corrections of objects of that kind (statistics count what LAVA said as history too).
    `exclude`: (boards, device types) whose rows are left out (core.withheld: a row of a board
    among them, or of no board and a type among them)."""
    where, args = [], []
    if exclude:
        names, types = exclude
        if names:
            where.append(f"(device IS NULL OR device NOT IN ({', '.join('?' * len(names))}))")
            args += list(names)
        if types:
            where.append(f"(device IS NOT NULL OR device_type IS NULL OR device_type NOT IN "
                         f"({', '.join('?' * len(types))}))")
            args += list(types)
    if exclude_kinds:
        where.append(f"kind NOT IN ({', '.join('?' * len(exclude_kinds))})")
        args += list(exclude_kinds)
    for field, value in (filters or {}).items():
        if value is None:
            continue
        assert field in FILTERS, field  # names are ours, never the user's
        if field == "kind" and corrections:
            # IN keeps the (kind, ts) index usable; the topic then tells which corrections.
            where.append("kind IN (?, ?) AND (kind = ? OR topic = ?)")
            args += [value, CORRECTION_KIND, value, f"dashboard.{value}.{CORRECTION_KIND}"]
            continue
        where.append(f"{field} = ?")
        args.append(value)
    if since is not None:
        where.append("ts >= ?")
        args.append(since)
    if until is not None:
        where.append("ts < ?")
        args.append(until)
    return where or ["1 = 1"], args


def event_json(row):
    """A stored row as the API shows it."""
    return {"id": row["id"], "uuid": row["uuid"], "time": row["time"], "kind": row["kind"],
            "topic": row["topic"], "username": row["username"], "job": row["job"],
            "device": row["device"], "worker": row["worker"], "submitter": row["submitter"],
            "device_type": row["device_type"], "state": row["state"], "health": row["health"],
            "data": json.loads(row["data"]), "frames": json.loads(row["frames"])}
