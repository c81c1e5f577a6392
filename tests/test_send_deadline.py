"""A send on a TLS socket ends by its deadline, and no later than it must.

sockets.send_within: gevent's non-blocking TLS send says 0 both when TLS must read first and when
the send buffer is full, told apart by whether the socket can take bytes just after; a buffer
that drained in between was taken for "TLS must read", and the send waited for a read that never
came until its deadline (10 s), the exchange then failed. The REST client: http.client sent the
request with the socket's own sendall, each of whose waits the socket's timeout bounds alone, not
the exchange's deadline. A fake socket on a real socketpair, and a real TLS server on 127.0.0.1
(test_tls_drip's, its TLS done by hand) that is slow to begin its handshake and never reads."""
import socket
import ssl
import threading
import time

import pytest

from dashboard.sources import rest, sockets
from tests.test_tls_drip import HUBS, HandTls, certificate, client  # noqa: F401 (fixture)

DEADLINE = 2.0  # s, of each send or exchange here
MARGIN = 0.9  # s past it: a loaded machine's, short of the per-wait timeout's overshoot (1.2 s)
BODY = b"x" * (32 << 20)  # more than the loopback's buffers hold


class SendSaysZero:
    """A TLS-looking socket (it has `pending`) on one end of a socketpair whose other end never
    writes: it can always take bytes, never has any to read. Its send says 0 `zeros` times, as
    gevent's does when TLS must read or the buffer is full, then takes all it is given."""

    def __init__(self, zeros):
        self.end, self.peer = socket.socketpair()
        self.zeros, self.tries = zeros, 0

    def pending(self):
        return 0

    def setblocking(self, flag):
        self.end.setblocking(flag)

    def fileno(self):
        return self.end.fileno()

    def send(self, data):
        self.tries += 1
        return 0 if self.tries <= self.zeros else len(data)

    def close(self):
        self.end.close()
        self.peer.close()


@pytest.fixture
def says_zero():
    made = []

    def make(zeros):
        made.append(SendSaysZero(zeros))
        return made[-1]
    yield make
    for sock in made:
        sock.close()


def test_a_send_whose_buffer_drained_before_the_check_is_tried_again_soon(says_zero):
    """send said 0 (the buffer full), and the socket could take bytes by the check: taken for
    "TLS must read", the send waited for a read until its deadline, then timed out. Now it is
    tried again SEND_RETRY later, and done."""
    sock = says_zero(1)
    started = time.monotonic()
    sockets.send_within(sock, b"x" * 1000, started + DEADLINE)
    assert time.monotonic() - started < 0.5
    assert sock.tries == 2


def test_a_send_that_tls_holds_for_a_read_ends_at_its_deadline_without_spinning(says_zero):
    """A send that says 0 for ever, the socket writable (TLS waits for a read that never comes):
    it ends at its deadline with socket.timeout, tried about once every SEND_RETRY, not in a
    loop that holds the hub."""
    sock = says_zero(float("inf"))
    within = 0.5
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        sockets.send_within(sock, b"x" * 1000, started + within)
    assert within <= time.monotonic() - started < within + MARGIN
    assert 2 <= sock.tries <= within / sockets.SEND_RETRY + 3


class HandshakeLater(HandTls):
    """test_tls_drip's TLS server, which begins each handshake `after` s after the connection
    (TLS's waits each well within the timeout), then never reads past the request's head."""

    def __init__(self, cert, key, after):
        self.after = after
        super().__init__(cert, key, lambda server, tls, head: server.hold(30))

    def wrap(self, conn):
        self.stopped.wait(self.after)
        return super().wrap(conn)


@pytest.fixture
def never_reads(certificate):
    made = []

    def make(after=0.0):
        made.append(HandshakeLater(*certificate, after))
        return made[-1]
    yield make
    for server in made:
        server.close()


def test_a_request_sent_over_tls_ends_by_the_exchanges_deadline(certificate, never_reads):
    """A handshake that took 1.2 s of the 2 s deadline, then a request's body the server never
    reads: its send waited for the socket's timeout (2 s) from where it stopped, 3.2 s in all.
    Now it ends at the deadline, as a read past it does (DeadlinePassed)."""
    server = never_reads(after=1.2)
    context = ssl.create_default_context(cafile=str(certificate[0]))
    started = time.monotonic()
    conn = rest._DeadlineHTTPS(f"127.0.0.1:{server.port}", deadline=started + DEADLINE,
                               timeout=5.0, context=context)
    try:
        with pytest.raises(socket.timeout) as raised:
            conn.request("POST", "/RPC2", body=BODY, headers={"Content-Type": "text/xml"})
    finally:
        conn.close()
    assert time.monotonic() - started < DEADLINE + MARGIN
    assert isinstance(raised.value, rest.DeadlinePassed)
    assert server.requests  # the handshake was made, the head read


def test_the_rest_client_says_a_request_never_read_is_a_timeout(certificate, never_reads,
                                                                 monkeypatch):
    """A POST whose body LAVA never reads: a LavaError of kind timeout, within the exchange's
    deadline (ANSWER_DEADLINE_FACTOR × the timeout)."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    server = never_reads()
    lava = rest.LavaRest(f"https://127.0.0.1:{server.port}", timeout=DEADLINE / 2)
    started = time.monotonic()
    with pytest.raises(rest.LavaError) as raised:
        lava._fetch(lava.base + "/RPC2", "XML-RPC", "text/xml", 1024, data=BODY, token=False)
    assert raised.value.kind == "timeout", raised.value
    assert time.monotonic() - started < DEADLINE + MARGIN


class SlowReader:
    """A plain TCP server on 127.0.0.1 that reads what it is sent slowly, 64 KiB every 5 ms at
    most (some 10 MB/s), for as long as the sender goes on: each of the sender's waits is short,
    and all of them long."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(0.05)
            while not self.stopped.wait(0.005):
                try:
                    if not conn.recv(65536):
                        return
                except OSError:
                    continue

    def close(self):
        self.stopped.set()
        self.listener.close()


@pytest.mark.parametrize("hub", HUBS)
def test_a_plain_send_to_a_peer_that_reads_a_little_now_and_then_ends_by_its_deadline(hub, certificate):
    """ws:// and http://: under eventlet a plain socket's sendall bounded each wait alone, so a
    peer that kept reading a little held a send for as long as it went on reading."""
    server = SlowReader()
    try:
        said = client(hub, certificate[0], 30, client="send", url=server.url, size=96 << 20,
                      within=DEADLINE)
    finally:
        server.close()
    # (3 s of room: the time includes a fresh process's connect and 96 MiB; the bug, a send held
    # until the reader, at 64 KiB every 5 ms, has read it, takes 7 s or more.)
    assert said.get("timeout") and said["seconds"] < DEADLINE + 3.0, said
