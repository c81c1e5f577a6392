"""The store writes many rows a statement (storage/store.py, rows_per_statement): the same rows, in
the same order, with the same roll-ups as one row a statement."""
import pytest

from dashboard.core.events import parse_frames
from dashboard.storage import schema as schema_module
from dashboard.storage.store import (INSERT, ROLLUP_UPSERT, ROWS_PER_STATEMENT, SPAN_UPSERT,
                                     EventStore, row_for, rows_per_statement)
from tests.helpers import written_bytes

pytestmark = pytest.mark.unit


def test_rows_per_statement_repeats_the_values_group_only():
    sql = rows_per_statement(SPAN_UPSERT, 3)
    group = "(" + ", ".join("?" * 8) + ")"
    assert sql.count(group) == 3 and sql.count("ON CONFLICT") == 1
    assert sql.replace(f"{group}, {group}, ", "") == SPAN_UPSERT
    assert rows_per_statement(INSERT, 1) == INSERT


def frames(i):
    host = f"dev-{i % 7}"
    health = ("Good", "Bad", "Unknown")[i % 3]
    return [b"org.lavasoftware.device", f"u{i}".encode(),
            f"2026-11-30T10:{i // 60:02d}:{i % 60:02d}+00:00".encode(), b"lavaserver",
            f'{{"device":"{host}","device_type":"qemu","state":"Idle","health":"{health}"}}'.encode()]


def written(path, per_statement, n):
    schema_module.ROWS_PER_STATEMENT = per_statement
    try:
        store = EventStore(path)
        for i in range(n):
            f = frames(i)
            store.enqueue(row_for(parse_frames(f), f, {}, 0.0))
        assert store.flush() == n
        events = [tuple(r) for r in store._rows("SELECT id, uuid, device, health FROM events ORDER BY id")]
        tables = {t: sorted(tuple(r) for r in store._rows(f"SELECT * FROM {t}"))
                  for t in ("rollup_hourly", "rollup_time", "device_span")}
        return events, tables
    finally:
        schema_module.ROWS_PER_STATEMENT = ROWS_PER_STATEMENT


def test_many_rows_a_statement_store_what_one_row_a_statement_stores(tmp_path):
    n = 2 * ROWS_PER_STATEMENT + 5  # two whole statements and a rest
    many = written(str(tmp_path / "many.sqlite3"), ROWS_PER_STATEMENT, n)
    one = written(str(tmp_path / "one.sqlite3"), 10**9, n)
    assert [e[1] for e in many[0]] == [f"u{i}" for i in range(n)]  # every row, in order
    assert many == one
    assert "ON CONFLICT" in ROLLUP_UPSERT  # the roll-ups are upserts: counted, not overwritten
    assert sum(r[-1] for r in many[1]["rollup_hourly"] if r[2] == "*") == n


def test_an_older_sqlite_gets_statements_within_its_999_variables():
    from dashboard.storage.store import rows_for
    assert rows_for(16, None) == ROWS_PER_STATEMENT  # SQLite 3.32 or later, PostgreSQL
    assert rows_for(16, 999) == 62 and rows_for(17, 999) == 58  # events; the time roll-ups
    assert rows_for(16, 999) * 16 <= 999 and rows_for(2000, 999) == 1


def rows_of(n, start=0):
    out = []
    for i in range(start, start + n):
        f = frames(i % 3600)
        out.append(row_for(parse_frames(f), f, {}, 0.0))
    return [(f"u{i}", *row[1:]) for i, row in zip(range(start, start + n), out)]


def test_a_row_refused_inside_a_statement_of_many_rows_loses_only_itself(tmp_path):
    """SQLite's events insert ends the transaction at a refused row (OR ROLLBACK): the batch is
    then stored row by row, and nothing of the failed attempt remains, half-done or open; as under
    plain INSERT (which this also passes: it guards the fallback, and fails under OR IGNORE, OR
    REPLACE or OR FAIL, which would commit part of the failed attempt)."""
    store = EventStore(str(tmp_path / "events.sqlite3"))
    n = 3 * ROWS_PER_STATEMENT
    rows = rows_of(n)
    bad = ROWS_PER_STATEMENT + 10  # inside the second statement, after a whole one
    rows[bad] = (None, *rows[bad][1:])  # no uuid: refused by NOT NULL
    assert store._insert(rows) == n - 1
    assert store.dropped == 1 and "NOT NULL" in store.last_error
    more = rows_of(ROWS_PER_STATEMENT + 1, start=n)
    assert store._insert(more) == len(more)  # the next batch: one transaction again
    stored = [r["uuid"] for r in store._rows("SELECT uuid FROM events ORDER BY id")]
    assert stored == [r[0] for r in rows + more if r[0] is not None]  # each once, in order
    total = store._rows("SELECT SUM(n) AS n FROM rollup_hourly WHERE device = '*'")[0]["n"]
    assert total == n - 1 + len(more)  # the refused row is not counted either


def test_a_batch_of_events_writes_no_statement_journal(tmp_path):
    """A statement of many rows in a transaction under way writes no copy of the pages it changes
    (SQLite's statement journal, a temporary file): with it, this batch wrote 3.1 KB an event,
    against 0.6 KB for the rows, their indexes and the roll-ups (bench/indexes.py: 21 KB against
    7.7 in a larger store)."""
    try:
        written_bytes(thread=True)
    except OSError:
        pytest.skip("this kernel does not count a thread's written bytes (/proc/thread-self/io)")
    store = EventStore(str(tmp_path / "events.sqlite3"))
    assert store._insert(rows_of(1000)) == 1000  # the pages a later statement would copy exist
    rows = rows_of(2600, start=1000)
    # This thread's writes alone (the insert runs in it): another test's thread left running in
    # this worker once wrote 9 MB meanwhile, counted in the process's figure.
    before = written_bytes(thread=True)
    assert store._insert(rows) == len(rows)
    assert (written_bytes(thread=True) - before) / len(rows) < 1500  # 574 here; 3,141 under plain INSERT
