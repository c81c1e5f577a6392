"""A TLS peer that finishes its handshake and then sends the encrypted bytes of a record one at a
time, each well within any timeout: under eventlet and gevent a TLS socket's timeout bounds each
wait alone and its recv returns only once a whole record has come, so such a peer held a wss://
source's handshake answer or its frames, and a REST exchange over https:// (its TLS handshake as
well), for as long as it liked. And a send on a TLS socket left non-blocking is whole, or ends at
its deadline. Real sockets on 127.0.0.1, real TLS (a certificate made here), the server's TLS done
by hand (memory BIOs) so that it can drip; the clients under each hub, in a subprocess, or the app
itself."""
import json
import os
import resource
import ssl
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, AppProcess, wait_until
from tests.test_ws_hostile import HostileServer, frame, upgrade
from tests.test_ws_proxy import DrippingTls, TlsWebSocket, self_signed_certificate

DRIP = 0.2  # s between two encrypted bytes: each wait ends in time, no record is ever whole
HUBS = ["eventlet", "gevent"]
NO_PROXY = {name: "" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


class TlsByHand:
    """The server's end of TLS over memory BIOs: recv and sendall as a socket's, and drip, which
    sends the encrypted bytes of `data` one every DRIP s (until the server stops)."""

    def __init__(self, conn, context):
        self.conn, self.incoming, self.outgoing = conn, ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self._until_done(self.tls.do_handshake)

    def _until_done(self, step):
        while True:  # bounded by the connection's timeout and the client's bytes
            try:
                done = step()
                self._flush()
                return done
            except ssl.SSLWantReadError:
                self._flush()
                data = self.conn.recv(65536)
                if not data:
                    raise OSError("the client went away")
                self.incoming.write(data)

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.conn.sendall(data)

    def recv(self, size):
        return self._until_done(lambda: self.tls.read(size))

    def sendall(self, data):
        self.tls.write(data)
        self._flush()

    def drip(self, data, stopped):
        self.tls.write(data)
        for byte in self.outgoing.read():
            if stopped.wait(DRIP):
                return
            self.conn.sendall(bytes([byte]))

    def close(self):
        self.conn.close()


class HandTls(HostileServer):
    """A TLS server on 127.0.0.1 that plays script(server, tls, head) on a TlsByHand; `began`: when
    each connection's script began (time.monotonic())."""

    def __init__(self, cert, key, script):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.began = []
        super().__init__(lambda server, tls, head, index: (self.began.append(time.monotonic()),
                                                           script(server, tls, head)))
        self.url = f"wss://127.0.0.1:{self.port}/ws/"

    def wrap(self, conn):
        return TlsByHand(conn, self.context)


@pytest.fixture
def certificate(tmp_path):
    return self_signed_certificate(tmp_path)


@pytest.fixture
def serve(certificate):
    made = []

    def make(script):
        made.append(HandTls(*certificate, script))
        return made[-1]
    yield make
    for server in made:
        server.close()


def message(host, pad=0):
    """lava-publisher's message about a device (its data padded with `pad` bytes)."""
    data = json.dumps({"device": host, "device_type": "qemu", "state": "Idle", "health": "Good",
                       "worker": "w1", "pad": "x" * pad})
    return json.dumps(["org.lavasoftware.device", f"uuid-{host}-{time.monotonic_ns()}",
                       "2026-11-30T10:00:00", "lavaserver", data]).encode()


CLIENT = """
import json, os, resource, socket, sys, time
hub, job = sys.argv[1], json.loads(sys.argv[2])
if hub != "threads":
    from dashboard import green
    green.monkey_patch(hub)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if job.get("descriptors", 0) + 100 > soft:  # (a machine's soft limit may be 1,024)
    resource.setrlimit(resource.RLIMIT_NOFILE, (job["descriptors"] + 100, hard))
held = [os.dup(0) for _ in range(job.get("descriptors", 0))]  # the sockets' numbers above them
from dashboard.live.health import Health
from dashboard.sources import rest, sockets, ws
started = time.monotonic()
if job["client"] == "send":
    sock, _ = ws._socket_to(job["url"])
    try:
        sockets.send_within(sock, b"GET / HTTP/1.1\\r\\n\\r\\n" + b"x" * job["size"],
                                time.monotonic() + job["within"])
        said = {"answer": sockets.recv_within(sock, 100, time.monotonic() + 5).decode()}
    except socket.timeout:
        said = {"timeout": True}
elif job["client"] == "rest":
    try:
        answer = rest.LavaRest(job["url"], timeout=job["timeout"]).get("/x")
        said = {"size": len(json.dumps(answer))}
    except rest.LavaError as err:
        said = {"kind": err.kind, "error": str(err)}
else:
    status = Health().add_source(ws.public_name(job["url"]), "websocket")
    source = ws.WsSource(job["url"], "", time.sleep, status, 1 << 20, rng=lambda: 0.5,
                         ping_every=job["ping_every"], silence=job["silence"])
    handled = []
    source.run(lambda status, frames: handled.append(frames), rounds=1)
    said = {"detail": status.detail, "failures": dict(source.failures), "handled": len(handled)}
print(json.dumps(dict(said, seconds=time.monotonic() - started)))
"""


def client(hub, cert, limit, **job):
    """What the client (`job["client"]`: ws, rest, or send) says when run under the hub (or
    "threads") in a new process, the certificate trusted; fails when not done within `limit` s."""
    env = dict(os.environ, **NO_PROXY, SSL_CERT_FILE=str(cert),
               WEBSOCKET_CLIENT_CA_BUNDLE=str(cert))
    try:
        done = subprocess.run([sys.executable, "-c", CLIENT, hub, json.dumps(job)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        done = None
    if done is None:
        pytest.fail(f"the {job['client']} client was still at it after {limit} s under {hub}")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- wss:// ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("async_mode", HUBS)
def test_the_app_gives_up_a_handshake_answer_dripped_over_tls(serve, certificate, async_mode):
    """The HTTP 101 answer's record dripped after a quick TLS handshake: under either hub the
    source waited for it for ever, "connecting", nothing counted. Now it is given up at
    CONNECT_TIMEOUT (10 s), counted as a timeout; a good wss:// source beside it (one message of
    many TLS records) goes on."""
    cert, _ = certificate
    dripping = serve(lambda server, tls, head: tls.drip(
        upgrade(head, b"X-Pad: " + b"a" * 3000 + b"\r\n"), server.stopped))
    good = TlsWebSocket(*certificate, lambda conn, head: (conn.sendall(
        upgrade(head) + frame(message("tls-big", pad=200_000))), good.hold(30)))
    app = AppProcess("--event-source", good.url, "--event-source", dripping.url, "--no-store",
                     async_mode=async_mode,
                     env=dict(NO_PROXY, WEBSOCKET_CLIENT_CA_BUNDLE=str(cert)))
    try:
        wait_until(lambda: any(d["hostname"] == "tls-big"
                               for d in app.json("/api/v1/state")["devices"]),
                   timeout=10, what="a message of many TLS records from the good source")
        sources = wait_until(
            lambda: (s := {s["name"]: s for s in app.json("/healthz")["sources"]})
            [dripping.url]["failures"].get("timeout") and s, timeout=16,
            what="the dripped answer given up")
        assert time.monotonic() - dripping.began[0] < 10 + 3
        assert "the answer to the handshake was not whole within 10 s" in \
            sources[dripping.url]["detail"]
        assert sources[good.url]["state"] == "connected" and sources[good.url]["failures"] == {}
    finally:
        app.stop()
        good.close()


def drip_a_frame(server, tls, head):
    tls.sendall(upgrade(head))
    tls.drip(frame(message("dripped") + b" " * 3000), server.stopped)


def begin_a_frame_then_drip(server, tls, head):
    whole = frame(message("begun") + b" " * 3000)
    tls.sendall(upgrade(head) + whole[:20])  # its first bytes in a record that comes whole
    tls.drip(whole[20:], server.stopped)


@pytest.mark.parametrize("script, says", [
    (drip_a_frame, "s (no whole event, no pong)"),
    (begin_a_frame_then_drip, "a message was not whole 3 s after its first byte"),
], ids=["frame dripped", "frame begun then dripped"])
@pytest.mark.parametrize("hub", HUBS)
def test_a_frame_dripped_over_tls_is_given_up_at_the_silence_limit(serve, certificate, hub,
                                                                   script, says):
    """After a quick 101, a frame's record dripped (its bytes pinged over meanwhile): under the
    hubs the read waited for the record for ever. Now the source gives up at its silence limit
    (3 s here, 65 s in the app), said as a silence or as a message too slow."""
    server = serve(script)
    said = client(hub, certificate[0], 12, client="ws", url=server.url, ping_every=0.5,
                  silence=3.0)
    assert says in said["detail"] and said["handled"] == 0 and said["failures"] == {}
    assert 2.9 < said["seconds"] < 3 + 2


SENT = 8 << 20  # bytes after the head, when the peer reads


def read_all(server, tls, head):
    """Reads the SENT bytes the client sends after its request's head, then says how many."""
    got = len(head.split(b"\r\n\r\n", 1)[1])
    while got < SENT:
        chunk = tls.recv(65536)
        if not chunk:
            return
        got += len(chunk)
    tls.sendall(b"got %d" % got)


@pytest.mark.parametrize("peer", ["reads", "never reads"])
@pytest.mark.parametrize("hub", HUBS)
def test_a_send_over_tls_is_whole_or_ends_at_its_deadline(serve, certificate, hub, peer):
    """A send on a TLS socket made non-blocking (as every read leaves it) is whole when the peer
    reads (none of TLS's "would block" out of it, nothing sent in half), and ends at its deadline
    when the peer never does (32 MB, more than the loopback's buffers)."""
    server = serve(read_all if peer == "reads" else lambda server, tls, head: server.hold(30))
    if peer == "reads":
        said = client(hub, certificate[0], 12, client="send", url=server.url, size=SENT,
                      within=10.0)
        assert said["answer"] == f"got {SENT}"
    else:
        said = client(hub, certificate[0], 12, client="send", url=server.url, size=32 << 20,
                      within=1.0)
        assert said["timeout"] and said["seconds"] < 1 + 1.5


# -- https:// (the REST client) --------------------------------------------------------------------
BODY = json.dumps({"results": [], "pad": "x" * 300_000}).encode()
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
          % len(BODY) + BODY)


@pytest.mark.parametrize("hub", [*HUBS, "threads"])
def test_the_rest_client_reads_an_answer_over_tls(serve, certificate, hub):
    """The https:// exchange as it should go: TLS made by our handshake, an answer of many TLS
    records read whole (under the hubs and in plain threads)."""
    server = serve(lambda server, tls, head: tls.sendall(ANSWER))
    said = client(hub, certificate[0], 12, client="rest", url=f"https://127.0.0.1:{server.port}",
                  timeout=5.0)
    assert said.get("size") == len(BODY), said


@pytest.mark.parametrize("dripped", ["the answer", "the TLS handshake"])
@pytest.mark.parametrize("hub", HUBS)
def test_the_rest_client_gives_up_tls_dripped_within_its_deadline(serve, certificate, hub,
                                                                  dripped):
    """LAVA (or a proxy) that drips its answer's record after a quick handshake, or the
    handshake's own: under the hubs the exchange lasted for ever (the reconcile "loading", no
    error). Now it ends within ANSWER_DEADLINE_FACTOR × the timeout (2 s here), kind timeout."""
    if dripped == "the answer":
        server = serve(lambda server, tls, head: tls.drip(ANSWER, server.stopped))
    else:
        server = DrippingTls()
    try:
        said = client(hub, certificate[0], 10, client="rest",
                      url=f"https://127.0.0.1:{server.port}", timeout=1.0)
    finally:
        server.close()
    assert said["kind"] == "timeout", said
    assert said["seconds"] < 2 * 1.0 + 1.5


# -- many sockets ----------------------------------------------------------------------------------
@pytest.mark.skipif(resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 1200,
                    reason="needs 1,200 open files (the hard limit)")
@pytest.mark.parametrize("hub", [*HUBS, "threads"])
def test_tls_works_on_sockets_numbered_over_1023(serve, certificate, hub):
    """An app with a thousand clients: its TLS sockets are numbered over 1023, which select()
    refuses (ValueError, under gevent and in plain threads). A wss:// handshake, send and read, and
    an https:// exchange, still work."""
    server = serve(read_all)
    said = client(hub, certificate[0], 12, client="send", url=server.url, size=SENT, within=10.0,
                  descriptors=1100)
    assert said.get("answer") == f"got {SENT}", said
    server = serve(lambda server, tls, head: tls.sendall(ANSWER))
    said = client(hub, certificate[0], 12, client="rest", url=f"https://127.0.0.1:{server.port}",
                  timeout=5.0, descriptors=1100)
    assert said.get("size") == len(BODY), said
