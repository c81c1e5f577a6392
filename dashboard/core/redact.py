"""Secrets out of what is shown: server URLs that carry them (Redis, PostgreSQL), and any text."""
import re
import urllib.parse


def split_secrets(url):
    """(the URL without its secrets, {name: secret}). A secret is the password of the user part
    (returned as `password`) or any query parameter whose name ends in `password` (`password`,
    `sslpassword`, ...)."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    secrets = {"password": urllib.parse.unquote(password)} if colon else {}
    query = []
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if name.lower().endswith("password"):
            secrets[name] = value
        else:
            query.append((name, value))
    public = parts._replace(netloc=(user + at if user else "") + hosts,
                            query=urllib.parse.urlencode(query, quote_via=urllib.parse.quote))
    return urllib.parse.urlunsplit(public), secrets


def redact(url):
    """The URL as it may be shown (logs, /healthz): no secret anywhere in it."""
    return split_secrets(url)[0]


# scheme://user:password@ anywhere in a text: the password goes, whatever the scheme.
USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@")


def scrub(text, secrets=()):
    """`text` with every secret in `secrets` (a token, a password) and every URL's password taken
    out: for error messages, log lines and /healthz."""
    for secret in secrets:
        if secret and len(secret) >= 4:  # a 1-character "secret" would blank out the text
            text = text.replace(secret, "<secret>")
    return USERINFO.sub(r"\1:***@", text)


MAX_QUOTED = 40  # characters of a value an error message quotes (whole, or not at all)


def quoted(value, most=MAX_QUOTED):
    """A value for an error message: quoted whole (`most` characters at most) or only its size.
    Cut short, a token a peer echoed into it would no longer be found by scrub(); and a value may
    be as long as a message."""
    if isinstance(value, (dict, list)):
        return f"(a {'table' if isinstance(value, dict) else 'list'} of {len(value)} items)"
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= most:
        return repr(value)
    return f"(a text of {len(text)} characters)" if isinstance(value, str) \
        else f"(a {type(value).__name__} of {len(text)} characters)"
