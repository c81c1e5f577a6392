"""A real, throwaway PostgreSQL server for the tests: its own data dir, 127.0.0.1 on a free port.

Debian's server binaries (apt package `postgresql`) are required: without them the tests fail, they
are never skipped. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
"""
import glob
import os
import shutil
import subprocess
import tempfile
from urllib.parse import quote

import psycopg
from psycopg import sql

from tests.helpers import free_port

ADMIN = "postgres"  # the superuser initdb creates; it connects through the Unix socket only


def bindir():
    """The folder of initdb and pg_ctl: $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin."""
    found = [os.environ["PG_BINDIR"]] if os.environ.get("PG_BINDIR") else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for path in reversed(found):
        if all(os.access(os.path.join(path, name), os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return path
    raise AssertionError("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
                         "/usr/lib/postgresql/*/bin nor $PG_BINDIR: install Debian's `postgresql` "
                         "package (apt-get install postgresql)")


class PostgresServer:
    """initdb + pg_ctl in a temp dir; `url` reaches `database` as `user` with a password.

    start() and stop() may alternate (the data and the port are kept: a restart); cleanup() stops it
    and deletes everything.
    """

    def __init__(self, user="dashboard", password="s3cret pa:ss@word", database="dashboard"):
        self.bin = bindir()
        self.user, self.password, self.database = user, password, database
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="pgtest-")
        self.data = os.path.join(self.dir, "data")
        self.socket_dir = os.path.join(self.dir, "socket")
        self.log = os.path.join(self.dir, "server.log")
        self._databases = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    @property
    def url(self):
        """postgresql://user:password@127.0.0.1:port/database (the password URL-quoted)."""
        return self.url_for(self.database)

    def url_for(self, database):
        """The URL of one database of this server."""
        return (f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
                f"@127.0.0.1:{self.port}/{database}")

    def _run(self, *cmd, timeout=60):
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run([*prefix, os.path.join(self.bin, cmd[0]), *cmd[1:]],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise AssertionError(f"{cmd[0]} failed ({done.returncode}): {done.stdout}{done.stderr}"
                                 + self._log_tail())
        return done

    def _log_tail(self):
        try:
            with open(self.log) as f:
                return "\nserver log:\n" + f.read()[-3000:]
        except OSError:
            return ""

    def start(self):
        """Create the cluster on first use, then start the server and wait until it accepts."""
        first = not os.path.exists(self.data)
        if first:
            os.makedirs(self.socket_dir)
            if self._as_postgres:
                shutil.chown(self.socket_dir, "postgres", "postgres")
            # Unix socket: the superuser, trusted; TCP: passwords only (what a deployment has).
            self._run("initdb", "-D", self.data, "-U", ADMIN, "--auth-local=trust",
                      "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "start", "-D", self.data, "-l", self.log, "-w", "-t", "30", "-o", options)
        if first:
            self._admin(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(self.user), sql.Literal(self.password)))
            self.create_database(self.database)
        return self

    def stop(self):
        """Stop the server (fast shutdown: clients are disconnected); its data is kept."""
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run("pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w", "-t", "30")

    def cleanup(self):
        """Stop the server and delete its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def create_database(self, name=None):
        """A new empty database owned by the test user; returns its URL."""
        self._databases += 1
        name = name or f"test_{self._databases}"
        self._admin(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name),
                                                                 sql.Identifier(self.user)))
        return self.url_for(name)

    def _admin(self, statement):
        with psycopg.connect(host=self.socket_dir, port=self.port, user=ADMIN, dbname="postgres",
                             autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)
