"""The labs one dashboard watches: from --labs FILE (TOML), or the single-lab flags (docs/labs.md).

A lab is a LAVA server with its own name, REST API, token, CA bundle and event sources. The
single-lab flags (--lava-url, --event-source, --lava-token-file, --lava-ca-file, --topic-prefix)
are the shorthand for one unnamed lab, as before. Standard library only, like config.py: app.py
reads it before monkey-patching.
"""
import dataclasses
import re
import tomllib
import urllib.parse

from dashboard.config import EVENT_SCHEMES, ConfigError, check_ca_file

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}\Z")
MAX_LABS = 32
MAX_FILE_BYTES = 1 << 20
MAX_SOURCES = 8
KEYS = ("lava_url", "token_file", "ca_file", "event_source", "topic_prefix", "simulated",
        "database")
# A single-lab flag given with --labs, and the field of the labs file that says it per lab.
PER_LAB = {"lava_url": "lava_url", "lava_token": "token_file", "lava_token_file": "token_file",
           "lava_ca_file": "ca_file", "event_source": "event_source", "zmq": "event_source",
           "topic_prefix": "topic_prefix"}
POSTGRES_PORT = 5432  # libpq's default: a URL without a port means this one


@dataclasses.dataclass(frozen=True)
class Lab:
    """One lab: `name` is "" for the unnamed lab of the single-lab flags."""

    name: str
    lava_url: str = ""
    token_file: str = ""
    event_sources: tuple = ()
    topic_prefix: str = ""
    simulated: bool = False
    database: str = ""  # a PostgreSQL URL for this lab's history; empty: its own SQLite file
    ca_file: str = ""  # the CA bundle its https:// and wss:// trust alone; empty: the system's

    def settings(self, settings):
        """The dashboard's settings as this lab's parts read them (its URL, token and sources)."""
        if not self.name:
            return settings
        return {**settings, "lava_url": self.lava_url, "lava_token": "",
                "lava_token_file": self.token_file, "event_source": list(self.event_sources),
                "zmq": [], "topic_prefix": self.topic_prefix, "database": self.database,
                "lava_ca_file": self.ca_file}


def from_settings(settings):
    """The labs of these settings: those of --labs, else the one lab of the single-lab flags."""
    path = settings.get("labs") or ""
    if not path:
        for url in settings["event_source"]:  # checked here as a labs file's are: at start
            check_event_source("event_source", url)
        return [Lab("", settings["lava_url"], settings["lava_token_file"],
                    tuple(settings["event_source"]), settings["topic_prefix"],
                    not settings["event_source"] and not settings["lava_url"],
                    ca_file=settings.get("lava_ca_file", ""))]
    given = [f for f in PER_LAB if settings.get(f)]
    if given:
        field = "" if PER_LAB[given[0]] == given[0] else f" (its {PER_LAB[given[0]]})"
        raise ConfigError(f"labs: give each lab's {given[0]}{field} in {path!r}, not with --labs "
                          f"(the single-lab flags are the shorthand for one lab)")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"labs: cannot read {path!r}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"labs: {path!r} is larger than {MAX_FILE_BYTES} bytes")
    try:
        labs = parse(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"labs: {path!r} is not UTF-8 text") from None
    if settings["access"] != "open":
        for lab in labs:
            if not lab.lava_url:
                raise ConfigError(f"labs.{lab.name}: access {settings['access']} needs its lava_url, "
                                  f"the LAVA that says who may see its jobs (or give --access open)")
    return labs


def parse(text):
    """TOML text → [Lab], or raise ConfigError naming the lab and field that is wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"labs: not TOML ({exc})") from None
    unknown = sorted(set(doc) - {"labs"})
    if unknown:
        raise ConfigError(f"labs: unknown table {unknown[0][:40]!r}; each lab is a [labs.NAME] table")
    tables = doc.get("labs")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError("labs: no lab: give one [labs.NAME] table per lab")
    if len(tables) > MAX_LABS:
        raise ConfigError(f"labs: {len(tables)} labs, at most {MAX_LABS}")
    labs = [_lab(name, fields) for name, fields in tables.items()]
    databases = {}
    for lab in labs:  # one lab's history and saved model per database: never two labs' in one
        if lab.database:
            other = databases.setdefault(database_identity(lab.database), lab.name)
            if other != lab.name:
                raise ConfigError(f"labs.{lab.name}.database: the same database as lab {other}'s; "
                                  f"each lab keeps its history in a database of its own")
    return labs


def _lab(name, fields):
    if not NAME.match(name):
        raise ConfigError(f"labs: lab name {name[:40]!r}: 1 to 32 of a-z, 0-9, '-' and '_', "
                          f"starting with a letter or digit")
    where = f"labs.{name}"
    if not isinstance(fields, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(fields) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0][:40]!r}; known: {', '.join(KEYS)}"
                          + (" (give the token in token_file: a config file is read by many)"
                             if unknown[0] in ("token", "lava_token") else ""))
    for field in ("lava_url", "token_file", "ca_file", "topic_prefix", "database"):
        if not isinstance(fields.get(field, ""), str):
            raise ConfigError(f"{where}.{field}: must be a string")
    sources = fields.get("event_source", [])
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        raise ConfigError(f"{where}.event_source: must be a URL or a list of URLs")
    if len(sources) > MAX_SOURCES:
        raise ConfigError(f"{where}.event_source: at most {MAX_SOURCES} sources")
    for url in sources:
        check_event_source(f"{where}.event_source", url)
    url = fields.get("lava_url", "")
    if url and not url.lower().startswith(("http://", "https://")):
        # Not echoed: a mistyped URL may hold credentials.
        raise ConfigError(f"{where}.lava_url: expected an http:// or https:// URL")
    if url:
        _host_and_port(f"{where}.lava_url", url)
    simulated = fields.get("simulated", False)
    if not isinstance(simulated, bool):
        raise ConfigError(f"{where}.simulated: must be true or false")
    if simulated and (url or sources or fields.get("ca_file")):
        raise ConfigError(f"{where}: a simulated lab has no lava_url, event_source or ca_file")
    if not simulated and not url and not sources:
        raise ConfigError(f"{where}: needs lava_url or event_source (or simulated = true)")
    if fields.get("token_file") and not url:
        raise ConfigError(f"{where}.token_file: the token is for lava_url's server: give lava_url")
    database = fields.get("database", "")
    if database and not database.startswith(("postgresql://", "postgres://")):
        # Never echoed: the URL may hold a password.
        raise ConfigError(f"{where}.database: expected a postgresql:// URL (empty: an SQLite "
                          f"file of its own in --data-dir)")
    if database and simulated:
        raise ConfigError(f"{where}.database: a simulated lab keeps its history apart, in SQLite")
    if database:
        database_identity(database, f"{where}.database")
    if fields.get("ca_file"):
        check_ca_file(f"{where}.ca_file", fields["ca_file"])
    return Lab(name, url.rstrip("/"), fields.get("token_file", ""), tuple(sources),
               fields.get("topic_prefix", ""), simulated, database, fields.get("ca_file", ""))


def check_event_source(field, url):
    """An event source URL the sources can open, or ConfigError naming `field` (the URL itself is
    not echoed: it may hold credentials)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in EVENT_SCHEMES:
        raise ConfigError(f"{field}: expected tcp://, ipc://, ws:// or wss://, got "
                          f"{scheme + '://...' if scheme else repr(url[:40])}")
    if scheme == "ipc":
        if not url.partition("://")[2]:
            raise ConfigError(f"{field}: an ipc:// URL needs a path")
        return
    _, port = _host_and_port(field, url)
    if scheme == "tcp" and port is None:  # ZMQ connects to an explicit port only
        raise ConfigError(f"{field}: a tcp:// URL needs a port (lava-publisher's is 5500)")


def _host_and_port(field, url):
    """(host, port or None) of a URL that has a host and, if any, a port from 1 to 65535; else
    ConfigError naming `field`, never the URL."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # an unclosed [ of an IPv6 address
        raise ConfigError(f"{field}: not a URL that can be read") from None
    try:
        port = parts.port  # ValueError when not a number, or out of 0-65535
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{field}: the port must be a number from 1 to 65535")
    if not parts.hostname:
        raise ConfigError(f"{field}: the URL needs a host")
    return parts.hostname, port


def database_identity(url, field="database"):
    """What names the database a PostgreSQL URL reaches, for telling two labs' apart: the scheme's
    two spellings, the default port, the host's case, the user and password (another user of the
    same database is the same database) and a trailing slash make no difference. Hosts and port
    may also come from the query (libpq: ?host=/run/postgresql&port=5433); the database defaults
    to the user's name."""
    try:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        # libpq: host1:port1,host2:port2; the netloc after any user:password@.
        hosts = parts.netloc.rpartition("@")[2].split(",")
        ports = query.get("port", [None])[-1]
        if ports is not None and not ports.isdigit():
            raise ValueError
        where = [_pg_host_port(h, ports, query) for h in hosts]
    except ValueError:
        raise ConfigError(f"{field}: the host or port of the URL cannot be read "
                          f"(a port is a number from 1 to 65535)") from None
    name = (query.get("dbname", [""])[-1] or urllib.parse.unquote(parts.path.strip("/"))
            or urllib.parse.unquote(parts.username or ""))
    return tuple(sorted(where)), name


def _pg_host_port(netloc, query_port, query):
    """(host, port) of one libpq host: lower-cased, the port 5432 when none is given."""
    one = urllib.parse.urlsplit("//" + netloc)
    port = one.port if one.port is not None else int(query_port or POSTGRES_PORT)
    if not 0 < port < 65536:
        raise ValueError("port")
    # (urllib lower-cases a host name; a socket directory from the query keeps its case.)
    return one.hostname or query.get("host", [""])[-1], port
