"""The event store in a PostgreSQL database: EventStore (storage/store.py) with the few
differences, for web processes on several machines."""
import contextlib

from dashboard.core.redact import split_secrets
from dashboard.storage.schema import INSERT
from dashboard.storage.store import MAX_QUEUE, EventStore

# libpq settings, unless the URL gives them: a server that cannot be reached, or vanishes from the
# network, is an error within about a minute instead of a thread stuck for TCP's timeouts (hours).
PG_DEFAULTS = {"connect_timeout": "10", "keepalives_idle": "30", "keepalives_interval": "10",
               "keepalives_count": "3", "tcp_user_timeout": "60000"}
PG_WRITE_LOCK = 0x4C415641  # an advisory lock id of our own ("LAVA")


class PostgresStore(EventStore):
    """The same store in a PostgreSQL database, shared by web processes on several machines.

    `path` is the URL without its password (it shows in /healthz and in errors). psycopg 3 waits
    for the server in the calling thread, which the app makes a real OS thread (dashboard/green.py):
    under eventlet with its C wait, which blocks only that thread; under gevent with gevent's poll,
    which runs a hub of that thread's own (gevent supports it in its threadpool's workers).
    """

    placeholder = "%s"
    events_insert = INSERT  # (PostgreSQL has no OR ROLLBACK, and no statement journal to spare)
    id_column = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    clustered = ""
    floor = "CAST(floor({x}) AS BIGINT)"  # CAST alone rounds to the nearest

    def __init__(self, url, max_queue=MAX_QUEUE):
        import psycopg
        from psycopg import conninfo

        try:  # libpq's messages may quote the URL: it is parsed without its secrets
            public, secrets = split_secrets(url)
            params = conninfo.conninfo_to_dict(public)
        except (ValueError, psycopg.Error) as exc:
            raise ValueError(f"not a valid PostgreSQL URL ({str(exc).strip()})") from None
        self._conninfo = conninfo.make_conninfo(**{**PG_DEFAULTS, **params, **secrets})
        super().__init__(public, max_queue)

    def _connect(self):
        import psycopg
        from psycopg.rows import dict_row

        # Autocommit: a read never leaves a transaction open; writes say where theirs are.
        return psycopg.connect(self._conninfo, autocommit=True, row_factory=dict_row)

    def _create_schema(self, schema):
        import psycopg

        try:
            with self._transaction() as conn:
                conn.execute(schema)
        except psycopg.Error as exc:  # unreachable, refused, or no right to create the tables
            raise ConnectionError(f"cannot use the database {self.path}: {str(exc).strip()}") from None

    @contextlib.contextmanager
    def _transaction(self):
        conn = self._conn()
        with conn.transaction():
            # Writers one at a time, across processes: ids then become visible in the order they
            # grow, as the cursors need (and two processes creating the schema do not collide).
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_WRITE_LOCK,))
            yield conn

    @staticmethod
    def _memory_mb():
        return None  # the server's, not this process's

    @staticmethod
    def _lost(conn):
        return conn.closed

    @staticmethod
    def read_errors():
        import psycopg

        return (psycopg.Error,)

    def cannot_read(self, exc):
        """The server cannot be reached, went away, or cancelled the query (OperationalError, its
        connection's InterfaceError): not a query that is wrong (a defect, answered 500), nor
        one beyond the server's limits (ProgramLimitExceeded: it would fail again)."""
        import psycopg
        from psycopg import errors

        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) \
            and not isinstance(exc, errors.ProgramLimitExceeded)

    @property
    def display_name(self):
        """The URL without its password."""
        return self.path
