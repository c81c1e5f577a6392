"""dashboard/server.py's pure parts: the loop that keeps --metrics HOST:PORT served."""
import logging

from dashboard import server
from dashboard.web import edge


def test_a_server_that_stops_or_fails_is_made_to_listen_again_counted_and_said(caplog):
    calls, sleeps = [], []

    def ended():
        calls.append("ended")  # eventlet's accept loop ends on some errors of accept()

    def failed():
        calls.append("failed")
        raise OSError(24, "Too many open files")

    listens = iter([OSError(98, "Address already in use"), failed, ended, ended])

    def listen():
        answer = next(listens)
        if isinstance(answer, Exception):
            raise answer
        return answer

    connections = edge.Connections(4)
    with caplog.at_level(logging.ERROR, logger="dashboard.server"):
        server.keep_serving(ended, listen, sleeps.append, connections, "127.0.0.1:9105", rounds=4)
    # ended, then (listen refused) nothing, then failed, then ended again: three stops.
    assert calls == ["ended", "failed", "ended"]
    assert connections.restarts == 3 and connections.stats()["restarts"] == 3
    assert sleeps == [server.APART_RETRY] * 4  # one round per retry delay, never a busy loop
    said = [r.getMessage() for r in caplog.records]
    assert any("127.0.0.1:9105 stopped (its accept loop ended)" in m for m in said)
    assert any("Too many open files" in m for m in said)
    assert any("cannot listen again yet" in m and "Address already in use" in m for m in said)
