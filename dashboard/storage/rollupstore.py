"""The roll-ups the store keeps beside its events: hourly counts, time per state, job outcomes,
queue lengths and waits. Counted in each write's transaction, rebuilt when missing or made by an
older build, and read by the charts and reports (docs/performance.md, "Roll-ups"). A mixin of
EventStore (storage/store.py), whose connections and transactions it uses."""
import collections
import datetime as dt
import logging
import time

from dashboard.core import rollups
from dashboard.core.state import CORRECTION_KIND
from dashboard.storage.schema import (DEVICE_TOPIC, GROUP_COLUMNS, JOB_INSERT, JOB_TOPIC, OUTCOME_UPSERT,
                                      QUEUE_UPSERT, QUEUED_UPSERT, ROLLUP_UPSERT, SPAN_UPSERT,
                                      TIME_TABLES, TIME_UPSERT, TOTAL, WAIT_UPSERT)

log = logging.getLogger("dashboard.storage.store")
SUMS = rollups.SUMS
ZEROS = (0,) * len(SUMS)


def shown_rollup_rows(exclude):
    """([conditions], args) a roll-up's rows must meet to count for no withheld board or type
    (`exclude`: core.withheld.Withheld.excluded). (Their device and device_type are never NULL:
    '' for none.)"""
    cond, args = withheld_rollup_rows(exclude)
    return [f"NOT {cond}"], args


def withheld_rollup_rows(exclude):
    """(condition, args) of a roll-up's rows that count for a withheld board, or for no board and
    a withheld type."""
    names, types = exclude
    ors, args = [], []
    if names:
        ors.append(f"device IN ({', '.join('?' * len(names))})")
        args += list(names)
    if types:
        ors.append(f"(device = '' AND device_type IN ({', '.join('?' * len(types))}))")
        args += list(types)
    return f"({' OR '.join(ors) or '1 = 0'})", args


# The withheld boards' own counts (subtracted from the roll-ups' totals) kept this long, at most
# this many queries: those boards get no new rows (the screen keeps them out of the store), so
# their counts change only as retention takes old ones (core/withheld.py).
WITHHELD_COUNTS_FOR = 300.0
WITHHELD_COUNTS_KEPT = 64


class Rollups:
    """EventStore's roll-ups (this module's docstring)."""

    def _withheld_rows(self, sql, args):
        """_rows of a query of the withheld boards' own counts, kept for WITHHELD_COUNTS_FOR
        (30 days of 200 boards' hourly rows took 375 ms to read: docs/performance.md)."""
        kept = self.__dict__.setdefault("_withheld_kept", {})
        key, now = (sql, tuple(args)), time.monotonic()
        found = kept.get(key)
        if found is not None and now - found[0] < WITHHELD_COUNTS_FOR:
            return found[1]
        rows = [dict(r) for r in self._rows(sql, args)]
        kept.pop(key, None)
        kept[key] = (now, rows)
        # (Requests' threads may trim at once: list() is one step under the GIL, and a key another
        # one took first is no error.)
        for old in list(kept)[:max(0, len(kept) - WITHHELD_COUNTS_KEPT)]:
            kept.pop(old, None)
        return rows

    def _totals_less_withheld(self, sql, where, args, total, exclude):
        """Rows of `sql` (its `{where}`: the conditions) summed over the totals' roll-up rows
        (`total`: their conditions), less the same over the withheld boards' own rows (core.withheld;
        `exclude`) when any: [(row, sign)], sign 1 or -1 (the latter's read kept: _withheld_rows)."""
        parts = [(where + total, args, 1)]
        if exclude:
            cond, more = withheld_rollup_rows(exclude)
            parts.append((where + [f"device <> '{TOTAL}'", cond], args + more, -1))
        return [(r, sign) for part, part_args, sign in parts
                for r in (self._rows if sign > 0 else self._withheld_rows)(
                    sql.format(where=" AND ".join(part)), part_args)]

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
            # Each key's sums in SUMS' order, 0 where it has none: map's C loop, not a generator
            # per key (that was 14 % of the writer's insert time, at 12 sums a key).
            self._write_many(conn, TIME_UPSERT, [
                (*key, *map(b.get, SUMS, ZEROS)) for key, b in sums.items()])
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
    def time_sums(self, group, lo, hi, filters=None, with_days=True, exclude=None):
        """(totals, days) of the closed spans in [lo, hi), both whole hours: whole days from the
        daily rows, the hours of the days at either end from the hourly ones. totals: {group
        value: {sum: total}}; days: {(group value, UTC day): [available s, known s]}, the
        sparklines'. `filters`: {device, device_type, worker: value} the spans must have;
        `exclude`: (boards, device types) whose spans are left out (core.withheld)."""
        col = GROUP_COLUMNS[group]
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        assert set(filters) <= set(GROUP_COLUMNS)  # names are ours, never the user's
        extra = "".join(f" AND {k} = ?" for k in filters)
        left_out, left_out_args = shown_rollup_rows(exclude) if exclude else ([], [])
        extra += "".join(f" AND {c}" for c in left_out)
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
            args = (width, int(a), int(b), *filters.values(), *left_out_args)
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

    def stored_boards(self, most):
        """(hostnames, device types) the store holds history of: each board with a stored
        transition and its type, and the types of the stored queues; at most `most` of each (a
        list that holds `most` may be cut short: core.withheld)."""
        boards = self._rows("SELECT device, device_type FROM device_span LIMIT ?", (int(most),))
        queues = self._rows(f"SELECT DISTINCT device_type FROM rollup_queue WHERE device_type <> "
                            f"'{TOTAL}' LIMIT ?", (int(most),))
        # Every board the events' roll-ups count (one with jobs and no stored transition of its
        # own too), one index seek each (rollup_device_hour), not a scan of the table.
        counted = self._rows(
            "WITH RECURSIVE d(device, n) AS (SELECT MIN(device), 1 FROM rollup_hourly UNION ALL "
            "SELECT (SELECT MIN(device) FROM rollup_hourly WHERE device > d.device), n + 1 FROM d "
            "WHERE d.device IS NOT NULL AND n <= ?) SELECT device FROM d WHERE device IS NOT NULL",
            (int(most),))
        names = {r["device"] for r in boards} | {r["device"] for r in counted}
        types = {*(r["device_type"] for r in boards), *(r["device_type"] for r in queues)}
        if not (self.rollups_complete() and self.time_rollups_complete()):
            # Being rebuilt (a store an older build made): the roll-ups do not name every board
            # yet. The events' own boards then, one seek each (events_device), with the type
            # each last said.
            for r in self._rows(
                    "WITH RECURSIVE d(device, n) AS (SELECT MIN(device), 1 FROM events UNION ALL "
                    "SELECT (SELECT MIN(device) FROM events WHERE device > d.device), n + 1 FROM d "
                    "WHERE d.device IS NOT NULL AND n <= ?) SELECT device, (SELECT device_type "
                    "FROM events WHERE device = d.device AND device_type IS NOT NULL ORDER BY id "
                    "DESC LIMIT 1) AS device_type FROM d WHERE device IS NOT NULL", (int(most),)):
                names.add(r["device"])
                types.add(r["device_type"])
        names -= {TOTAL, ""}
        return sorted(names)[:int(most)], list(types - {None})

    def job_types_of(self, devices, lo, hi):
        """The device types of the jobs that first finished on these boards in [lo, hi) (whose
        queue waits are counted under those types)."""
        if not devices:
            return set()
        marks = ", ".join("?" * len(devices))
        return {r["device_type"] for r in self._rows(
            f"SELECT DISTINCT device_type FROM finished_jobs WHERE device IN ({marks}) AND ts >= ? "
            f"AND ts < ?", (*devices, lo, hi)) if r["device_type"]}

    def open_spans(self, filters=None):
        """Each board's last stored transition: device → span (core.rollups.Tracker), of the
        boards whose last span has `filters` ({device, device_type, worker: value})."""
        index = {"device_type": 3, "worker": 4}
        return {d: span for d, span in self._open_spans().items()
                if all(v is None or (d if k == "device" else span[index[k]]) == v
                       for k, v in (filters or {}).items())}

    def health_spans(self, healths, limit):
        """Since when each board has had its health, by its last stored transition: [(device,
        health, health_since)] of at most `limit` boards whose health is one of `healths` (the
        alert rules' memory at a start: LAVA's REST says no `since`)."""
        marks = ", ".join("?" * len(healths))
        return [(r["device"], r["health"], r["health_since"]) for r in self._rows(
            f"SELECT device, health, health_since FROM device_span WHERE health IN ({marks}) "
            f"AND health_since IS NOT NULL LIMIT ?", (*healths, limit))]

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

    def queue_points_of(self, types, start, end, step):
        """{device type: queue_points of that type} for each of `types` (as many as there are:
        500 to a query), each read as queue_points reads one."""
        types, out = sorted(set(types)), {}
        for i in range(0, len(types), 500):
            part = types[i:i + 500]
            marks = ", ".join("?" * len(part))
            carry = {r["device_type"]: int(r["last"]) for r in self._rows(
                f"SELECT q.device_type, q.last FROM rollup_queue q JOIN (SELECT device_type, "
                f"MAX(step) AS step FROM rollup_queue WHERE device_type IN ({marks}) AND step < ? "
                f"GROUP BY device_type) b ON q.device_type = b.device_type AND q.step = b.step",
                (*part, int(start)))}
            rows = {}
            for r in self._rows(f"SELECT device_type, step, most, last FROM rollup_queue WHERE "
                                f"device_type IN ({marks}) AND step >= ? AND step < ? ORDER BY step",
                                (*part, int(start), int(end))):
                rows.setdefault(r["device_type"], []).append(
                    (r["step"], int(r["most"]), int(r["last"])))
            for t in part:
                out[t] = rollups.queue_points(carry.get(t, 0), rows.get(t, []), start, end, step)
        return out

    def outcome_days(self, since, until, filters=None, exclude=None):
        """{UTC day ISO: {health: jobs}} of the jobs that first finished on the UTC days from
        since's to until's (the outcome chart: whole days), from their roll-up; `filters` on
        device or device_type; `exclude`: (boards, device types) whose jobs are taken away from
        the totals (core.withheld)."""
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        assert set(filters) <= {"device", "device_type"}  # names are ours, never the user's
        where = ["period >= ?", "period < ?"]
        # (Periods are UTC days' starts: `until` rounded up to one finds the same, and the kept
        # counts of the withheld, _withheld_rows, keep one key all day.)
        args = [int(since // rollups.DAY * rollups.DAY), int(-(-until // rollups.DAY) * rollups.DAY)]
        if "device_type" in filters:
            where.append("device_type = ?")
            args.append(filters["device_type"])
        sql = "SELECT period, health, SUM(n) AS n FROM rollup_outcome WHERE {where} GROUP BY period, health"
        if "device" in filters:
            read = [(r, 1) for r in self._rows(sql.format(where=" AND ".join(where + ["device = ?"])),
                                               args + [filters["device"]])]
        else:
            read = self._totals_less_withheld(sql, where, args, [f"device = '{TOTAL}'"], exclude)
        counts = collections.Counter()
        for r, sign in read:
            counts[(int(r["period"]), r["health"] or None)] += sign * int(r["n"])
        out = {}
        for (period, health), n in sorted(counts.items(), key=lambda kv: kv[0][0]):
            if n > 0:  # (retention may have taken counts kept a little longer: never below 0)
                iso = dt.datetime.fromtimestamp(period, dt.timezone.utc).date().isoformat()
                out.setdefault(iso, {})[health] = n
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
