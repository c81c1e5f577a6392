"""The store writes many rows a statement (storage/store.py, rows_per_statement): the same rows, in
the same order, with the same roll-ups as one row a statement."""
import pytest

from dashboard.core.events import parse_frames
from dashboard.storage import store as store_module
from dashboard.storage.store import (INSERT, ROLLUP_UPSERT, ROWS_PER_STATEMENT, SPAN_UPSERT,
                                     EventStore, row_for, rows_per_statement)

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
    store_module.ROWS_PER_STATEMENT = per_statement
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
        store_module.ROWS_PER_STATEMENT = ROWS_PER_STATEMENT


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
