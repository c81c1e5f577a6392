"""Real servers for the cluster tests, on loopback: redis-server, and nginx running deploy/nginx.conf.

Both come from Debian's packages (scripts/install-test-deps.sh installs them). A missing binary
fails the test with the reason: the suite never skips what CI must run.
"""
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

from tests.helpers import ROOT, free_port, wait_until


def _binary(name, *extra_paths):
    for candidate in (shutil.which(name), *extra_paths):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError(f"{name} is not installed: run scripts/install-test-deps.sh "
                         f"(Debian package {'nginx-light' if name == 'nginx' else 'redis-server'})")


def _ping(port, password=None):
    import redis

    try:
        return redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=1).ping()
    except redis.RedisError:
        return False


class RedisServer:
    """redis-server on 127.0.0.1 with nothing saved to disk: a restart loses everything, the
    harshest case for the dashboard."""

    def __init__(self, password=None):
        self.binary = _binary("redis-server", "/usr/bin/redis-server")
        self.port = free_port()
        self.password = password
        self.url = f"redis://{':' + password + '@' if password else ''}127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="dashboard-redis-")
        self.proc = None

    def start(self):
        """Start (or start again, on the same port) and wait until it answers."""
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "yes",
             *(["--requirepass", self.password] if self.password else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _ping(self.port, self.password), timeout=15, what="redis-server")
        return self

    def stop(self):
        """Stop it (SIGTERM; nothing is kept)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class NginxServer:
    """nginx with the shipped site file, deploy/nginx.conf. Only the three lines the file says to
    adapt are rewritten: the upstream's servers, `listen`, and the alias of /static/."""

    SITE = ROOT / "deploy" / "nginx.conf"

    def __init__(self, web_ports):
        self.binary = _binary("nginx", "/usr/sbin/nginx")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="dashboard-nginx-"))
        self.log = self.dir / "error.log"
        self.proc = None
        self._write_config(web_ports)

    def _write_config(self, web_ports):
        site = self.SITE.read_text()
        servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in web_ports)
        site, n_servers = re.subn(r"(?m)^    server 127\.0\.0\.1:\d+ [^\n]*\n", "", site)
        site, n_upstream = re.subn(r"(?m)^(    ip_hash;\n)", lambda m: m.group(1) + servers, site)
        site, n_listen = re.subn(r"(?m)^    listen 8080;$", f"    listen 127.0.0.1:{self.port};", site)
        site, n_alias = re.subn(r"alias /opt/lava-dashboard/static/;", f"alias {ROOT}/static/;", site)
        assert (n_servers >= 1, n_upstream, n_listen, n_alias) == (True, 1, 1, 1), \
            "deploy/nginx.conf no longer has the lines its comment says to adapt"
        (self.dir / "site.conf").write_text(site)
        temp = "\n".join(f"    {kind}_temp_path {self.dir}/{kind};"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must read the checkout
        (self.dir / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {self.dir}/nginx.pid;\n"
            f"error_log {self.log} info;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n    access_log {self.dir}/access.log;\n{temp}\n"
            f"    include {self.dir}/site.conf;\n}}\n")

    def start(self):
        """Check the configuration (`nginx -t`), then run it in the foreground."""
        conf = str(self.dir / "nginx.conf")
        check = subprocess.run([self.binary, "-t", "-p", str(self.dir), "-c", conf],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen([self.binary, "-p", str(self.dir), "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=15, what="nginx")
        return self

    def _answers(self):
        import socket

        if self.proc.poll() is not None:
            raise AssertionError("nginx exited:\n" + self.log.read_text())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
