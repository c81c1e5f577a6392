"""The event store: every accepted event, as received and as parsed; retention; queries.

In SQLite (a file under data_dir) or, for web processes on several machines, in a PostgreSQL server:
one set of queries, and the few differences (connecting, transactions, placeholders, the id column,
rounding down) in PostgresStore's overrides.

Writes are queued by ingest and committed in batches, one transaction each, from a worker thread, so
that a burst does not slow ingest and the database never blocks the green hub. Each thread has its
own connection (SQLite in WAL mode: readers do not wait for the writer). Ids only grow, so a cursor on
them is stable while events arrive and old ones are pruned.
"""
import collections
import contextlib
import datetime as dt
import functools
import importlib
import itertools
import json
import logging
import os
import re
import sqlite3
import sys
import threading
import time
import types

from dashboard.core import jsontext, rollups
from dashboard.core.events import job_id
from dashboard.core.limits import MAX_NAME_LENGTH
from dashboard.core.ratelimit import RateLimiter
from dashboard.core.state import CORRECTION_KIND, STORED_KIND
from dashboard.core.redact import split_secrets

log = logging.getLogger("dashboard.storage.store")

# Types that mean the same in both: SQLite reads BIGINT as INTEGER and DOUBLE PRECISION as REAL.
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id {id_column},
    uuid TEXT NOT NULL,
    time TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    username TEXT,
    job BIGINT,
    device TEXT,
    worker TEXT,
    submitter TEXT,
    device_type TEXT,
    state TEXT,
    health TEXT,
    data TEXT NOT NULL,
    frames TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, id);
CREATE INDEX IF NOT EXISTS events_kind_ts ON events(kind, ts);
CREATE INDEX IF NOT EXISTS events_device_ts ON events(device, ts);
CREATE INDEX IF NOT EXISTS events_device ON events(device, id);
CREATE INDEX IF NOT EXISTS events_job ON events(job, id);
CREATE INDEX IF NOT EXISTS events_worker ON events(worker, id);
CREATE INDEX IF NOT EXISTS events_submitter ON events(submitter, id);
-- The writer process's progress (EventStore.insert_once): of its app run's (token) request seq,
-- the first `rows` rows are done with, `stored` of them stored (the others refused).
CREATE TABLE IF NOT EXISTS writer_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    token TEXT NOT NULL,
    seq BIGINT NOT NULL,
    rows BIGINT NOT NULL,
    stored BIGINT NOT NULL
);
-- (Its first form, writer_batch, is left where it exists: an older ingest process on the same file
-- may still write it.)
CREATE TABLE IF NOT EXISTS model_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id BIGINT NOT NULL,
    saved DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    alert_key TEXT NOT NULL,
    rule TEXT NOT NULL,
    status TEXT NOT NULL,
    fired_at DOUBLE PRECISION NOT NULL,
    resolved_at DOUBLE PRECISION,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_fired ON alerts(fired_at);
CREATE TABLE IF NOT EXISTS rollup_hourly (
    hour BIGINT NOT NULL,
    kind TEXT NOT NULL,
    device TEXT NOT NULL,
    device_type TEXT NOT NULL,
    worker TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (hour, kind, device, device_type, worker)
);
-- The totals (device '*') and one board's hours without reading every board's.
CREATE INDEX IF NOT EXISTS rollup_device_hour ON rollup_hourly(device, hour);
CREATE TABLE IF NOT EXISTS rollup_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    complete INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts(status, fired_at);
-- Where each board's time went, per hour (width 3600) and per UTC day (86400): core.rollups.
CREATE TABLE IF NOT EXISTS rollup_time (
    width INTEGER NOT NULL,
    period BIGINT NOT NULL,
    device TEXT NOT NULL,
    device_type TEXT NOT NULL,
    worker TEXT NOT NULL,
    running_s DOUBLE PRECISION NOT NULL DEFAULT 0,
    idle_s DOUBLE PRECISION NOT NULL DEFAULT 0,
    maintenance_s DOUBLE PRECISION NOT NULL DEFAULT 0,
    bad_s DOUBLE PRECISION NOT NULL DEFAULT 0,
    retired_s DOUBLE PRECISION NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    repairs BIGINT NOT NULL DEFAULT 0,
    repair_s DOUBLE PRECISION NOT NULL DEFAULT 0,
    jobs_run BIGINT NOT NULL DEFAULT 0,
    jobs_completed BIGINT NOT NULL DEFAULT 0,
    checks BIGINT NOT NULL DEFAULT 0,
    passed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (width, period, device, device_type, worker)
){clustered};
-- Finished jobs per UTC day and health, per device type (device '*') and per device: the outcome chart.
CREATE TABLE IF NOT EXISTS rollup_outcome (
    period BIGINT NOT NULL,
    device TEXT NOT NULL,
    device_type TEXT NOT NULL,
    health TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (period, device, device_type, health)
){clustered};
-- Queue waits of the finished jobs per device type, hour and day: a histogram (core.rollups).
CREATE TABLE IF NOT EXISTS rollup_wait (
    width INTEGER NOT NULL,
    period BIGINT NOT NULL,
    device_type TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (width, period, device_type, bucket)
){clustered};
-- Each board's open span: its last stored transition.
CREATE TABLE IF NOT EXISTS device_span (
    device TEXT PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    state TEXT,
    health TEXT,
    device_type TEXT,
    worker TEXT,
    bad_since DOUBLE PRECISION,
    health_since DOUBLE PRECISION
);
-- Each finished job once (its first Finished): what reports count, and its queue wait.
CREATE TABLE IF NOT EXISTS finished_jobs (
    job BIGINT PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    device TEXT,
    device_type TEXT,
    worker TEXT,
    health TEXT,
    health_check INTEGER NOT NULL,
    wait_s DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS finished_jobs_ts ON finished_jobs(ts);
-- The queue per device type (and '*': in all): the most jobs Submitted in each 15 minutes, and
-- how many at the step's last change; and the jobs queued now.
CREATE TABLE IF NOT EXISTS rollup_queue (
    device_type TEXT NOT NULL,
    step BIGINT NOT NULL,
    most BIGINT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (device_type, step)
);
CREATE TABLE IF NOT EXISTS queued_jobs (
    job BIGINT PRIMARY KEY,
    device_type TEXT NOT NULL,
    since DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS rollup_time_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    complete INTEGER NOT NULL
);
"""
COLUMNS = ("id", "uuid", "time", "ts", "received", "kind", "topic", "username", "job", "device",
           "worker", "submitter", "device_type", "state", "health", "data", "frames")
FILTERS = ("kind", "device", "job", "worker", "submitter", "device_type")
# Hourly counts of stored events per kind, device, device type and worker ('' for none), kept in
# the same transaction as the events: the events chart reads them instead of scanning its window.
ROLLUP_UPSERT = ("INSERT INTO rollup_hourly (hour, kind, device, device_type, worker, n) "
                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hour, kind, device, device_type, worker) "
                 "DO UPDATE SET n = rollup_hourly.n + excluded.n")
ROLLUP_FILTERS = ("kind", "device", "device_type", "worker")
GROUP_COLUMNS = {"device": "device", "device_type": "device_type", "worker": "worker"}
# Each hour's and kind's total is a row of its own, under this name for device, type and worker
# (no LAVA name is "*"): an unfiltered chart reads one row per hour and kind.
TOTAL = "*"
INSERT = f"INSERT INTO events ({', '.join(COLUMNS[1:])}) VALUES ({', '.join('?' * (len(COLUMNS) - 1))})"
# SQLite's insert of the events (EventStore.events_insert): a refused row ends the whole transaction
# at once, which is what a batch does anyway (_insert rolls it back and stores it row by row).
# Under SQLite's default (ABORT) a statement that refuses a row must undo its own earlier rows, so
# SQLite copies every page each statement of many rows is about to change, in a transaction already
# under way, to a statement journal (a temporary file) first: in bench/indexes.py, 13 KB of the 21 KB
# the insert wrote per event, and 1.28 times its CPU (docs/performance.md, "The statement journal").
# (The roll-ups' upserts keep theirs: SQLite's DO UPDATE always aborts, whatever the INSERT says.)
# A caller must not catch a refused row's error and go on in the same transaction: SQLite has
# rolled it back already, and what follows would commit on its own.
SQLITE_INSERT = INSERT.replace("INSERT INTO", "INSERT OR ROLLBACK INTO", 1)
# Rows per statement when a batch is written (events, and the roll-ups' upserts). Python's sqlite3
# lets go of the GIL around each statement's step and must take it back after: with one row a
# statement, the writer thread queued for the GIL behind the busy hub once per row (up to the
# interpreter's 5 ms switch interval each time), and storing halved the ingest rate
# (bench/store.py). 64 rows × 16 columns stay far below SQLite's 32,766 variables (PostgreSQL: 65,535);
# a SQLite older than 3.32 allows only 999 (rows_for).
ROWS_PER_STATEMENT = 64
OLD_SQLITE_VARIABLES = 999 if sqlite3.sqlite_version_info < (3, 32, 0) else None


def rows_for(columns, old_sqlite_limit=OLD_SQLITE_VARIABLES):
    """Rows per statement for rows of `columns` values, within the database's variables."""
    if old_sqlite_limit is None:
        return ROWS_PER_STATEMENT
    return max(1, min(ROWS_PER_STATEMENT, old_sqlite_limit // max(1, columns)))


# libpq settings, unless the URL gives them: a server that cannot be reached, or vanishes from the
# network, is an error within about a minute instead of a thread stuck for TCP's timeouts (hours).
PG_DEFAULTS = {"connect_timeout": "10", "keepalives_idle": "30", "keepalives_interval": "10",
               "keepalives_count": "3", "tcp_user_timeout": "60000"}
PG_WRITE_LOCK = 0x4C415641  # an advisory lock id of our own ("LAVA")
TIME_UPSERT = (f"INSERT INTO rollup_time (width, period, device, device_type, worker, "
               f"{', '.join(rollups.SUMS)}) VALUES ({', '.join('?' * (5 + len(rollups.SUMS)))}) "
               f"ON CONFLICT (width, period, device, device_type, worker) DO UPDATE SET "
               + ", ".join(f"{c} = rollup_time.{c} + excluded.{c}" for c in rollups.SUMS))
SPAN_UPSERT = ("INSERT INTO device_span (device, ts, state, health, device_type, worker, bad_since, "
               "health_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET "
               "ts = excluded.ts, state = excluded.state, health = excluded.health, "
               "device_type = excluded.device_type, worker = excluded.worker, "
               "bad_since = excluded.bad_since, health_since = excluded.health_since")
JOB_INSERT = ("INSERT INTO finished_jobs (job, ts, device, device_type, worker, health, health_check, "
              "wait_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job) DO NOTHING")
QUEUE_UPSERT = ("INSERT INTO rollup_queue (device_type, step, most, last) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (device_type, step) DO UPDATE SET most = CASE WHEN excluded.most > "
                "rollup_queue.most THEN excluded.most ELSE rollup_queue.most END, last = excluded.last")
QUEUED_UPSERT = ("INSERT INTO queued_jobs (job, device_type, since) VALUES (?, ?, ?) "
                 "ON CONFLICT (job) DO UPDATE SET device_type = excluded.device_type, since = excluded.since")
TIME_TABLES = ("rollup_time", "device_span", "finished_jobs", "rollup_queue", "queued_jobs",
               "rollup_wait", "rollup_outcome")
OUTCOME_UPSERT = ("INSERT INTO rollup_outcome (period, device, device_type, health, n) VALUES (?, ?, ?, ?, ?) "
                  "ON CONFLICT (period, device, device_type, health) DO UPDATE SET n = rollup_outcome.n + excluded.n")
WAIT_UPSERT = ("INSERT INTO rollup_wait (width, period, device_type, bucket, n) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT (width, period, device_type, bucket) DO UPDATE SET n = rollup_wait.n + excluded.n")
DEVICE_TOPIC = f"dashboard.device.{CORRECTION_KIND}"
JOB_TOPIC = f"dashboard.testjob.{CORRECTION_KIND}"


def row_for(event, frames, context, received):
    """The stored row of one accepted event; `context` fills what the event itself does not say
    (a test-shell message's job's device, worker and submitter). `frames` are the event's frames as
    received: an event parse_frames made carries their text (Event.text), which is used instead."""
    d = event.data
    kind = event.kind
    if kind == CORRECTION_KIND:  # the columns describe the corrected object, as LAVA has it now
        kind, d = _correction_columns(d)
    job = job_id(d.get("job"))  # beyond the columns' integers: kept in `data` only
    device = d.get("device") if kind in ("device", "testjob") else context.get("device")
    worker = d.get("hostname") if kind == "worker" else d.get("worker", context.get("worker"))
    submitter = d.get("submitter") if kind == "testjob" else context.get("submitter")
    if kind == "testjob" and submitter is None:
        submitter = event.username
    device_type = d.get("device_type", context.get("device_type"))
    state, health = d.get("state"), d.get("health")
    # Unknown topics (and `event`) may carry anything under these names, unchecked by the parser:
    # only text of a name's length goes into the columns, which are keys of the roll-ups and of
    # the indexes (`data` and `frames` keep the event as received).
    # (Written out, not as a loop: every stored event comes through here, on the loop.)
    device = device if isinstance(device, str) and len(device) <= MAX_NAME_LENGTH else None
    worker = worker if isinstance(worker, str) and len(worker) <= MAX_NAME_LENGTH else None
    submitter = submitter if isinstance(submitter, str) and len(submitter) <= MAX_NAME_LENGTH else None
    device_type = (device_type if isinstance(device_type, str) and len(device_type) <= MAX_NAME_LENGTH
                   else None)
    state = state if isinstance(state, str) and len(state) <= MAX_NAME_LENGTH else None
    health = health if isinstance(health, str) and len(health) <= MAX_NAME_LENGTH else None
    columns = (event.uuid, event.iso, event.time.timestamp(), received, event.kind, event.topic,
               event.username, job, device, worker, submitter, device_type, state, health)
    # PostgreSQL's text cannot hold NUL: the column copies lose it on both backends (data and frames
    # keep it, JSON-escaped), so that both store the same event.
    # (One search of the text columns together: the ISO time has no NUL, and the kind is the
    # topic's last part.)
    if ("\0" in f"{event.uuid}{event.topic}{event.username}{device}{worker}"
            or "\0" in f"{submitter}{device_type}{state}{health}"):
        columns = tuple(v.replace("\0", "\ufffd") if isinstance(v, str) else v for v in columns)
    # (The event's own text of its frames, when the parser made it: the same, decoded once.)
    frames = event.text or [f.decode("utf-8", "replace") if type(f) is bytes
                            else f if isinstance(f, str) else bytes(f).decode("utf-8", "replace")
                            for f in frames]
    return (*columns, jsontext.dumps(event.data), jsontext.dumps(frames))


_ONE_ROW = re.compile(r"VALUES (\((?:\?, )*\?\))")


@functools.lru_cache(maxsize=64)
def rows_per_statement(sql, n):
    """One row's `INSERT ... VALUES (?, ...) [ON CONFLICT ...]` made to take n rows."""
    match = _ONE_ROW.search(sql)
    return sql[:match.start(1)] + ", ".join([match.group(1)] * n) + sql[match.end(1):]


def _correction_columns(data):
    """(stored kind, data in that kind's event shape) of a correction's object."""
    kind = STORED_KIND.get(data.get("object"), "event")
    record = data.get("record") if isinstance(data.get("record"), dict) else {}
    key = {"device": "device", "testjob": "job", "worker": "hostname"}.get(kind, "id")
    return kind, {**{k: v for k, v in record.items() if k not in ("id", "hostname")},
                  key: data.get("id")}


_SQLITE_MEMORY = []  # [function] once looked up: SQLite's own count of the heap it holds


def sqlite_memory_mb():
    """MB of heap SQLite holds in this process (its page caches above all), as SQLite counts it;
    None where the library cannot be asked (a Python built with SQLite inside it)."""
    if not _SQLITE_MEMORY:
        import ctypes
        import ctypes.util
        try:
            fn = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0").sqlite3_memory_used
            fn.restype = ctypes.c_int64
        except (OSError, AttributeError):
            fn = None
        _SQLITE_MEMORY.append(fn)
    fn = _SQLITE_MEMORY[0]
    return None if fn is None else round(fn() / 1e6, 1)


def unpatched(module, *names):
    """The functions `names` of a standard module as they were before eventlet or gevent patched it
    (whichever the app runs on), as attributes: what real OS threads, and a hub that may block,
    must use."""
    if "eventlet" in sys.modules:
        from eventlet import patcher
        original = patcher.original(module)
        values = [getattr(original, name) for name in names]
    elif "gevent" in sys.modules:
        from gevent import monkey
        values = monkey.get_original(module, list(names))
    else:
        original = importlib.import_module(module)
        values = [getattr(original, name) for name in names]
    return types.SimpleNamespace(**dict(zip(names, values)))


def os_thread_rlock():
    """A lock between OS threads, even where eventlet or gevent patched `threading`.

    Writes come from real threads (eventlet's tpool, gevent's threadpool) and now and then from the
    hub's thread. A green lock cannot be shared between OS threads: under eventlet a writer waiting
    on it from a tpool thread is never woken, and the store (and every caller waiting on it, such as
    the alert engine) stops for good. The lock is held only around SQLite calls, which never yield.
    """
    return unpatched("_thread", "RLock").RLock()


def open_store(database, default_path):
    """The store `database` names: empty → SQLite at default_path; a postgresql:// (or postgres://)
    URL → that PostgreSQL database. Anything else is a ValueError."""
    if not database:
        return EventStore(default_path)
    if database.startswith(("postgresql://", "postgres://")):
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


class EventStore:
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
        self.last_error = None
        self.failing = False  # the last batch wrote nothing: /healthz says the store is degraded
        self.log = RateLimiter(5.0, time.monotonic)  # one store error line per 5 s and kind
        schema = SCHEMA.format(id_column=self.id_column, clustered=self.clustered)
        self._create_schema(schema)
        if not self._time_tables_current():  # made by an older build: made anew, then rebuilt
            with self._transaction() as conn:
                for table in (*TIME_TABLES, "rollup_time_state"):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
            self._create_schema(schema)
        self._tracker = rollups.Tracker(self._open_spans(), self._queued())
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
            with self._writer:  # commits, or rolls back on an exception
                yield self._writer

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
            try:
                written = self._insert(rows)
            finally:
                self.in_flight = 0
                # Counted off once written (or lost): the queue's bound holds what is in flight too.
                self._chars_out += sum([len(row[-1]) + len(row[-2]) for row in rows])
            self.written += written
            self.last_batch = written
            self.failing = written == 0
            return written

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
        per = rows_for(len(rows[0])) if self.placeholder == "?" else ROWS_PER_STATEMENT
        whole = len(rows) - len(rows) % per
        cursor = conn.cursor()
        if whole:
            flat = itertools.chain.from_iterable
            cursor.executemany(self._sql(rows_per_statement(sql, per)), [
                list(flat(rows[i:i + per])) for i in range(0, whole, per)])
        if whole < len(rows):
            cursor.executemany(self._sql(sql), rows[whole:])

    def _count_rollups(self, conn, rows):
        """Count rows into the roll-ups, on the transaction's connection; returns what the open
        spans become once it commits (Tracker.commit's arguments)."""
        # Counted by Counter's C loop, then the totals from the counts (far fewer than the rows):
        # the writer process runs this for every stored event (docs/performance.md, "The roll-ups'
        # Python").
        counts = collections.Counter([(int(row[2] // 3600 * 3600), row[4], row[8] or "",
                                       row[11] or "", row[9] or "") for row in rows])
        totals = collections.Counter()
        for (hour, kind, _, _, _), n in counts.items():
            totals[(hour, kind, TOTAL, TOTAL, TOTAL)] += n
        counts.update(totals)  # one entry a key, even for a board named "*" of type "*" on "*"
        devices = [{"ts": row[2], "device": row[8], "device_type": row[11], "worker": row[9],
                    "state": row[12], "health": row[13]} for row in rows
                   if row[4] == "device" or (row[4] == CORRECTION_KIND and row[5] == DEVICE_TOPIC)]
        jobs = [{"ts": row[2], "job": row[7], "device": row[8], "device_type": row[11],
                 "worker": row[9], "state": row[12], "health": row[13], "data": row[14]}
                for row in rows
                if row[4] == "testjob" or (row[4] == CORRECTION_KIND and row[5] == JOB_TOPIC)]
        self._write_many(conn, ROLLUP_UPSERT, [(*key, n) for key, n in counts.items()])
        return self._count_time(conn, self._tracker, devices, jobs)

    def _count_time(self, conn, tracker, devices, jobs):
        sums, updates, late = tracker.plan(devices)
        records = self._first_finishes(conn, jobs)
        waits, outcomes = collections.Counter(), collections.Counter()
        for r in records:  # each job once, where it first finished: counts, and its queue wait
            day = int(r["ts"] // rollups.DAY * rollups.DAY)
            for device in (r["device"] or "", TOTAL):
                outcomes[(day, device, r["device_type"] or "", r["health"] or "")] += 1
            for width in (rollups.HOUR, rollups.DAY):
                period = int(r["ts"] // width * width)
                key = (width, period, r["device"] or "", r["device_type"] or "", r["worker"] or "")
                bucket = sums.setdefault(key, {})
                for name, n in rollups.job_counts(r).items():
                    bucket[name] = bucket.get(name, 0) + n
                if r["wait_s"] is not None:
                    waits[(width, period, r["device_type"] or "", rollups.wait_bucket(r["wait_s"]))] += 1
        if sums:
            self._write_many(conn, TIME_UPSERT, [
                (*key, *(b.get(c, 0) for c in rollups.SUMS)) for key, b in sums.items()])
        if waits:
            self._write_many(conn, WAIT_UPSERT, [
                (*key, n) for key, n in waits.items()])
        if outcomes:
            self._write_many(conn, OUTCOME_UPSERT, [
                (*key, n) for key, n in outcomes.items()])
        if updates:
            self._write_many(conn, SPAN_UPSERT, [
                (device, *span) for device, span in updates.items()])
        if records:
            self._write_many(conn, JOB_INSERT, [
                (r["job"], r["ts"], r["device"], r["device_type"], r["worker"], r["health"],
                 int(r["health_check"]), r["wait_s"]) for r in records])
        steps, overlay, counts = tracker.plan_queue(jobs)
        if steps:
            self._write_many(conn, QUEUE_UPSERT, [
                (key, step, most, last) for (key, step), (most, last) in steps.items()])
        if overlay:
            added = [(job, *entry) for job, entry in overlay.items() if entry is not None]
            gone = [job for job, entry in overlay.items() if entry is None]
            if added:
                self._write_many(conn, QUEUED_UPSERT, added)
            if gone:
                for i in range(0, len(gone), 500):  # one statement per 500 jobs, not one per job
                    chunk = gone[i:i + 500]
                    conn.execute(self._sql(f"DELETE FROM queued_jobs WHERE job IN "
                                           f"({', '.join('?' * len(chunk))})"), chunk)
        return updates, late, overlay, counts

    def _first_finishes(self, conn, jobs):
        """The finished-job records of these testjob rows that are their job's first Finished:
        not already kept, and the first of the batch."""
        records, seen = [], set()
        for r in map(rollups.finished_job, jobs):
            if r is not None and r["job"] not in seen:
                seen.add(r["job"])
                records.append(r)
        if not records:
            return records
        kept = set()
        ids = [r["job"] for r in records]
        for i in range(0, len(ids), 500):  # bounded statements
            chunk = ids[i:i + 500]
            kept.update(row[0] if not isinstance(row, dict) else row["job"] for row in conn.execute(
                self._sql(f"SELECT job FROM finished_jobs WHERE job IN ({', '.join('?' * len(chunk))})"),
                chunk).fetchall())
        return [r for r in records if r["job"] not in kept]

    # -- roll-ups ----------------------------------------------------------------------------
    def rollups_complete(self):
        """Whether the roll-ups cover every stored event (else they are rebuilt first)."""
        rows = self._rows("SELECT complete FROM rollup_state WHERE id = 1")
        return bool(rows and rows[0]["complete"])

    def rebuild_rollups(self, since_hour=None):
        """Count the roll-ups again from the events (all, or from `since_hour` on), in one
        transaction; returns the number of roll-up rows."""
        hour = self.floor.format(x="ts / 3600") + " * 3600"
        where, args = ("WHERE ts >= ?", (since_hour,)) if since_hour is not None else ("", ())
        with self._transaction() as conn:
            if since_hour is None:
                conn.execute("DELETE FROM rollup_hourly")
            else:
                conn.execute(self._sql("DELETE FROM rollup_hourly WHERE hour >= ?"), (since_hour,))
            conn.execute(self._sql(
                f"INSERT INTO rollup_hourly (hour, kind, device, device_type, worker, n) "
                f"SELECT {hour} AS h, kind, COALESCE(device, ''), COALESCE(device_type, ''), "
                f"COALESCE(worker, ''), COUNT(*) FROM events {where} "
                f"GROUP BY h, kind, COALESCE(device, ''), COALESCE(device_type, ''), "
                f"COALESCE(worker, '')"), args)
            conn.execute(self._sql(
                f"INSERT INTO rollup_hourly (hour, kind, device, device_type, worker, n) "
                f"SELECT {hour} AS h, kind, '{TOTAL}', '{TOTAL}', '{TOTAL}', COUNT(*) FROM events "
                f"{where} GROUP BY h, kind"), args)
            conn.execute("INSERT INTO rollup_state (id, complete) VALUES (1, 1) "
                         "ON CONFLICT (id) DO UPDATE SET complete = 1")
        return self._rows("SELECT COUNT(*) AS n FROM rollup_hourly")[0]["n"]

    def ensure_rollups(self):
        """Rebuild the roll-ups when they are missing (a store from before them); True if built."""
        built = False
        if not self.rollups_complete():
            self.rebuild_rollups()
            built = True
        if not self.time_rollups_complete():
            self.rebuild_time_rollups()
            built = True
        return built

    def time_rollups_complete(self):
        """Whether the time roll-ups cover every stored event (else they are rebuilt first)."""
        rows = self._rows("SELECT complete FROM rollup_time_state WHERE id = 1")
        return bool(rows and rows[0]["complete"])

    def _time_tables_current(self):
        """Whether the time roll-ups' tables have every column this build writes."""
        try:
            self._rows(f"SELECT {', '.join(rollups.SUMS)} FROM rollup_time LIMIT 0")
            self._rows("SELECT health_since FROM device_span LIMIT 0")
            self._rows("SELECT bucket FROM rollup_wait LIMIT 0")
            self._rows("SELECT n FROM rollup_outcome LIMIT 0")
            return True
        except Exception:
            return False

    def _queued(self):
        return {r["job"]: (r["device_type"], r["since"])
                for r in self._rows("SELECT job, device_type, since FROM queued_jobs")}

    def _open_spans(self):
        return {r["device"]: (r["ts"], r["state"], r["health"], r["device_type"], r["worker"],
                              r["bad_since"], r["health_since"])
                for r in self._rows("SELECT * FROM device_span")}

    def rebuild_time_rollups(self, page=20_000):
        """Count the time roll-ups, open spans and finished jobs again from the stored device and
        job transitions, oldest first, in one transaction; returns the number of rows read."""
        tracker = rollups.Tracker()
        sql = self._sql(
            "SELECT id, ts, kind, topic, job, device, device_type, worker, state, health, data "
            "FROM events WHERE kind IN ('device', 'testjob', ?) AND ts >= ? AND (ts > ? OR id > ?) "
            "AND (kind <> ? OR topic IN (?, ?)) ORDER BY ts, id LIMIT ?")
        with self._write_lock:
            read = self._rebuild_time(tracker, sql, page)
            self._tracker = tracker  # once the rebuild committed
        return read

    def _rebuild_time(self, tracker, sql, page):
        read = 0
        with self._transaction() as conn:
            for table in TIME_TABLES:
                conn.execute(f"DELETE FROM {table}")
            ts, ident = -1e300, 0
            for _ in range(100_000):  # bounded: 2,000 million rows at most
                rows = conn.execute(sql, (CORRECTION_KIND, ts, ts, ident, CORRECTION_KIND,
                                          DEVICE_TOPIC, JOB_TOPIC, page)).fetchall()
                devices, jobs = [], []
                for r in rows:
                    if r["kind"] == "device" or r["topic"] == DEVICE_TOPIC:
                        devices.append(dict(r))
                    elif r["kind"] == "testjob" or r["topic"] == JOB_TOPIC:
                        jobs.append(dict(r))
                tracker.commit(*self._count_time(conn, tracker, devices, jobs))
                read += len(rows)
                if len(rows) < page:
                    break
                ts, ident = rows[-1]["ts"], rows[-1]["id"]
            conn.execute("INSERT INTO rollup_time_state (id, complete) VALUES (1, 1) "
                         "ON CONFLICT (id) DO UPDATE SET complete = 1")
        return read

    def _prune_time_rollups(self):
        """After retention: what the roll-ups hold of time before the oldest stored event goes."""
        oldest = self._rows("SELECT MIN(ts) AS t FROM events")[0]["t"]
        with self._write_lock:
            if oldest is None:
                with self._transaction() as conn:
                    for table in TIME_TABLES:
                        conn.execute(f"DELETE FROM {table}")
                self._tracker = rollups.Tracker()
                return
            kept = rollups.Tracker(self._tracker.last, self._tracker.queued)
            dropped = kept.forget_before(oldest)
            # The queue lengths the forgotten jobs leave: a step row now, so the chart follows.
            step = int(time.time() // rollups.QUEUE_STEP * rollups.QUEUE_STEP)
            with self._transaction() as conn:
                conn.execute(self._sql("DELETE FROM rollup_time WHERE period + width <= ?"), (oldest,))
                conn.execute(self._sql("DELETE FROM rollup_wait WHERE period + width <= ?"), (oldest,))
                conn.execute(self._sql("DELETE FROM rollup_outcome WHERE period + ? <= ?"),
                             (rollups.DAY, oldest))
                conn.execute(self._sql("DELETE FROM finished_jobs WHERE ts < ?"), (oldest,))
                conn.execute(self._sql("DELETE FROM device_span WHERE ts < ?"), (oldest,))
                conn.execute(self._sql("DELETE FROM rollup_queue WHERE step + ? <= ?"),
                             (rollups.QUEUE_STEP, oldest))
                conn.execute(self._sql("DELETE FROM queued_jobs WHERE since < ?"), (oldest,))
                if dropped:
                    conn.cursor().executemany(self._sql(QUEUE_UPSERT), [
                        (key, step, before, after) for key, (before, after) in dropped.items()])
            kept.out_of_order = self._tracker.out_of_order
            self._tracker = kept  # once the transaction committed

    # -- reading the time roll-ups (reports) -------------------------------------------------
    def time_sums(self, group, lo, hi, filters=None, with_days=True):
        """(totals, days) of the closed spans in [lo, hi), both whole hours: whole days from the
        daily rows, the hours of the days at either end from the hourly ones. totals: {group
        value: {sum: total}}; days: {(group value, UTC day): [available s, known s]}, the
        sparklines'. `filters`: {device, device_type, worker: value} the spans must have."""
        col = GROUP_COLUMNS[group]
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        assert set(filters) <= set(GROUP_COLUMNS)  # names are ours, never the user's
        extra = "".join(f" AND {k} = ?" for k in filters)
        day, d0, d1 = rollups.DAY, -(-lo // rollups.DAY) * rollups.DAY, hi // rollups.DAY * rollups.DAY
        if d0 <= d1:
            parts = [(rollups.HOUR, lo, d0, d0 - day), (rollups.DAY, d0, d1, None),
                     (rollups.HOUR, d1, hi, d1)]
        else:  # within one day
            parts = [(rollups.HOUR, lo, hi, lo // day * day)]
        sums = ", ".join(f"SUM({c}) AS {c}" for c in rollups.SUMS)  # named: PostgreSQL's rows are dicts
        available = "SUM(running_s + idle_s) AS a"
        known = f"SUM({' + '.join(rollups.SECONDS.values())}) AS k"
        counts = [c in rollups.COUNTS for c in rollups.SUMS]
        totals, days = {}, {}
        for width, a, b, fixed_day in parts:
            if a >= b:
                continue
            where = f"WHERE width = ? AND period >= ? AND period < ?{extra}"
            args = (width, int(a), int(b), *filters.values())
            for r in self._rows(f"SELECT {col} AS g, {sums} FROM rollup_time {where} GROUP BY {col}", args):
                r = tuple(r.values()) if isinstance(r, dict) else tuple(r)
                bucket = totals.get(r[0])
                if bucket is None:
                    bucket = totals[r[0]] = dict.fromkeys(rollups.SUMS, 0)
                for c, is_count, value in zip(rollups.SUMS, counts, r[1:]):
                    if value:  # (PostgreSQL sums BIGINTs as NUMERIC: Decimal)
                        bucket[c] += int(value) if is_count else float(value)
            if not with_days:
                continue
            # Hourly rows lie in one day (fixed_day); daily rows are their own day.
            by, d = (col, "0") if fixed_day is not None else (f"period, {col}", "period")
            for r in self._rows(f"SELECT {col} AS g, {d} AS d, {available}, {known} FROM rollup_time "
                                f"{where} GROUP BY {by}", args):
                r = tuple(r.values()) if isinstance(r, dict) else tuple(r)
                key = (r[0], int(r[1]) if fixed_day is None else int(fixed_day))
                entry = days.get(key)
                if entry is None:
                    entry = days[key] = [0.0, 0.0]
                entry[0] += float(r[2] or 0)
                entry[1] += float(r[3] or 0)
        return totals, days

    def open_spans(self, filters=None):
        """Each board's last stored transition: device → span (core.rollups.Tracker), of the
        boards whose last span has `filters` ({device, device_type, worker: value})."""
        index = {"device_type": 3, "worker": 4}
        return {d: span for d, span in self._open_spans().items()
                if all(v is None or (d if k == "device" else span[index[k]]) == v
                       for k, v in (filters or {}).items())}

    def queue_points(self, device_type, start, end, step):
        """The queue chart from its roll-up: [(step end, most jobs queued in it)] over [start,
        end) in steps of `step` (start and step multiples of rollups.QUEUE_STEP), of one device
        type or (None) in all."""
        key = rollups.ALL if device_type is None else device_type
        before = self._rows("SELECT last FROM rollup_queue WHERE device_type = ? AND step < ? "
                            "ORDER BY step DESC LIMIT 1", (key, int(start)))
        rows = self._rows("SELECT step, most, last FROM rollup_queue WHERE device_type = ? "
                          "AND step >= ? AND step < ? ORDER BY step", (key, int(start), int(end)))
        return rollups.queue_points(int(before[0]["last"]) if before else 0,
                                    [(r["step"], int(r["most"]), int(r["last"])) for r in rows],
                                    start, end, step)

    def outcome_days(self, since, until, filters=None):
        """{UTC day ISO: {health: jobs}} of the jobs that first finished on the UTC days from
        since's to until's (the outcome chart: whole days), from their roll-up; `filters` on
        device or device_type."""
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        assert set(filters) <= {"device", "device_type"}  # names are ours, never the user's
        where = ["period >= ?", "period < ?"]
        args = [int(since // rollups.DAY * rollups.DAY), int(until)]
        if "device" in filters:
            where.append("device = ?")
            args.append(filters["device"])
        else:
            where.append(f"device = '{TOTAL}'")
        if "device_type" in filters:
            where.append("device_type = ?")
            args.append(filters["device_type"])
        out = {}
        for r in self._rows(f"SELECT period, health, SUM(n) AS n FROM rollup_outcome WHERE "
                            f"{' AND '.join(where)} GROUP BY period, health", args):
            iso = dt.datetime.fromtimestamp(int(r["period"]), dt.timezone.utc).date().isoformat()
            out.setdefault(iso, {})[r["health"] or None] = int(r["n"])
        return dict(sorted(out.items()))

    def wait_percentiles(self, lo, hi, fractions=(0.5, 0.95)):
        """{device type: {fraction: queue wait}} of the jobs first finished in [lo, hi) (whole
        hours), from the waits' histogram (core.rollups.histogram_percentiles): whole days from
        the daily rows, the hours at either end from the hourly ones."""
        d0, d1 = -(-lo // rollups.DAY) * rollups.DAY, hi // rollups.DAY * rollups.DAY
        parts = ([(rollups.HOUR, lo, d0), (rollups.DAY, d0, d1), (rollups.HOUR, d1, hi)]
                 if d0 <= d1 else [(rollups.HOUR, lo, hi)])
        histograms = {}
        for width, a, b in parts:
            if a >= b:
                continue
            for r in self._rows("SELECT device_type, bucket, SUM(n) AS n FROM rollup_wait WHERE "
                                "width = ? AND period >= ? AND period < ? GROUP BY device_type, "
                                "bucket", (width, int(a), int(b))):
                counts = histograms.setdefault(r["device_type"], collections.Counter())
                counts[int(r["bucket"])] += int(r["n"])
        return {key: rollups.histogram_percentiles(counts, fractions)
                for key, counts in histograms.items()}

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

    def alerts(self, status=None, since=None, until=None, limit=100):
        """Kept alerts, newest first: those firing, resolved, or all (status None), fired in a
        range."""
        where, args = [], []
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
        """The id of the event shown to every viewer (a device's, a worker's, a job's state or a
        correction: never a job's message, which is hidden with its job) nearest to time `ts`:
        the newest before it (`side` "before") or the oldest at or after it ("after"); None when
        there is none. A step along the time index (web/paging.py: where an export's ids begin
        and end, which must not depend on rows hidden from its viewer)."""
        cond, order = ("ts < ?", "DESC") if side == "before" else ("ts >= ?", "ASC")
        # (`+job`, `kind || ''`: SQLite would otherwise join two other indexes for the OR and sort
        # all they give, a second a million rows; both are valid in PostgreSQL too.)
        found = self._rows(f"SELECT id FROM events WHERE {cond} AND (+job IS NULL OR kind || '' IN "
                           f"('device', 'worker', 'testjob', '{CORRECTION_KIND}')) "
                           f"ORDER BY ts {order} LIMIT 1", (ts,))
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

    def stats(self):
        """The /healthz section."""
        dropped, last_dropped = self._losses()
        return {"file": self.display_name, "queued": len(self.queue),
                "queued_chars": self._chars_in - self._chars_out, "written": self.written,
                "dropped": dropped, "last_dropped": last_dropped, "pruned": self.pruned,
                "last_batch": self.last_batch, "last_error": self.last_error,
                "failing": self.failing, "sqlite_memory_mb": self._memory_mb(),
                "rollup_out_of_order": (self._tracker.out_of_order if self.remote is None
                                        else self.remote.state.get("out_of_order", 0)),
                "writer_process": None if self.remote is None else self.remote.stats()}

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

    def buckets(self, width_s, since, until, filters=None, rollups=True):
        """Event counts per time bucket and kind: [(bucket_start_ts, kind, n)], oldest first.
        A bucket starts at a multiple of width_s (rounded down, also before 1970).

        Whole hours come from the roll-ups when they can answer (width a multiple of an hour,
        filters on what they count), the partial hours at either end from the events: the same
        figures as a scan, without reading every row of the window."""
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        if (rollups and since is not None and until is not None and width_s % 3600 == 0
                and set(filters) <= set(ROLLUP_FILTERS) and self.rollups_complete()):
            first, last = -(-since // 3600) * 3600, until // 3600 * 3600
            if first < last:
                counts = collections.Counter()
                for lo, hi in ((since, first), (last, until)):
                    if lo < hi:
                        for b, kind, n in self.buckets(width_s, lo, hi, filters, rollups=False):
                            counts[(b, kind)] += n
                where = ["hour >= ?", "hour < ?"] + [f"{k} = ?" for k in filters]
                if not set(filters) - {"kind"}:  # the totals' rows; else the named ones match
                    where += [f"{k} = '{TOTAL}'" for k in ("device", "device_type", "worker")]
                sql = (f"SELECT {self.floor.format(x='x')} * ? AS b, kind, CAST(SUM(n) AS BIGINT) AS n FROM "
                       f"(SELECT hour / ? AS x, kind, n FROM rollup_hourly "
                       f"WHERE {' AND '.join(where)}) AS r GROUP BY b, kind")
                for r in self._rows(sql, (width_s, float(width_s), first, last, *filters.values())):
                    counts[(r["b"], r["kind"])] += r["n"]
                return [(b, kind, n) for (b, kind), n in sorted(counts.items())]
        where, args = _where(filters, since, until)
        sql = (f"SELECT {self.floor.format(x='x')} * ? AS b, kind, COUNT(*) AS n "
               f"FROM (SELECT ts / ? AS x, kind FROM events WHERE {' AND '.join(where)}) AS e "
               f"GROUP BY b, kind ORDER BY b, kind")
        return [(r["b"], r["kind"], r["n"]) for r in self._rows(sql, (width_s, width_s, *args))]

    def job_buckets(self, width_s, since, until, filters=None, exclude_kinds=(), limit=100_000):
        """Event counts per time bucket, kind and job, of the kinds not excluded:
        [(bucket_start_ts, kind, job, n)], at most `limit` of them (a restricted viewer's
        chart counts only the jobs it may see: web/history.py)."""
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        where, args = _where(filters, since, until, exclude_kinds=exclude_kinds)
        sql = (f"SELECT {self.floor.format(x='x')} * ? AS b, kind, job, COUNT(*) AS n "
               f"FROM (SELECT ts / ? AS x, kind, job FROM events WHERE {' AND '.join(where)}) AS e "
               f"GROUP BY b, kind, job LIMIT ?")
        return [(r["b"], r["kind"], r["job"], r["n"])
                for r in self._rows(sql, (width_s, width_s, *args, int(limit)))]

    def rows(self, kind, since, until, filters=None, columns=("ts", "device", "device_type",
                                                               "state", "health", "job")):
        """Some columns of the rows of one kind in a time range, oldest first (for statistics)."""
        assert set(columns) <= set(COLUMNS)  # names are ours, never the user's
        where, args = _where(dict(filters or {}, kind=kind), since, until, corrections=True)
        sql = (f"SELECT {', '.join(columns)} FROM events WHERE {' AND '.join(where)} "
               f"ORDER BY ts, id LIMIT 2000000")
        return [dict(r) for r in self._rows(sql, args)]

    def outcomes(self, since, until, filters=None):
        """(first finish ts, health) of each job that finished in the range."""
        where, args = _where(dict(filters or {}, kind="testjob"), since, until, corrections=True)
        sql = (f"SELECT ts, job, health, state FROM (SELECT ts, job, health, state, ROW_NUMBER() "
               f"OVER (PARTITION BY job ORDER BY ts, id) AS k FROM events WHERE {' AND '.join(where)} "
               f"AND state = 'Finished') AS f WHERE k = 1 ORDER BY ts, job")
        return [dict(r) for r in self._rows(sql, args)]

    def state_before(self, kind, key, since, filters=None, lookback=None,
                     columns=("ts", "device", "device_type", "state", "health", "job")):
        """For each `key` value, its last row of `kind` before `since` (within `lookback` s)."""
        assert set(columns) <= set(COLUMNS)  # names are ours, never the user's
        where, args = _where(dict(filters or {}, kind=kind), since - lookback if lookback else None,
                             None, corrections=True)
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


class PostgresStore(EventStore):
    """The same store in a PostgreSQL database, shared by web processes on several machines.

    `path` is the URL without its password (it shows in /healthz and in errors). psycopg 3 waits
    for the server in the calling thread, which the app makes a real OS thread (dashboard/green.py):
    under eventlet with its C wait, which blocks only that thread; under gevent with gevent's poll,
    which runs a hub of that thread's own (gevent supports it in its threadpool's workers).
    """

    placeholder = "%s"
    events_insert = INSERT  # (PostgreSQL has no OR ROLLBACK, and no statement journal to spare)
    id_column = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    clustered = ""
    floor = "CAST(floor({x}) AS BIGINT)"  # CAST alone rounds to the nearest

    def __init__(self, url, max_queue=MAX_QUEUE):
        import psycopg
        from psycopg import conninfo

        try:  # libpq's messages may quote the URL: it is parsed without its secrets
            public, secrets = split_secrets(url)
            params = conninfo.conninfo_to_dict(public)
        except (ValueError, psycopg.Error) as exc:
            raise ValueError(f"not a valid PostgreSQL URL ({str(exc).strip()})") from None
        self._conninfo = conninfo.make_conninfo(**{**PG_DEFAULTS, **params, **secrets})
        super().__init__(public, max_queue)

    def _connect(self):
        import psycopg
        from psycopg.rows import dict_row

        # Autocommit: a read never leaves a transaction open; writes say where theirs are.
        return psycopg.connect(self._conninfo, autocommit=True, row_factory=dict_row)

    def _create_schema(self, schema):
        import psycopg

        try:
            with self._transaction() as conn:
                conn.execute(schema)
        except psycopg.Error as exc:  # unreachable, refused, or no right to create the tables
            raise ConnectionError(f"cannot use the database {self.path}: {str(exc).strip()}") from None

    @contextlib.contextmanager
    def _transaction(self):
        conn = self._conn()
        with conn.transaction():
            # Writers one at a time, across processes: ids then become visible in the order they
            # grow, as the cursors need (and two processes creating the schema do not collide).
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_WRITE_LOCK,))
            yield conn

    @staticmethod
    def _memory_mb():
        return None  # the server's, not this process's

    @staticmethod
    def _lost(conn):
        return conn.closed

    @property
    def display_name(self):
        """The URL without its password."""
        return self.path


def _where(filters, since, until, corrections=False, exclude_kinds=()):
    """SQL conditions and their arguments. With `corrections`, a `kind` filter also takes the
    corrections of objects of that kind (statistics count what LAVA said as history too)."""
    where, args = [], []
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
