"""A source says why it is not connected (health.SourceStatus.problem), and the page is told when
that reason changes, also while its state stays "connecting" (an audit: a lab whose TLS was
refused said "connecting" for ever, the reason only in /healthz)."""
from dashboard.live.health import SourceStatus
from dashboard.sources.zmq import _problem_of


def test_a_new_reason_alone_tells_the_listeners_and_connecting_clears_it():
    status = SourceStatus("wss://lava.example/ws/", "ws", clock=lambda: 0.0, lab="west")
    told = []
    status.on_state.append(lambda: told.append(status.brief().get("problem")))
    assert "problem" not in status.brief()
    status.set_state("connecting", "TLS: certificate verify failed", "tls")
    status.set_state("connecting", "TLS: certificate verify failed", "tls")  # no news
    status.set_state("connecting", "refused (HTTP 403)", "refused")
    assert told == ["tls", "refused"]
    assert status.brief() == {"name": "wss://lava.example/ws/", "kind": "ws", "state": "connecting",
                              "since": status.since, "lost": False, "problem": "refused",
                              "lab": "west"}
    status.set_state("connected", None, "ignored")  # connected: no problem, whatever is passed
    assert told[-1] is None and status.problem is None and "problem" not in status.brief()


def test_a_zmq_socket_s_reasons_in_a_word():
    assert _problem_of("the connection was dropped on a frame over ZMQ_MAXMSGSIZE (oversized)") == "oversized"
    assert _problem_of("libzmq stopped reconnecting (handshake failed no detail)") == "handshake"
    assert _problem_of("no connection for 61 s") == "no_answer"
    assert _problem_of("internal error (ValueError: x)") is None
