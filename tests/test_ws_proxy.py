"""The WebSocket source through an HTTP proxy (http_proxy for ws://, https_proxy for wss://), with
real parts: a CONNECT proxy written here (a thread per connection on 127.0.0.1, relaying to the
test's WebSocket server), lava-publisher's stand-in (tests/lava_ws.py) or a TLS WebSocket server
written here, the source in this process, and the app as a subprocess under eventlet and gevent.
A hostile proxy (an answer that never ends, or none) is given up within the handshake's bounds."""
import base64
import datetime
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time

import pytest

from dashboard.sources import ws
from tests.helpers import AppProcess, wait_until
from tests.hostile import HealthWatch
from tests.lava_ws import LavaWebSocket
from tests.test_ws_hostile import HostileServer, frame, in_process, lava, run_briefly, upgrade

TOKEN = "proxy-test-lava-token-0123456789"
PROXY_USER, PROXY_PASSWORD = "proxy-user", "pr0xy-s3cret-pw"
TIMEOUT = 10  # every socket wait of the proxy's
LIFETIME = 60  # no relay lives longer


def basic(user, password):
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# -- the proxy -------------------------------------------------------------------------------------
def relay(proxy, conn, head):
    """A CONNECT proxy's answer: 407 without the right Proxy-Authorization (when the proxy has
    one), 403 for a target not on loopback, else 200 and the bytes relayed both ways."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    method, target, _ = line.split(" ", 2)
    if proxy.auth and f"proxy-authorization: basic {basic(*proxy.auth)}".encode().lower() \
            not in head.lower():
        conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                     b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
        return
    host, _, port = target.rpartition(":")
    if method != "CONNECT" or not ipaddress.ip_address(host.strip("[]")).is_loopback:
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        return
    upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT)
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    other = threading.Thread(target=proxy.pump, args=(upstream, conn, None), daemon=True)
    other.start()
    try:
        proxy.pump(conn, upstream, proxy.relayed)
    finally:
        upstream.close()
        other.join(TIMEOUT)


def endless(proxy, conn, head):
    """A status line, then header lines as fast as they are taken, until the client goes."""
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n")
    line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    for _ in range(20_000):  # 20 MB at most
        if proxy.stopped.is_set():
            return
        conn.sendall(line)


def silent(proxy, conn, head):
    """Takes the CONNECT and never answers."""
    proxy.stopped.wait(30)


def drip(proxy, conn, head):
    """Answers a header line every 0.3 s, never the blank line."""
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n")
    for i in range(100):
        if proxy.stopped.wait(0.3):
            return
        conn.sendall(f"X-Drip-{i}: a\r\n".encode())


class Proxy(HostileServer):
    """An HTTP proxy on 127.0.0.1: reads each request's head (kept in `requests`), then plays
    script(proxy, conn, head). `relayed`: the bytes the client sent through its tunnels."""

    def __init__(self, script=relay, auth=None):
        self.auth, self.relayed = auth, bytearray()
        super().__init__(lambda proxy, conn, head, index: script(proxy, conn, head))

    def address(self, user=None, password=None):
        """The proxy's URL, as http_proxy gives it."""
        userinfo = f"{user}:{password}@" if user else ""
        return f"http://{userinfo}127.0.0.1:{self.port}"

    def pump(self, source, sink, record):
        """source → sink until either closes, the proxy stops, or LIFETIME passes."""
        source.settimeout(0.2)
        deadline = time.monotonic() + LIFETIME
        while not self.stopped.is_set() and time.monotonic() < deadline:
            try:
                data = source.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            if record is not None:
                record += data
            try:
                sink.sendall(data)
            except OSError:
                break
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@pytest.fixture
def proxies():
    made = []

    def make(script=relay, auth=None):
        made.append(Proxy(script, auth))
        return made[-1]
    yield make
    for proxy in made:
        proxy.close()


@pytest.fixture
def proxy_env(monkeypatch):
    """Sets the proxy variables as a user would (lower case; the upper-case ones emptied)."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                 "WEBSOCKET_CLIENT_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)

    def setenv(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
    return setenv


@pytest.fixture
def lab():
    server = LavaWebSocket()
    yield server
    server.close()


def device(host):
    return [b"org.lavasoftware.device", f"uuid-{host}-{time.monotonic_ns()}".encode(),
            b"2026-11-30T10:00:00", b"lavaserver",
            json.dumps({"device": host, "device_type": "qemu", "state": "Idle",
                        "health": "Good", "worker": "w1"}).encode()]


def run_in_thread(source, handled, rounds=1):
    thread = threading.Thread(target=source.run, args=(lambda st, f: handled.append(f), rounds),
                              daemon=True)
    thread.start()
    return thread


# -- a proxy that relays ---------------------------------------------------------------------------
def test_events_arrive_through_the_proxy_which_is_asked_for_the_host_only(proxies, proxy_env, lab,
                                                                          caplog):
    """http_proxy with user:password: the CONNECT names the WebSocket's host and port and carries
    Proxy-Authorization Basic, and nothing else: the LAVA token goes through the tunnel, to the
    server, never in what the proxy is asked; neither the token nor the proxy's password is shown."""
    proxy = proxies(auth=(PROXY_USER, PROXY_PASSWORD))
    proxy_env(http_proxy=proxy.address(PROXY_USER, PROXY_PASSWORD))
    source, status, _, handled, _ = in_process(lab.url, headers=ws.authorization("alice", TOKEN),
                                               secrets=[TOKEN])
    with caplog.at_level(logging.INFO, logger="dashboard.sources.ws"):
        thread = run_in_thread(source, handled)
        lab.wait_for_clients()
        lab.send(device("through-the-proxy"))
        wait_until(lambda: handled, what="the event through the proxy")
        lab.drop_clients()
        thread.join(10)
    assert not thread.is_alive()
    assert [json.loads(f[4])["device"] for f in handled] == ["through-the-proxy"]
    [connect] = proxy.requests
    assert connect == (f"CONNECT 127.0.0.1:{lab.port} HTTP/1.1\r\nHost: 127.0.0.1:{lab.port}\r\n"
                       f"Proxy-Authorization: Basic {basic(PROXY_USER, PROXY_PASSWORD)}\r\n"
                       "\r\n").encode()
    assert LavaWebSocket.basic_user(lab.authorizations[-1]) == "alice"  # through the tunnel
    assert b"GET /ws/ HTTP/1.1" in proxy.relayed  # ws:// is relayed as it is
    assert source.failures == {} and status.disconnects == 1
    for text in (caplog.text, status.detail or ""):
        assert PROXY_PASSWORD not in text and basic(PROXY_USER, PROXY_PASSWORD) not in text
        assert TOKEN not in text


def test_wrong_proxy_credentials_are_a_counted_failure_that_never_shows_them(proxies, proxy_env,
                                                                             lab, caplog):
    proxy = proxies(auth=(PROXY_USER, PROXY_PASSWORD))
    wrong = "wr0ng-pr0xy-pw"
    proxy_env(http_proxy=proxy.address(PROXY_USER, wrong))
    source, status, _, handled, waits = in_process(lab.url, headers=ws.authorization("alice", TOKEN))
    with caplog.at_level(logging.INFO, logger="dashboard.sources.ws"):
        assert run_briefly(source, handled, rounds=2)
    assert len(proxy.requests) == 2 and lab.authorizations == []  # the server was never reached
    assert "the proxy refused CONNECT (HTTP 407): check the user and password" in status.detail
    assert "(proxy_refused: 2 so far)" in status.detail
    assert status.as_dict()["failures"] == {"proxy_refused": 2}  # /healthz sources[].failures
    assert waits == [0.2, 0.4]  # retried with its backoff
    assert "HTTP 407" in caplog.text
    for text in (caplog.text, status.detail):
        assert wrong not in text and basic(PROXY_USER, wrong) not in text


def test_a_no_proxy_host_is_reached_directly(proxies, proxy_env, lab):
    proxy = proxies()
    proxy_env(http_proxy=proxy.address(), no_proxy="localhost,127.0.0.1")
    source, status, _, handled, _ = in_process(lab.url)
    thread = run_in_thread(source, handled)
    lab.wait_for_clients()
    lab.drop_clients()
    thread.join(10)
    assert not thread.is_alive() and source.connections == 1
    assert proxy.requests == []


def test_a_wss_source_uses_https_proxy_and_tls_goes_through_the_tunnel(proxies, proxy_env,
                                                                       tmp_path):
    """wss:// takes https_proxy (http_proxy, here a closed port, is not used); TLS is made with the
    server through the tunnel and checked against its certificate: the proxy relays only
    ciphertext, the token never readable in it."""
    cert, key = self_signed_certificate(tmp_path)
    server = TlsWebSocket(cert, key, lambda conn, head: conn.sendall(
        upgrade(head) + frame(lava("over-tls"))))
    proxy = proxies()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: a connection there is refused
    try:
        proxy_env(https_proxy=proxy.address(), http_proxy=f"http://127.0.0.1:{closed.getsockname()[1]}",
                  WEBSOCKET_CLIENT_CA_BUNDLE=str(cert))
        source, status, _, handled, _ = in_process(server.url, headers=ws.authorization("alice", TOKEN))
        assert run_briefly(source, handled)
        assert [json.loads(f[4])["device"] for f in handled] == ["over-tls"]
        assert proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n".encode())
        assert b"Authorization" in server.requests[0]
        assert proxy.relayed and b"Authorization" not in proxy.relayed
        assert TOKEN.encode() not in proxy.relayed
        assert ws.authorization("alice", TOKEN)["Authorization"].encode() not in proxy.relayed
    finally:
        closed.close()
        server.close()


# -- a hostile proxy -------------------------------------------------------------------------------
def test_a_proxy_whose_answer_never_ends_is_given_up_at_16_kib(proxies, proxy_env, lab):
    """websocket-client read the proxy's answer a byte at a time with no bound: header lines for
    ever held the source, and grew its memory, for ever. Now: 16 KiB, and a counted failure."""
    proxy = proxies(endless)
    proxy_env(http_proxy=proxy.address())
    source, status, _, handled, _ = in_process(lab.url)
    started = time.monotonic()
    assert run_briefly(source, handled, limit=8), "still reading the proxy's answer"
    assert time.monotonic() - started < 3
    assert "the proxy's answer to CONNECT has over 16 KiB of headers" in status.detail
    assert status.as_dict()["failures"] == {"proxy_too_large": 1}
    assert lab.authorizations == []


@pytest.mark.parametrize("script", [silent, drip], ids=["never answers", "drips"])
def test_a_proxy_that_never_finishes_its_answer_is_given_up_at_the_deadline(proxies, proxy_env,
                                                                            lab, monkeypatch,
                                                                            script):
    """Silence, or a header line every 0.3 s (each read in time): given up when the whole answer
    is not in after CONNECT_TIMEOUT (2 s here), like the handshake's."""
    monkeypatch.setattr(ws, "CONNECT_TIMEOUT", 2.0)
    proxy = proxies(script)
    proxy_env(http_proxy=proxy.address())
    source, status, _, handled, _ = in_process(lab.url)
    started = time.monotonic()
    assert run_briefly(source, handled, limit=8), "still waiting for the proxy's answer"
    assert 1.9 < time.monotonic() - started < 5
    assert "the proxy's answer to CONNECT was not whole within 2 s" in status.detail
    assert status.as_dict()["failures"] == {"proxy_timeout": 1}


class DrippingTls(HostileServer):
    """A wss:// server that takes the ClientHello, then sends a handshake record's header (16 KiB to
    come) and its body a byte every 0.3 s: each read is in time, the handshake never done."""

    def __init__(self):
        super().__init__(lambda server, conn, head, index: None)
        self.url = f"wss://127.0.0.1:{self.port}/ws/"

    def wrap(self, conn):
        conn.recv(4096)
        conn.sendall(b"\x16\x03\x03\x40\x00")
        for _ in range(200):
            if self.stopped.wait(0.3):
                break
            conn.sendall(b"\x00")
        raise OSError("dripped")


@pytest.mark.parametrize("through", ["direct", "the proxy's tunnel"])
def test_a_tls_handshake_that_drips_is_given_up_at_the_deadline(proxies, proxy_env, monkeypatch,
                                                                through):
    """The TLS handshake is given up at CONNECT_TIMEOUT in all (2 s here), direct or through a
    proxy's tunnel, said and counted as a timeout. (In plain threads CPython's own handshake is
    bounded as a whole too; under the app's hubs it was not: the test below.)"""
    monkeypatch.setattr(ws, "CONNECT_TIMEOUT", 2.0)
    server = DrippingTls()
    try:
        if through != "direct":
            proxy = proxies()
            proxy_env(https_proxy=proxy.address())
        source, status, _, handled, _ = in_process(server.url)
        started = time.monotonic()
        assert run_briefly(source, handled, limit=8), "still in the TLS handshake"
        assert 1.9 < time.monotonic() - started < 5
        assert "the TLS handshake was not done within 2 s" in status.detail
        assert status.as_dict()["failures"] == {"timeout": 1}
        if through != "direct":
            assert proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{server.port} ".encode())
    finally:
        server.close()


def test_tls_through_a_slow_proxy_gets_its_own_time(proxy_env, monkeypatch, tmp_path):
    """A proxy whose answer to CONNECT ends late, then a TLS server slow to say hello: the TLS
    handshake has CONNECT_TIMEOUT of its own (3 s here), each wait included. It once inherited the
    socket's timeout as the proxy's answer left it (what was left of that deadline: about 1 s here),
    and failed as "not done within 3 s" after 1."""
    monkeypatch.setattr(ws, "CONNECT_TIMEOUT", 3.0)
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    done = threading.Event()

    def proxy_then_tls():
        conn, _ = listener.accept()
        conn.settimeout(10)
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n")
            time.sleep(2.0)  # the answer's end comes 2 s of the 3 in, its last read begun then
            conn.sendall(b"Via: slow\r\n")
            time.sleep(0.05)
            conn.sendall(b"\r\n")
            time.sleep(1.5)  # then the server's hello, 1.5 s later
            with context.wrap_socket(conn, server_side=True):
                done.wait(10)

    server = threading.Thread(target=proxy_then_tls, daemon=True)
    server.start()
    proxy_env(https_proxy=f"http://127.0.0.1:{port}", WEBSOCKET_CLIENT_CA_BUNDLE=str(cert))
    started = time.monotonic()
    try:
        sock, where = ws._socket_to(f"wss://127.0.0.1:{port}/ws/")
        sock.close()
    finally:
        done.set()
        listener.close()
        server.join(10)
    assert where[:2] == ("127.0.0.1", port) and 3.4 < time.monotonic() - started < 3 + 3


def test_proxy_secrets_are_every_form_of_the_password():
    environ = {"https_proxy": "http://bob:p%40ss-w0rd@proxy.example:3128",
               "HTTP_PROXY": "http://proxy.example:3128", "http_proxy": ""}
    secrets = ws.proxy_secrets(environ)
    assert secrets == ["bob:p%40ss-w0rd", "p%40ss-w0rd", "p@ss-w0rd", basic("bob", "p@ss-w0rd")]
    assert ws.proxy_secrets({}) == []


def test_a_proxy_url_that_cannot_be_read_is_said_so_without_its_password(proxy_env):
    """urllib's error quoted the URL's parts, the start of a password with a '/' among them."""
    proxy_env(http_proxy="http://user:pa/SECRET@127.0.0.1:3128")
    with pytest.raises(ws.HandshakeError) as caught:
        ws._socket_to("ws://127.0.0.1:9/ws/")
    assert caught.value.kind == "proxy_bad_url" and "'pa'" not in str(caught.value)
    assert "SECRET" not in str(caught.value) and "user" not in str(caught.value)


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_the_app_makes_tls_with_a_deadline_under_either_hub(tmp_path, async_mode):
    """Under eventlet and gevent the TLS socket is the hub's, whose handshake bounds each read
    alone (10 s): a byte every 0.3 s held the source for as long as the server liked. Now a wss://
    source's TLS is done within CONNECT_TIMEOUT (10 s) in all, and a good one still connects."""
    cert, key = self_signed_certificate(tmp_path)
    good = TlsWebSocket(cert, key, lambda conn, head: (conn.sendall(
        upgrade(head) + frame(lava("tls-green"))), good.hold(30)))
    dripping = DrippingTls()
    env = {name: "" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    app = AppProcess("--event-source", good.url, "--event-source", dripping.url, "--no-store",
                     async_mode=async_mode, env=dict(env, WEBSOCKET_CLIENT_CA_BUNDLE=str(cert)))
    try:
        wait_until(lambda: any(d["hostname"] == "tls-green"
                               for d in app.json("/api/v1/state")["devices"]),
                   timeout=15, what="an event over TLS made by the hub's sockets")
        failures = wait_until(
            lambda: (f := {s["name"]: s["failures"] for s in app.json("/healthz")["sources"]})
            [dripping.url].get("timeout") and f, timeout=25, what="the dripping TLS given up")
        assert failures[good.url] == {} and set(failures[dripping.url]) == {"timeout"}
        assert "the TLS handshake was not done within 10 s" in app.log_text()
    finally:
        app.stop()
        good.close()
        dripping.close()


# -- the app, under either hub -----------------------------------------------------------------------
@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_the_app_reads_events_through_a_proxy_and_a_hostile_one_costs_it_nothing(proxies, lab,
                                                                                async_mode):
    """The app as a user runs it, with http_proxy in its environment: events through a real
    proxy; then a second source whose proxy floods its answer: refused at 16 KiB, counted in
    /healthz sources[].failures, and the app answers throughout."""
    good = proxies(auth=(PROXY_USER, PROXY_PASSWORD))
    env = {"http_proxy": good.address(PROXY_USER, PROXY_PASSWORD), "no_proxy": "", "NO_PROXY": "",
           "HTTP_PROXY": "", "https_proxy": "", "HTTPS_PROXY": ""}
    app = AppProcess("--event-source", lab.url, "--no-store", async_mode=async_mode, env=env)
    try:
        lab.wait_for_clients()
        lab.send(device("via-proxy"))
        wait_until(lambda: any(d["hostname"] == "via-proxy"
                               for d in app.json("/api/v1/state")["devices"]),
                   what="an event through the proxy")
        [status] = [s for s in app.json("/healthz")["sources"] if s["kind"] == "websocket"]
        assert status["state"] == "connected" and status["failures"] == {}
        assert good.requests[0].startswith(f"CONNECT 127.0.0.1:{lab.port} HTTP/1.1".encode())
        assert PROXY_PASSWORD not in app.log_text()
    finally:
        app.stop()
    flood = proxies(endless)
    env["http_proxy"] = flood.address()
    app = AppProcess("--event-source", lab.url, "--no-store", async_mode=async_mode, env=env)
    try:
        with HealthWatch(app.url) as watch:
            wait_until(lambda: app.json("/healthz")["sources"][0]["failures"].get(
                "proxy_too_large", 0) >= 2, timeout=20, what="the flooding proxy refused twice")
        watch.check()
        detail = app.json("/healthz")["sources"][0]["detail"]
        assert "the proxy's answer to CONNECT has over 16 KiB of headers" in detail
        assert app.alive()
    finally:
        app.stop()


# -- TLS -------------------------------------------------------------------------------------------
def self_signed_certificate(directory):
    """A certificate for 127.0.0.1 (its own CA) and its key, as files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
                ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TlsWebSocket(HostileServer):
    """A wss:// server on 127.0.0.1: TLS, the request's head (kept in `requests`), then
    script(conn, head), then the connection closed."""

    def __init__(self, cert, key, script):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        super().__init__(lambda server, conn, head, index: script(conn, head))
        self.url = f"wss://127.0.0.1:{self.port}/ws/"

    def wrap(self, conn):
        return self.context.wrap_socket(conn, server_side=True)
