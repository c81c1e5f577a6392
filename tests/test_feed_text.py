"""What XML cannot hold never reaches a feed: a character XML 1.0 forbids (a C0 control but tab,
LF and CR, a lone surrogate, U+FFFE, U+FFFF) in one event's or alert's text is replaced by U+FFFD
in /feeds/events.atom and /feeds/alerts.atom, which stay well-formed for every reader, while the
stored event and the API keep it. The pure replacement (feeds.xml_text) on its own, then the app
(a subprocess) fed by a real ZMQ publisher, storing in a real SQLite file."""
import json
import xml.dom.minidom

import pytest

from dashboard.web.feeds import xml_text
from tests.helpers import AppProcess, TestPublisher, utc_stamp, wait_until

FORBIDDEN = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))] + [
    "\ud800", "\udbff", "\udc00", "\udfff", "\ufffe", "\uffff"]
ALLOWED = ["\t", "\n", "\r", " ", "\x7f", "\x85", "é", "\ud7ff", "\ue000", "\ufffd", "\U0001f600",
           "\U0010ffff"]


@pytest.mark.parametrize("char", FORBIDDEN, ids=[f"U+{ord(c):04X}" for c in FORBIDDEN])
def test_each_character_xml_forbids_is_replaced(char):
    assert xml_text(f"a{char}b{char}") == "a\ufffdb\ufffd"


@pytest.mark.parametrize("char", ALLOWED, ids=[f"U+{ord(c):04X}" for c in ALLOWED])
def test_every_character_xml_takes_is_kept(char):
    assert xml_text(f"a{char}b") == f"a{char}b"


@pytest.fixture
def app(tmp_path):
    """The app on a real ZMQ publisher, storing in a SQLite file, with device_bad firing at once."""
    publisher = TestPublisher()
    config = tmp_path / "alerts.toml"
    config.write_text("[rules.device_bad]\nminutes = 0\n")
    app = AppProcess("--zmq", publisher.endpoint, "--data-dir", str(tmp_path / "data"),
                     "--alerts-config", str(config), "--alerts-interval", "0.2")
    try:
        publisher.wait_for_subscriber()
        yield publisher, app
    finally:
        app.stop()
        publisher.close()


def frames(kind, uuid, data, user="lavaserver"):
    return [f"org.lavasoftware.{kind}".encode(), uuid.encode(), utc_stamp().encode(), user.encode(),
            json.dumps(data).encode()]


def parsed(app, path):
    """The feed at `path`, parsed as XML 1.0 (minidom: expat, which refuses what XML forbids)."""
    status, headers, body = app.get(path)
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml"), body
    return xml.dom.minidom.parseString(body.encode("utf-8"))


def texts(doc, tag):
    return [node.firstChild.data if node.firstChild else "" for node in doc.getElementsByTagName(tag)]


UUID = "abcdef01-0000-0000-0000-00000000001f"  # a uuid's shape: the entry's id is urn:uuid:...


def test_a_control_character_in_an_event_or_alert_leaves_the_feeds_well_formed(app):
    publisher, app = app
    # A test-shell message with XML-forbidden characters in its text, and a Bad device, so that an
    # alert names it. Names (and the uuid and username frames) may hold no control character since
    # an audit (a device named with a newline forged log lines): such a message is refused.
    publisher.send(frames("event", UUID, {"job": 7, "message": "hello\x01world\uffff"}, user="bob"))
    publisher.send(frames("device", "dev-2", {"device": "qemu\x02-02", "device_type": "qemu",
                                              "state": "Idle", "health": "Bad", "worker": "w1"}))
    publisher.send(frames("device", "dev-1", {"device": "qemu-01", "device_type": "qemu",
                                              "state": "Idle", "health": "Bad", "worker": "w1"}))
    wait_until(lambda: app.json("/healthz")["store"]["written"] >= 2, timeout=20, what="both stored")
    wait_until(lambda: app.json("/api/v1/alerts?status=firing")["alerts"], timeout=15,
               what="the device_bad alert")
    assert app.json("/healthz")["counters"]["rejected"]["bad_value"] == 1

    events = parsed(app, "/feeds/events.atom")
    titles = texts(events, "title")
    assert "event (job 7): hello\ufffdworld\ufffd" in titles
    assert "device qemu-01: Idle / Bad" in titles
    body = app.get("/feeds/events.atom")[2]
    for char in ("\x01", "\x02", "\uffff"):
        assert char not in body

    alerts = parsed(app, "/feeds/alerts.atom")
    assert "[FIRING] device_bad: qemu-01" in texts(alerts, "title")

    # The store and the API keep the event as received.
    (event,) = app.json("/api/v1/events?kind=event")["events"]
    assert event["data"]["message"] == "hello\x01world\uffff"
    assert event["uuid"] == UUID and event["username"] == "bob"
    (device,) = app.json("/api/v1/events?kind=device")["events"]
    assert device["device"] == "qemu-01"
    (alert,) = app.json("/api/v1/alerts")["alerts"]
    assert alert["subject"] == "qemu-01"
