"""Alerts kept with the history, on both backends (a SQLite file and a real PostgreSQL server):
the same answers, and what a restart reads back."""
from dashboard.alerts.lifecycle import AlertBook
from dashboard.alerts.rules import AlertsConfig
from tests.test_pgstore import pg, reopen, store  # noqa: F401 (fixtures)


def alert(key, fired_at, **extra):
    rule, subject = key.split("/")
    return {"id": f"id-{key}-{fired_at}", "key": key, "rule": rule, "subject": subject,
            "subject_kind": "device", "device_type": "qemu", "severity": "warning",
            "message": f"{subject} is unwell", "status": "firing", "fired_at": fired_at,
            "resolved_at": None, "acked_by": None, "acked_at": None, "notified_at": fired_at,
            "notifications": 1, "jobs": [], **extra}


def test_alerts_are_kept_updated_and_read_back_newest_first(store, reopen):
    a, b = alert("device_bad/a", 100.0), alert("device_bad/b", 200.0)
    store.save_alerts([a, b])
    store.save_alerts([dict(a, status="resolved", resolved_at=150.0)])  # the same episode, updated
    assert [x["key"] for x in store.alerts()] == ["device_bad/b", "device_bad/a"]
    assert [x["key"] for x in store.alerts(status="firing")] == ["device_bad/b"]
    assert store.alerts(status="resolved")[0]["resolved_at"] == 150.0
    assert [x["key"] for x in store.alerts(since=150.0)] == ["device_bad/b"]
    assert [x["key"] for x in store.alerts(until=150.0)] == ["device_bad/a"]
    assert len(store.alerts(limit=1)) == 1
    # Those with notifications still to go out (what a restart reads of the resolved ones): by
    # the key, not by a message that merely quotes it.
    store.save_alerts([alert("device_bad/c", 50.0, status="resolved", delivery={"unsent": []}),
                       alert("device_bad/d", 60.0, status="resolved", message='"delivery"')])
    assert [x["key"] for x in store.alerts(status="resolved", with_delivery=True)] == ["device_bad/c"]

    again = reopen()  # a restart: what was firing fires no more
    book = AlertBook(AlertsConfig())
    book.restore(again.alerts(status="firing"))
    assert list(book.firing) == ["device_bad/b"]
    assert book.apply([("fire", "device_bad/b", {"rule": "device_bad"})], 300.0) == []
    assert again.prune_alerts(before=1000.0) == 3  # resolved ones only
    assert [x["key"] for x in again.alerts()] == ["device_bad/b"]
