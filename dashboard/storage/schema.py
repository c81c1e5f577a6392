"""The event store's tables, columns and statements: the same on SQLite and PostgreSQL (EventStore,
storage/store.py, runs them; PostgresStore changes the placeholders and the id column)."""
import functools
import re
import sqlite3

from dashboard.core import rollups
from dashboard.core.state import CORRECTION_KIND

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


_ONE_ROW = re.compile(r"VALUES (\((?:\?, )*\?\))")


@functools.lru_cache(maxsize=64)
def rows_per_statement(sql, n):
    """One row's `INSERT ... VALUES (?, ...) [ON CONFLICT ...]` made to take n rows."""
    match = _ONE_ROW.search(sql)
    return sql[:match.start(1)] + ", ".join([match.group(1)] * n) + sql[match.end(1):]
