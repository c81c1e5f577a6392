"""How the sources reach LAVA across the network, read the same way by the REST client (rest.py)
and the WebSocket source (ws.py): which proxy an address goes through, and which certificate
authorities TLS trusts.

- Proxies come from the environment: http_proxy for http:// and ws://, https_proxy for https://
  and wss://, and no_proxy (else NO_PROXY) for the hosts reached directly (bypasses_proxy). The
  two sources once read no_proxy differently: urllib ignored case and leading dots and took
  host:port entries, websocket-client took none of these and let ".example.org" name
  "badexample.org" (an audit).
- TLS trusts the system's CAs (OpenSSL's defaults, which SSL_CERT_FILE and SSL_CERT_DIR replace for
  the whole process), or, for a lab given one (--lava-ca-file, a labs file's ca_file), only those
  of its CA bundle (tls_context).
"""
import base64
import functools
import ipaddress
import os
import ssl
import urllib.parse


def bypasses_proxy(host, port, environ=None):
    """Whether no_proxy (else NO_PROXY) says that `host` (a name or an IP address, without
    brackets) at `port` is reached without the proxy. Read as urllib reads it: entries separated
    by commas; `*` for every host; case ignored; a leading dot (or `*.`) ignored, so that
    `example.org` and `.example.org` both name example.org and every name under it; `host:port`
    names that port only; an IPv6 address bare or in brackets (`[::1]:8080` with a port). An IP
    address is matched as an address, never by its digits' suffix, and may be named by its network
    (`10.0.0.0/8`, as websocket-client took it)."""
    environ = os.environ if environ is None else environ
    value = environ["no_proxy"] if "no_proxy" in environ else environ.get("NO_PROXY", "")
    host = host.strip("[]").lower()
    address = _address(host)
    for entry in value.split(","):
        entry = entry.strip().lower()
        if entry == "*":
            return True
        name, wanted = _entry(entry)
        if not name or (wanted is not None and wanted != port):
            continue
        if address is not None:
            if _names_address(name, address):
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


def _entry(entry):
    """(name, port or None) of one no_proxy entry; the port -1 when it is not a number."""
    name, port = entry, None
    if entry.startswith("["):  # [v6] or [v6]:port
        name, _, rest = entry[1:].partition("]")
        if rest:
            port = rest[1:] if rest.startswith(":") else "?"
    elif entry.count(":") == 1:  # name:port, v4:port (a bare IPv6 address has several colons)
        name, port = entry.split(":")
    if port is not None:
        port = int(port) if port.isdigit() else -1
    return name.lstrip("*").lstrip("."), port


def _address(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _names_address(name, address):
    """Whether a no_proxy entry's name is this IP address, or a network holding it."""
    try:
        if "/" in name:
            return address in ipaddress.ip_network(name, strict=False)
        return address == ipaddress.ip_address(name)
    except ValueError:
        return False


def proxy_of(secure, environ=None):
    """(host, port, (user, password) or None) of the HTTP proxy the environment names for ws://
    (http_proxy, else HTTP_PROXY) or wss:// (https_proxy, else HTTPS_PROXY); (None, 0, None) for
    none. ValueError for a URL whose port cannot be read (its message quotes the URL's parts: never
    shown). Whether a host goes through it at all is bypasses_proxy's to say."""
    environ = os.environ if environ is None else environ
    key = "https_proxy" if secure else "http_proxy"
    value = environ.get(key, environ.get(key.upper(), "")).replace(" ", "")
    if not value:
        return None, 0, None
    proxy = urllib.parse.urlsplit(value)
    auth = ((urllib.parse.unquote(proxy.username), urllib.parse.unquote(proxy.password or ""))
            if proxy.username else None)
    return proxy.hostname, proxy.port, auth


def proxy_secrets(environ=os.environ):
    """What of the proxies' URLs must never be shown: their userinfo, password (raw and decoded)
    and the Basic pair sent to them. (Not the user alone: a user named "proxy" would blank out
    the messages' words.)"""
    secrets = []
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        parts = urllib.parse.urlsplit(environ.get(name, "").replace(" ", ""))
        userinfo = parts.netloc.rpartition("@")[0]
        if not userinfo:
            continue
        user, _, password = userinfo.partition(":")
        pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode("utf-8")
        secrets += [userinfo, password, urllib.parse.unquote(password),
                    base64.b64encode(pair).decode("ascii")]
    return secrets


@functools.lru_cache(maxsize=64)
def tls_context(ca_file):
    """The TLS settings of one lab's connections to LAVA (REST and WebSocket alike): None for the
    system's CAs (each connection then makes its own, as before), else a context that trusts the
    CAs of the PEM bundle `ca_file` alone, the certificate's host name checked as ever. Read once
    per file: the context is shared. ValueError when OpenSSL cannot load it (config.check_ca_file
    says so at start, naming the setting)."""
    if not ca_file:
        return None
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
        why = getattr(err, "reason", None) or getattr(err, "strerror", None) or type(err).__name__
        raise ValueError(f"cannot use {ca_file!r} as a CA bundle ({why})") from None
    # A bundle of the CA that issued LAVA's certificate (an intermediate) is enough, as for curl
    # --cacert and Python 3.13's default: 3.11 wanted its root too ("unable to get issuer
    # certificate", a reach audit). Only the lab's own bundle is read here, never the system's.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.set_alpn_protocols(["http/1.1"])  # what http.client's own context says
    return context
