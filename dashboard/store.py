"""The event store: every accepted event, as received and as parsed, in SQLite; retention; queries.

Writes are queued by ingest and committed in batches, one transaction each, from a worker thread, so
that a burst does not slow ingest and SQLite never blocks the green hub. Each thread has its own
connection (WAL mode: readers do not wait for the writer). Ids only grow (AUTOINCREMENT), so a cursor
on them is stable while events arrive and old ones are pruned.
"""
import collections
import json
import logging
import os
import sqlite3
import threading
import time

log = logging.getLogger("dashboard.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    time TEXT NOT NULL,
    ts REAL NOT NULL,
    received REAL NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    username TEXT,
    job INTEGER,
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
CREATE TABLE IF NOT EXISTS model_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id INTEGER NOT NULL,
    saved REAL NOT NULL,
    body TEXT NOT NULL
);
"""
COLUMNS = ("id", "uuid", "time", "ts", "received", "kind", "topic", "username", "job", "device",
           "worker", "submitter", "device_type", "state", "health", "data", "frames")
FILTERS = ("kind", "device", "job", "worker", "submitter", "device_type")


def row_for(event, frames, context, received):
    """The stored row of one accepted event; `context` fills what the event itself does not say
    (a test-shell message's job's device, worker and submitter)."""
    d = event.data
    kind = event.kind
    job = d.get("job") if isinstance(d.get("job"), int) and not isinstance(d.get("job"), bool) else None
    device = d.get("device") if kind in ("device", "testjob") else context.get("device")
    worker = d.get("hostname") if kind == "worker" else d.get("worker", context.get("worker"))
    submitter = d.get("submitter") if kind == "testjob" else context.get("submitter")
    if kind == "testjob" and submitter is None:
        submitter = event.username
    device_type = d.get("device_type", context.get("device_type"))
    if job is not None and not -2**62 <= job <= 2**62:
        job = None  # beyond SQLite's integers: kept in `data`, not as a column
    device, worker, submitter, device_type, state, health = (
        # Unknown topics may carry anything under these names: only text goes into the columns.
        v if isinstance(v, str) else None
        for v in (device, worker, submitter, device_type, d.get("state"), d.get("health")))
    return (event.uuid, event.time.isoformat(), event.time.timestamp(), received, kind,
            event.topic, event.username, job, device, worker, submitter, device_type,
            state, health, json.dumps(d, separators=(",", ":")),
            json.dumps([bytes(f).decode("utf-8", "replace") if not isinstance(f, str) else f
                        for f in frames], separators=(",", ":")))


class EventStore:
    """SQLite file under data_dir; thread-safe: one connection per thread."""

    def __init__(self, path, max_queue=100_000):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._local = threading.local()
        self.queue = collections.deque()
        self.max_queue = max_queue
        self.dropped = 0
        self.written = 0
        self.pruned = 0
        self.last_batch = 0
        self.in_flight = 0  # rows taken from the queue and not yet committed
        self.last_error = None
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Six indexes over a million rows: with SQLite's default 2 MB cache, inserts turn
            # into random disk reads and the writer falls behind (bench/store.py).
            conn.execute("PRAGMA cache_size=-65536")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    # -- writing ---------------------------------------------------------------------------
    def enqueue(self, row):
        """Queue one row for the next batch; a full queue drops (and counts) instead of growing."""
        if len(self.queue) >= self.max_queue:
            self.dropped += 1
            return False
        self.queue.append(row)
        return True

    def flush(self, max_rows=5000):
        """Write up to max_rows queued rows in one transaction; returns how many were written."""
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
        self.written += written
        self.last_batch = written
        return written

    def _insert(self, rows):
        """Insert rows in one transaction; if that fails, row by row so one bad row loses only itself."""
        sql = (f"INSERT INTO events ({', '.join(COLUMNS[1:])}) "
               f"VALUES ({', '.join('?' * (len(COLUMNS) - 1))})")
        try:
            conn = self._conn()
            with conn:
                conn.executemany(sql, rows)
            return len(rows)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
        written = 0
        for row in rows:
            try:
                with self._conn() as conn:
                    conn.execute(sql, row)
                written += 1
            except Exception as exc:
                self.dropped += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("could not store event %s: %s", row[0], self.last_error)
        return written

    def prune(self, max_age_s, max_rows, now=None, chunk=10_000):
        """Delete events older than max_age_s and beyond the newest max_rows, in chunks."""
        now = time.time() if now is None else now
        conn = self._conn()
        deleted = 0
        limit_id = None
        if max_rows:
            row = conn.execute("SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?",
                               (max_rows,)).fetchone()
            limit_id = row["id"] if row else None
        for _ in range(10_000):  # bounded: at most this many chunks per call
            with conn:
                cur = conn.execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ? OR id <= ? "
                    "ORDER BY id LIMIT ?)", (now - max_age_s if max_age_s else -1,
                                             limit_id if limit_id is not None else -1, chunk))
            deleted += cur.rowcount
            if cur.rowcount < chunk:
                break
        self.pruned += deleted
        return deleted

    # -- the model's snapshot --------------------------------------------------------------
    def save_model(self, body, last_event_id):
        """Keep the model so that a restart starts from it (then replays newer events)."""
        conn = self._conn()
        with conn:
            conn.execute("INSERT OR REPLACE INTO model_snapshot (id, last_event_id, saved, body) "
                         "VALUES (1, ?, ?, ?)", (last_event_id, time.time(), json.dumps(body)))

    def load_model(self):
        """(body, last_event_id) of the saved model, or (None, 0)."""
        row = self._conn().execute("SELECT body, last_event_id FROM model_snapshot WHERE id = 1").fetchone()
        return (json.loads(row["body"]), row["last_event_id"]) if row else (None, 0)

    def last_id(self):
        row = self._conn().execute("SELECT MAX(id) AS m FROM events").fetchone()
        return row["m"] or 0

    def frames_after(self, event_id, limit=1_000_000):
        """The frames of stored events newer than event_id, oldest first (for replay on restart)."""
        cur = self._conn().execute("SELECT id, frames FROM events WHERE id > ? ORDER BY id LIMIT ?",
                                   (event_id, limit))
        for row in cur:
            yield row["id"], [f.encode("utf-8") for f in json.loads(row["frames"])]

    # -- reading ---------------------------------------------------------------------------
    def events(self, filters=None, since=None, until=None, before=None, after=None, limit=100,
               newest_first=True):
        """Stored events matching exact-value filters and a time range, paged by id."""
        where, args = _where(filters, since, until)
        if before is not None:
            where.append("id < ?")
            args.append(before)
        if after is not None:
            where.append("id > ?")
            args.append(after)
        sql = (f"SELECT * FROM events WHERE {' AND '.join(where)} "
               f"ORDER BY id {'DESC' if newest_first else 'ASC'} LIMIT ?")
        return [event_json(r) for r in self._conn().execute(sql, (*args, limit))]

    def stats(self):
        """The /healthz section."""
        return {"path": self.path, "queued": len(self.queue), "written": self.written,
                "dropped": self.dropped, "pruned": self.pruned, "last_batch": self.last_batch,
                "last_error": self.last_error}

    def count(self):
        return self._conn().execute("SELECT COUNT(*) AS n FROM events").fetchone()["n"]

    def buckets(self, width_s, since, until, filters=None):
        """Event counts per time bucket and kind: [(bucket_start_ts, kind, n)]."""
        where, args = _where(filters, since, until)
        sql = (f"SELECT CAST(ts / ? AS INTEGER) * ? AS b, kind, COUNT(*) AS n FROM events "
               f"WHERE {' AND '.join(where)} GROUP BY b, kind ORDER BY b")
        return [(r["b"], r["kind"], r["n"]) for r in self._conn().execute(sql, (width_s, width_s, *args))]

    def rows(self, kind, since, until, filters=None, columns=("ts", "device", "device_type",
                                                               "state", "health", "job")):
        """Some columns of the rows of one kind in a time range, oldest first (for statistics)."""
        assert set(columns) <= set(COLUMNS)  # names are ours, never the user's
        where, args = _where(dict(filters or {}, kind=kind), since, until)
        sql = (f"SELECT {', '.join(columns)} FROM events WHERE {' AND '.join(where)} "
               f"ORDER BY ts, id LIMIT 2000000")
        return [dict(r) for r in self._conn().execute(sql, args)]

    def outcomes(self, since, until, filters=None):
        """(first finish ts, health) of each job that finished in the range."""
        where, args = _where(dict(filters or {}, kind="testjob"), since, until)
        sql = (f"SELECT MIN(ts) AS ts, job, health, state FROM events WHERE {' AND '.join(where)} "
               f"AND state = 'Finished' GROUP BY job ORDER BY ts")
        return [dict(r) for r in self._conn().execute(sql, args)]

    def state_before(self, kind, key, since, filters=None, lookback=None):
        """For each `key` value, its last row of `kind` before `since` (within `lookback` s)."""
        where, args = _where(dict(filters or {}, kind=kind), since - lookback if lookback else None, None)
        where.append("ts < ?")
        args.append(since)
        cols = "ts, device, device_type, state, health, job"
        if (filters or {}).get(key) is not None:  # one object: its newest row, by index
            sql = f"SELECT {cols} FROM events WHERE {' AND '.join(where)} ORDER BY ts DESC LIMIT 1"
            return [dict(r) for r in self._conn().execute(sql, args)]
        sql = (f"SELECT e.ts, e.device, e.device_type, e.state, e.health, e.job FROM events e "
               f"JOIN (SELECT MAX(id) AS id FROM events "
               f"WHERE {' AND '.join(where)} GROUP BY {key}) last ON e.id = last.id")
        return [dict(r) for r in self._conn().execute(sql, args)]


def _where(filters, since, until):
    where, args = [], []
    for field, value in (filters or {}).items():
        if value is None:
            continue
        assert field in FILTERS or field == "kind", field  # names are ours, never the user's
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
