"""Server URLs that carry secrets (Redis, PostgreSQL): the one place that takes them out."""
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
