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


def test_a_port_still_held_at_the_retry_is_tried_again_not_the_end_of_the_server(caplog):
    """A review: server.listen's ListenError was no OSError, so keep_serving's retry let it
    escape, ending --metrics HOST:PORT's green thread for good when its port was still held."""
    import socket

    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    port = other.getsockname()[1]
    connections = edge.Connections(4)
    try:
        with caplog.at_level(logging.ERROR, logger="dashboard.server"):
            server.keep_serving(None, lambda: server.listen("127.0.0.1", port), lambda s: None,
                                connections, f"127.0.0.1:{port}", rounds=2)
    finally:
        other.close()
    said = [r.getMessage() for r in caplog.records if "cannot listen again yet" in r.getMessage()]
    assert len(said) == 2 and "Address already in use" in said[0], said


def test_a_bound_port_refuses_clients_until_it_listens_then_no_other_may_bind_it():
    """app.py binds its port before making the app (a port a dashboard listens on ends the start
    at once), and listens only when it serves: meanwhile a client is refused, not held for as long
    as the start takes (a review: load balancers' checks hung)."""
    import socket

    bound = server.bind("127.0.0.1", 0)
    port = bound.getsockname()[1]
    try:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            raise AssertionError("a client was let in before the app listens")
        except ConnectionRefusedError:
            pass
        server.listen("127.0.0.1", port, sock=bound)
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        try:
            server.bind("127.0.0.1", port).close()
            raise AssertionError("a second bind took a listening port")
        except server.ListenError as exc:
            assert "Address already in use" in str(exc)
    finally:
        bound.close()
