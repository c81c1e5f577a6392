"""What the log may say of a job that may be private: never its submitter, description or
test-shell messages (docs/security.md). The log is an output too."""
import json
import logging
import types

from dashboard.core.events import ParseError
from dashboard.live.health import Health, _sample
from dashboard.live.reconcile import Reconciler

SECRETS = ("priv-alice", "SECRET-DESCRIPTION", "SECRET-SHELL")


def _frames(topic, data, user=b"priv-alice"):
    return [topic, b"uuid-1", b"2026-12-03T08:00:00+00:00", user, json.dumps(data).encode()]


def test_a_rejected_messages_sample_gives_its_topic_and_uuid_and_only_the_size_of_the_rest(caplog):
    frames = _frames(b"org.lavasoftware.testjob", {"job": 901, "state": "Exploded",
                                                    "description": "SECRET-DESCRIPTION"})
    sample = _sample(frames)
    assert "org.lavasoftware.testjob" in sample and "uuid-1" in sample
    assert f"<{len(frames[4])} bytes>" in sample and "<10 bytes>" in sample
    assert not any(secret in sample for secret in SECRETS)
    health = Health()
    source = health.add_source("tcp://127.0.0.1:5500", "zmq")
    with caplog.at_level(logging.WARNING):
        health.reject(source, ParseError("too_long", "event.message has 5000 characters > 4096"),
                      _frames(b"org.lavasoftware.event", {"job": 901, "message": "SECRET-SHELL " * 400}))
    text = caplog.text
    assert "dropped message from tcp://127.0.0.1:5500: too_long" in text and "uuid-1" in text
    assert not any(secret in text for secret in SECRETS)
    assert _sample("not frames") == "<not frames: str>"


def test_a_reconciled_jobs_private_values_are_named_in_the_log_not_quoted(caplog):
    corrections = [
        {"kind": "job", "id": 901, "fields": {"state": ("Running", "Finished"),
                                              "description": (None, "SECRET-DESCRIPTION"),
                                              "submitter": ("x", "priv-alice")}},
        {"kind": "device", "id": "qemu-02", "fields": {"health": ("Good", "Bad")}},
    ]
    with caplog.at_level(logging.WARNING):
        Reconciler._log(types.SimpleNamespace(where=""), "periodic", False, None, [], corrections)
    text = caplog.text
    assert "corrected job 901: state 'Running' → 'Finished', description changed, submitter changed" in text
    assert "corrected device qemu-02: health 'Good' → 'Bad'" in text
    assert not any(secret in text for secret in SECRETS)
