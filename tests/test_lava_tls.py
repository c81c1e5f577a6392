"""A LAVA behind a private CA: its certificate signed by a CA made here for the test, served over
https:// (the REST API, the fake LAVA of the other tests) and wss:// (lava-publisher's WebSocket:
a TLS WebSocket server, and tests/lava_ws.py's aiohttp one), on 127.0.0.1. Without the lab's CA
bundle (--lava-ca-file, a labs file's ca_file) both fail as `tls`, counted; with it, both are read;
and a bundle that cannot be used stops the dashboard at start, saying which setting. The app runs
as a subprocess under eventlet and gevent."""
import datetime
import ipaddress
import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from dashboard import config, labs
from dashboard.sources import network
from dashboard.sources.rest import LavaError, LavaRest
from tests.fake_lava import FakeLava
from tests.fixtures import rest
from tests.helpers import ROOT, AppProcess, LiveView, wait_until
from tests.lava_ws import LavaWebSocket
from tests.test_ws_hostile import frame, in_process, lava, run_briefly, upgrade
from tests.test_ws_proxy import TlsWebSocket

TOKEN = "tls-test-lava-token-0123456789"
# The proxies and the process-wide CAs of the machine running the tests play no part.
NEUTRAL_ENV = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
               "SSL_CERT_FILE", "SSL_CERT_DIR", "WEBSOCKET_CLIENT_CA_BUNDLE")
APP_ENV = {name: "" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


# -- a private CA ----------------------------------------------------------------------------------
class Pki:
    """A throwaway CA (`ca`: its certificate, PEM) and a server certificate it signed for
    127.0.0.1 (`cert`, `key`); `other_ca`: a CA that signed nothing here."""

    def __init__(self, directory):
        self.directory = directory
        ca_key, ca_cert, self.ca = self._ca("Test Lab Private CA", "ca.pem")
        self.ca_pair = (ca_key, ca_cert)
        _, _, self.other_ca = self._ca("Another CA", "other-ca.pem")
        self.cert, self.key = self._server(ca_key, ca_cert)

    def issued_by_an_intermediate(self):
        """A root CA (`root`), an issuing CA it signed (`issuing`), and the server's certificate
        signed by the issuing CA: `cert` holds both, as a server sends its chain."""
        root_key, root_cert, self.root = self._ca("Test Lab Root CA", "root.pem", path_length=1)
        issuing_key, issuing_cert, self.issuing = self._ca("Test Lab Issuing CA", "issuing.pem",
                                                           signer=(root_key, root_cert))
        self.cert, self.key = self._server(issuing_key, issuing_cert)
        self.cert.write_bytes(self.cert.read_bytes() + self.issuing.read_bytes())
        return self

    def _ca(self, name, filename, signer=None, path_length=0):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        signer_key, issuer = (key, subject) if signer is None else (signer[0], signer[1].subject)
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                             False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(signer_key, hashes.SHA256()))
        path = self.directory / filename
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return key, cert, path

    def _server(self, ca_key, ca_cert, days=1):
        """A certificate for 127.0.0.1 valid for `days` from now (negative: expired that long)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lava.test")]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=max(0, -days) + 1))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
                    ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path, key_path = self.directory / "server.pem", self.directory / "server.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


@pytest.fixture
def neutral_env(monkeypatch):
    for name in NEUTRAL_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class TlsLava(FakeLava):
    """The fake LAVA over https://, its certificate the PKI's."""

    def __init__(self, pki, **kwargs):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki.cert, pki.key)
        super().__init__(**kwargs)
        self.url = f"https://127.0.0.1:{self.port}"

    def start(self):
        from werkzeug.serving import make_server

        # A client that does not trust the certificate makes the server log its handshake's end.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        self.server = make_server("127.0.0.1", self.port, self.wsgi, threaded=True,
                                  ssl_context=self.context)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


class TlsLavaWebSocket(LavaWebSocket):
    """lava-publisher's WebSocket (tests/lava_ws.py) over wss://, its certificate the PKI's."""

    def __init__(self, pki):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki.cert, pki.key)
        super().__init__()
        self.url = f"wss://127.0.0.1:{self.port}/ws/"

    async def _start(self):
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/ws/", self._websocket_handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.context).start()


@pytest.fixture
def tls_lava(pki):
    server = TlsLava(pki, token=TOKEN)
    yield server
    server.close()


def device(host):
    return [b"org.lavasoftware.device", f"uuid-{host}-{time.monotonic_ns()}".encode(),
            b"2026-11-30T10:00:00", b"lavaserver",
            json.dumps({"device": host, "device_type": "qemu", "state": "Idle", "health": "Good",
                        "worker": "w1"}).encode()]


# -- the REST client -------------------------------------------------------------------------------
def test_the_rest_client_trusts_the_lab_s_ca_bundle_and_says_tls_without_it(pki, tls_lava,
                                                                            neutral_env):
    """Without the CA, the certificate cannot be verified: a `tls` error (it was `unreachable`,
    as if LAVA were down) that says what to give, never the token. With the lab's bundle the
    snapshot is read; with SSL_CERT_FILE, the process-wide alternative, too."""
    with pytest.raises(LavaError) as info:
        LavaRest(tls_lava.url, TOKEN, timeout=5).fetch_snapshot()
    assert info.value.kind == "tls", str(info.value)
    message = str(info.value)
    assert "could not be verified" in message and "--lava-ca-file" in message
    assert TOKEN not in message
    snap = LavaRest(tls_lava.url, TOKEN, timeout=5, ca_file=str(pki.ca)).fetch_snapshot()
    assert len(snap.devices) == len(rest("devices_all")["results"])
    assert all(auth == f"Token {TOKEN}" for _, _, auth in tls_lava.requests)
    neutral_env.setenv("SSL_CERT_FILE", str(pki.ca))
    assert LavaRest(tls_lava.url, TOKEN, timeout=5).whoami() == "admin"


def test_the_lab_s_bundle_replaces_the_system_s_cas_and_host_names_are_still_checked(
        pki, tls_lava, neutral_env):
    """The bundle is the lab's whole trust: SSL_CERT_FILE's CA (which did sign LAVA's
    certificate) is not added to another CA's bundle. And a trusted certificate for another name
    (here it names 127.0.0.1, not localhost) is refused: the CA bundle never turns checks off."""
    neutral_env.setenv("SSL_CERT_FILE", str(pki.ca))
    with pytest.raises(LavaError) as info:
        LavaRest(tls_lava.url, TOKEN, timeout=5, ca_file=str(pki.other_ca)).whoami()
    assert info.value.kind == "tls"
    elsewhere = tls_lava.url.replace("127.0.0.1", "localhost")
    with pytest.raises(LavaError) as info:
        LavaRest(elsewhere, TOKEN, timeout=5, ca_file=str(pki.ca)).whoami()
    assert info.value.kind == "tls" and "localhost" in str(info.value), str(info.value)
    # ... and told what to do about it, not to give a CA bundle (a reach audit)
    assert str(info.value).endswith("it is not for this host name: lava_url must name a host the "
                                    "certificate names"), str(info.value)


def test_an_expired_certificate_is_said_so_and_the_advice_fits(pki, tmp_path, neutral_env):
    """A reach audit: an expired certificate was told "give its certificate with
    --lava-ca-file", which the lab had given; a dead proxy was blamed on LAVA."""
    pki.cert, pki.key = pki._server(*pki.ca_pair, days=-1)
    server = TlsLava(pki, token=TOKEN)
    try:
        with pytest.raises(LavaError) as info:
            LavaRest(server.url, TOKEN, timeout=5, ca_file=str(pki.ca)).whoami()
        assert info.value.kind == "tls" and "certificate has expired" in str(info.value)
        assert "it has expired: LAVA's administrators must renew it" in str(info.value)
        assert "--lava-ca-file" not in str(info.value), str(info.value)
    finally:
        server.close()
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: refused
    try:
        neutral_env.setenv("https_proxy", f"http://someone:ProxyPass1@127.0.0.1:{dead.getsockname()[1]}")
        with pytest.raises(LavaError) as info:
            LavaRest("https://127.0.0.1:9/", TOKEN, timeout=5, ca_file=str(pki.ca)).whoami()
        assert info.value.kind == "unreachable", str(info.value)
        assert (f"cannot reach LAVA at https://127.0.0.1:9 through the proxy "
                f"127.0.0.1:{dead.getsockname()[1]} (the environment's https_proxy)") in str(info.value)
        assert "ProxyPass1" not in str(info.value) and "someone" not in str(info.value)
    finally:
        dead.close()


def test_a_bundle_of_the_issuing_ca_alone_is_enough_as_curl_finds(tmp_path, neutral_env):
    """A reach audit: a lab gave the CA that issued LAVA's certificate (an intermediate, as curl
    --cacert takes it), and was told "unable to get issuer certificate ... give its certificate
    with --lava-ca-file", the setting it had given: Python 3.11's OpenSSL context wants the root
    unless VERIFY_X509_PARTIAL_CHAIN is set (3.13 sets it). The root works as before; a CA that
    signed nothing is still refused."""
    chain = Pki(tmp_path).issued_by_an_intermediate()
    server = TlsLava(chain, token=TOKEN)
    try:
        for bundle in (chain.issuing, chain.root):
            network.tls_context.cache_clear()
            assert LavaRest(server.url, TOKEN, timeout=5, ca_file=str(bundle)).whoami() == "admin"
        with pytest.raises(LavaError) as info:
            LavaRest(server.url, TOKEN, timeout=5, ca_file=str(chain.other_ca)).whoami()
        assert info.value.kind == "tls", str(info.value)
    finally:
        server.close()


# -- the WebSocket source --------------------------------------------------------------------------
def test_a_wss_source_trusts_the_lab_s_ca_bundle_and_counts_tls_without_it(pki, neutral_env):
    """As the REST client: `tls` counted without the CA, the event read with the lab's bundle (and
    not with another CA's), or with SSL_CERT_FILE for the whole process."""
    server = TlsWebSocket(pki.cert, pki.key, lambda conn, head: conn.sendall(
        upgrade(head) + frame(lava("over-private-tls"))))
    try:
        source, status, _, handled, _ = in_process(server.url)
        assert run_briefly(source, handled)
        assert handled == [] and status.as_dict()["failures"] == {"tls": 1}
        assert "CERTIFICATE_VERIFY_FAILED" in status.detail
        source, status, _, handled, _ = in_process(server.url, ca_file=str(pki.ca))
        assert run_briefly(source, handled)
        assert [json.loads(f[4])["device"] for f in handled] == ["over-private-tls"]
        assert status.as_dict()["failures"] == {}
        source, status, _, handled, _ = in_process(server.url, ca_file=str(pki.other_ca))
        assert run_briefly(source, handled)
        assert handled == [] and status.as_dict()["failures"] == {"tls": 1}
        neutral_env.setenv("SSL_CERT_FILE", str(pki.ca))  # the process-wide alternative
        source, status, _, handled, _ = in_process(server.url)
        assert run_briefly(source, handled)
        assert len(handled) == 1 and status.as_dict()["failures"] == {}
    finally:
        server.close()


# -- the app ---------------------------------------------------------------------------------------
def lava_status(app):
    return app.json("/healthz")["lava"]


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_the_app_reads_a_private_ca_lava_over_https_and_wss(pki, tls_lava, tmp_path, async_mode):
    """--lava-ca-file: the REST load (token and all) and the wss:// events both go through TLS
    checked against the lab's CA, under either hub."""
    publisher = TlsLavaWebSocket(pki)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    app = AppProcess("--lava-url", tls_lava.url, "--lava-token-file", str(token_file),
                     "--event-source", publisher.url, "--lava-ca-file", str(pki.ca),
                     async_mode=async_mode, env=APP_ENV)
    try:
        wait_until(lambda: lava_status(app)["loaded"], timeout=20, what="LAVA's state loaded")
        publisher.wait_for_clients()
        # (A board LAVA lists, anonymously too: one it does not list is kept out, core/screen.py;
        # LAVA's REST says qemu-01's health is Unknown.)
        publisher.send(device("qemu-01"))
        wait_until(lambda: any(d["hostname"] == "qemu-01" and d["health"] == "Good"
                               for d in app.json("/api/v1/state")["devices"]),
                   timeout=15, what="an event over wss://")
        healthz = app.json("/healthz")
        assert healthz["lava"]["failures"] == {}
        assert [s["failures"] for s in healthz["sources"]] == [{}]
        assert TOKEN not in app.log_text()
    finally:
        app.stop()
        publisher.close()


def test_each_lab_trusts_its_own_ca_and_one_without_it_fails_as_tls_alone(pki, tls_lava,
                                                                          tmp_path):
    """Two labs of one labs file, the same private-CA LAVA: east gives its CA (ca_file) and is
    read, REST and events; west gives none, and its REST and WebSocket fail as `tls`, counted in
    /healthz, degrading west alone."""
    publisher = TlsLavaWebSocket(pki)
    labs_file = tmp_path / "labs.toml"
    labs_file.write_text(f'[labs.east]\nlava_url = "{tls_lava.url}"\nca_file = "{pki.ca}"\n'
                         f'event_source = "{publisher.url}"\n\n'
                         f'[labs.west]\nlava_url = "{tls_lava.url}"\n'
                         f'event_source = "{publisher.url}"\n')
    app = AppProcess("--labs", str(labs_file), env=APP_ENV)

    def lab(name):
        return next(entry for entry in app.json("/healthz")["labs"] if entry["name"] == name)
    try:
        wait_until(lambda: lab("east")["lava"]["loaded"], timeout=20, what="east loaded")
        publisher.wait_for_clients()
        publisher.send(device("qemu-01"))  # (LAVA's REST: Unknown)
        wait_until(lambda: any(d["hostname"] == "qemu-01" and d["lab"] == "east"
                               and d["health"] == "Good"
                               for d in app.json("/api/v1/state")["devices"]),
                   timeout=15, what="east's event over wss://")
        west = wait_until(lambda: (w := lab("west"))["lava"]["failures"].get("tls")
                          and w["sources"][0]["failures"].get("tls") and w,
                          timeout=20, what="west's TLS failures counted")
        assert west["lava"]["loaded"] is False and west["lava"]["error_kind"] == "tls"
        assert "--lava-ca-file" in west["lava"]["error"]
        east = lab("east")
        assert east["lava"]["failures"] == {} and east["sources"][0]["failures"] == {}
        degraded = app.json("/healthz")["degraded"]
        assert "west:lava-api" in degraded and "east:lava-api" not in degraded
        # What the page is told of each lab's source: why west's is not connected, in a word
        # (an audit: "connecting" for ever, the reason only in /healthz)
        view = LiveView(app.url).connect()
        try:
            wait_until(lambda: view.meta, timeout=10, what="a snapshot")
            sources = {s["lab"]: s for s in view.meta["sources"]}
        finally:
            view.close()
        assert sources["west"]["state"] == "connecting" and sources["west"]["problem"] == "tls"
        assert sources["east"]["state"] == "connected" and "problem" not in sources["east"]
    finally:
        app.stop()
        publisher.close()


# -- a bundle that cannot be used -----------------------------------------------------------------
def bad_bundles(directory, pki):
    """(what, path) of bundles that cannot be used, each as a user might give it."""
    (directory / "empty.pem").write_text("")
    (directory / "key-only.pem").write_bytes(pki.key.read_bytes())
    der = directory / "ca.der"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(pki.ca.read_text()))
    cut = directory / "cut.pem"
    cut.write_text(pki.ca.read_text()[:200] + "\n-----END CERTIFICATE-----\n")
    return [("missing", directory / "no-such.pem"), ("a folder", directory),
            ("empty", directory / "empty.pem"), ("a key", directory / "key-only.pem"),
            ("DER", der), ("cut short", cut)]


def test_a_bundle_that_cannot_be_used_is_said_at_start_naming_the_setting(pki, tmp_path):
    for what, path in bad_bundles(tmp_path, pki):
        with pytest.raises(config.ConfigError) as info:
            config.load(["--lava-url", "https://lava.example.org", "--lava-ca-file", str(path)],
                        environ={})
        assert str(info.value).startswith("lava_ca_file: ") and str(path) in str(info.value), what
        with pytest.raises(config.ConfigError) as info:
            labs.parse(f'[labs.east]\nlava_url = "https://lava.example.org"\nca_file = "{path}"\n')
        assert str(info.value).startswith("labs.east.ca_file: "), (what, str(info.value))
    values = config.load(["--lava-url", "https://x", "--lava-ca-file", str(pki.ca)], environ={})
    assert values["lava_ca_file"] == str(pki.ca)
    [east] = labs.parse(f'[labs.east]\nlava_url = "https://x"\nca_file = "{pki.ca}"\n')
    assert east.ca_file == str(pki.ca) and east.settings(values)["lava_ca_file"] == str(pki.ca)


def test_the_labs_file_takes_ca_file_per_lab_and_refuses_the_flag_beside_it(pki, tmp_path):
    with pytest.raises(config.ConfigError, match="a simulated lab has no lava_url, event_source "
                                                 "or ca_file"):
        labs.parse(f'[labs.demo]\nsimulated = true\nca_file = "{pki.ca}"\n')
    with pytest.raises(config.ConfigError, match=r"labs.east.ca_file: must be a string"):
        labs.parse('[labs.east]\nlava_url = "https://x"\nca_file = 5\n')
    labs_file = tmp_path / "labs.toml"
    labs_file.write_text('[labs.east]\nlava_url = "https://x"\n')
    settings = config.load(["--labs", str(labs_file), "--lava-ca-file", str(pki.ca)], environ={})
    with pytest.raises(config.ConfigError, match="give each lab's lava_ca_file \\(its ca_file\\)"):
        labs.from_settings(settings)


@pytest.mark.parametrize("where", ["flag", "labs file"])
def test_app_py_exits_with_the_setting_s_name_not_a_traceback(pki, tmp_path, where):
    bundle = tmp_path / "not-a-bundle.pem"
    bundle.write_text("this is not a certificate\n")
    if where == "flag":
        args, said = ["--lava-url", "https://127.0.0.1:9", "--lava-ca-file", str(bundle)], \
            "app.py: error: lava_ca_file: "
    else:
        labs_file = tmp_path / "labs.toml"
        labs_file.write_text(f'[labs.east]\nlava_url = "https://127.0.0.1:9"\n'
                             f'ca_file = "{bundle}"\n')
        args, said = ["--labs", str(labs_file)], "app.py: error: labs.east.ca_file: "
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--data-dir",
                             str(tmp_path / "data"), *args], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1, result.stderr[-2000:]
    assert said in result.stderr and "holds no certificate" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_one_context_per_bundle_shared_by_both_sources(pki):
    """Read once per file, whoever asks (a token check makes a REST client per viewer)."""
    assert network.tls_context("") is None
    context = network.tls_context(str(pki.ca))
    assert network.tls_context(str(pki.ca)) is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    rest_client = LavaRest("https://127.0.0.1:9", ca_file=str(pki.ca))
    source, *_ = in_process("wss://127.0.0.1:9/ws/", ca_file=str(pki.ca))
    assert rest_client._tls is context and source.tls is context
