"""no_proxy, read one way by both sources (dashboard/sources/network.py): the REST client took
urllib's reading, the WebSocket source websocket-client's, and an audit found them apart (case,
host:port, brackets, a suffix that is no domain, IP networks). Each form of no_proxy is checked
for the function both use, then for each source with real parts: an HTTP proxy and LAVA's stand-in
on 127.0.0.1 and ::1, the source reaching one or the other."""
import socket

import pytest

from dashboard.sources import ws
from dashboard.sources.network import bypasses_proxy
from dashboard.sources.rest import LavaRest
from dashboard.sources.ws_protocol import HandshakeError
from tests.test_rest_hostile import RawServer, answer

# (no_proxy, host, port, whether the host is reached directly)
FORMS = [
    ("", "lava.example.org", 443, False),
    ("lava.example.org", "lava.example.org", 443, True),
    ("LAVA.Example.ORG", "lava.example.org", 443, True),  # case is ignored
    ("lava.example.org", "LAVA.example.org", 443, True),
    ("example.org", "lava.example.org", 443, True),  # a domain names the hosts under it
    (".example.org", "lava.example.org", 443, True),  # a leading dot is ignored ...
    (".example.org", "example.org", 443, True),  # ... so it names the domain itself too (urllib)
    ("*.example.org", "lava.example.org", 443, True),
    ("..example.org", "lava.example.org", 443, True),
    ("example.org", "badexample.org", 443, False),  # a suffix that is not a domain
    (".example.org", "badexample.org", 443, False),  # (websocket-client: direct)
    ("lava.example.org", "example.org", 443, False),
    ("*", "anything.example", 80, True),
    (" * ", "anything.example", 80, True),
    ("other.example,*", "anything.example", 80, True),
    ("other.example , lava.example.org ,", "lava.example.org", 443, True),  # spaces, empty entries
    (",,", "lava.example.org", 443, False),
    ("lava.example.org:443", "lava.example.org", 443, True),  # host:port: that port only
    ("lava.example.org:8443", "lava.example.org", 443, False),
    ("example.org:443", "lava.example.org", 443, True),
    ("lava.example.org:https", "lava.example.org", 443, False),  # a port that is not a number
    ("10.1.2.3", "10.1.2.3", 80, True),
    ("10.1.2.3:8080", "10.1.2.3", 8080, True),
    ("10.1.2.3:8080", "10.1.2.3", 80, False),
    ("2.3", "10.1.2.3", 80, False),  # an address is never matched by its digits' suffix
    ("10.0.0.0/8", "10.1.2.3", 80, True),  # a network holds it
    ("10.0.0.0/8", "11.1.2.3", 80, False),
    ("10.0.0.0/8", "lava.example.org", 80, False),
    ("::1", "::1", 80, True),  # IPv6: bare, in brackets, with a port, in any spelling
    ("[::1]", "::1", 80, True),
    ("::1", "[::1]", 80, True),
    ("[::1]:8080", "::1", 8080, True),
    ("[::1]:8080", "::1", 80, False),
    ("[0:0::1]", "::1", 80, True),
    ("[2001:DB8::1]", "2001:db8::1", 80, True),
    ("2001:db8::/32", "2001:db8::1", 80, True),
    ("2001:db8::/32", "2001:db9::1", 80, False),
    ("[::1", "::1", 80, True),  # an unclosed bracket: the address inside it
]


@pytest.mark.parametrize("no_proxy, host, port, direct", FORMS)
def test_each_form_of_no_proxy(no_proxy, host, port, direct):
    assert bypasses_proxy(host, port, {"no_proxy": no_proxy}) is direct


def test_no_proxy_is_read_before_NO_PROXY_even_empty():
    """As urllib: the lower-case variable wins, an empty one included (it says: none)."""
    assert bypasses_proxy("lava", 80, {"NO_PROXY": "lava"}) is True
    assert bypasses_proxy("lava", 80, {"no_proxy": "", "NO_PROXY": "lava"}) is False
    assert bypasses_proxy("lava", 80, {"no_proxy": "lava", "NO_PROXY": ""}) is True
    assert bypasses_proxy("lava", 80, {}) is False


# -- both sources, real sockets --------------------------------------------------------------------
# (no_proxy, the URL's host, whether it is reached directly); {port}: LAVA's port. Each row is one
# the two sources once read apart, or one that shows they still agree.
REAL = [
    ({"no_proxy": "localhost"}, "localhost", True),
    ({"no_proxy": "LOCALHOST"}, "localhost", True),
    ({"no_proxy": ".localhost"}, "localhost", True),
    ({"no_proxy": ".calhost"}, "localhost", False),
    ({"no_proxy": "example.org, localhost"}, "localhost", True),
    ({"no_proxy": "example.org,*"}, "localhost", True),
    ({"no_proxy": "*"}, "localhost", True),
    ({"no_proxy": "localhost:{port}"}, "localhost", True),
    ({"no_proxy": "localhost:1"}, "localhost", False),
    ({"no_proxy": "127.0.0.1"}, "127.0.0.1", True),
    ({"no_proxy": "127.0.0.0/8"}, "127.0.0.1", True),
    ({"no_proxy": "0.0.1"}, "127.0.0.1", False),
    ({"no_proxy": "[::1]"}, "[::1]", True),
    ({"no_proxy": "::1"}, "[::1]", True),
    ({"no_proxy": "[::1]:{port}"}, "[::1]", True),
    ({"no_proxy": "[::1]:1"}, "[::1]", False),
    ({"NO_PROXY": "localhost"}, "localhost", True),
    ({"no_proxy": "", "NO_PROXY": "localhost"}, "localhost", False),
]


@pytest.fixture
def lab(monkeypatch):
    """LAVA's stand-in on 127.0.0.1 and ::1, and an HTTP proxy that answers for it (REST), or
    refuses CONNECT (WebSocket): each says who answered. http_proxy names the proxy."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    servers = [RawServer(lambda head, server: answer(body={"user": "direct"})),
               RawServer(lambda head, server: answer(body={"user": "direct"}), host="::1",
                         family=socket.AF_INET6),
               RawServer(lambda head, server: answer(body={"user": "proxy"})
                         if not head.startswith("CONNECT ") else
                         b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")]
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{servers[2].port}")

    def reach(environ, host, how):
        """Set no_proxy as `environ` says and reach `host` by `how`: True when directly."""
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        port = servers[1 if host.startswith("[") else 0].port
        for name, value in environ.items():
            monkeypatch.setenv(name, value.format(port=port))
        return how(host, port)
    yield reach
    for server in servers:
        server.close()


def by_rest(host, port):
    return LavaRest(f"http://{host}:{port}", timeout=5).whoami() == "direct"


def by_websocket(host, port):
    try:
        sock, _ = ws._socket_to(f"ws://{host}:{port}/ws/")
    except HandshakeError as err:
        assert err.kind == "proxy_status"  # the proxy was asked, and refused
        return False
    sock.close()
    return True


@pytest.mark.parametrize("how", [by_rest, by_websocket], ids=["rest", "websocket"])
def test_both_sources_go_direct_for_the_same_no_proxy(lab, how):
    """Every row for the source, its answers compared with the table's at once."""
    got = {(str(environ), host): lab(environ, host, how) for environ, host, _ in REAL}
    assert got == {(str(environ), host): direct for environ, host, direct in REAL}
