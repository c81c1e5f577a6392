"""Real parts for the integration tests: a ZMQ publisher, the app as a subprocess, Socket.IO clients;
and a recording stand-in for Flask-SocketIO (unit tests of the relay)."""
import collections
import json
import os
import pathlib
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psutil
import socketio
import zmq

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Debian's Chromium (never `playwright install`), with the flags this machine's closed network needs.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


# Ports handed out by free_port(): below the kernel's ephemeral range, so that no connection's
# own local port (a ZMQ connect, a browser's, a client's) takes one between free_port() and the
# server's bind; and a slice of it per pytest-xdist worker, so that two workers never hand out the
# same one. (An app that cannot bind its port exits, but another process answering on that port
# looked like it: a test then talked to the wrong app.)
PORTS_LOW, PORTS_HIGH = 10_000, 32_000
_handed_out = collections.deque(maxlen=2_000)  # not handed out again while a server may bind it


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _port_slice():
    """(low, high) of this process's ports: its worker's share of PORTS_LOW..PORTS_HIGH."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    # A third share for processes outside pytest-xdist (benchmarks, a test's own helpers).
    if "PYTEST_XDIST_WORKER" not in os.environ:
        count, index = count + 1, count
    high = min(PORTS_HIGH, _ephemeral_low() or PORTS_HIGH)
    size = (high - PORTS_LOW) // count
    return PORTS_LOW + index * size, PORTS_LOW + (index + 1) * size


# Ports Chromium refuses to load a page from (net/base/port_util.cc's restricted list, those above
# 1023): a page of an app on 10080 failed with ERR_UNSAFE_PORT once in a full run.
CHROMIUM_UNSAFE_PORTS = frozenset({1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
                                   6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080})


def free_port():
    """A TCP port on 127.0.0.1 that is free now, not one this process handed out lately, not one
    Chromium refuses, and outside the kernel's ephemeral range (when that range leaves room below
    it)."""
    low, high = _port_slice()
    if high - low < 100:  # an unusual ephemeral range: take one the kernel picks
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for _ in range(200):
        port = random.randrange(low, high)
        if port in _handed_out or port in CHROMIUM_UNSAFE_PORTS:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.append(port)
        return port
    raise AssertionError(f"no free port in {low}..{high} after 200 tries")


def message(kind, when, uuid, **data):
    """One lava-publisher message (its five frames)."""
    return [f"org.lavasoftware.{kind}".encode(), uuid.encode(), when.encode(), b"lavaserver",
            json.dumps(data).encode()]


def utc_stamp(at=None):
    """lava-publisher's datetime frame (ISO 8601, UTC, to the second) for the time `at`, by
    default now. Tests date their messages now (or relative to it): the app's windows (an export's
    last day, the charts' last 30 days) and its retention (30 days by event time) follow the clock,
    and a fixed date turns a test into one that fails some days after it was written."""
    at = time.time() if at is None else at
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))


def written_bytes(thread=False):
    """Bytes this process (with `thread`, the calling thread alone) has written so far (to files,
    temporary ones included, and pipes), as Linux counts them (/proc/self/io, /proc/thread-self/io);
    OSError where the kernel does not count them."""
    with open("/proc/thread-self/io" if thread else "/proc/self/io") as io:
        for line in io:
            if line.startswith("wchar"):
                return int(line.split()[1])
    raise OSError("/proc/self/io has no wchar")


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Poll predicate until it is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class TestPublisher:
    __test__ = False  # not a test class, despite the name
    """A real lava-publisher stand-in: an XPUB socket on 127.0.0.1 that knows when someone subscribed."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        # The process's one context, never terminated: a test that forgets close() (a fixture that
        # failed half-way) leaves a socket for the garbage collector, which closes it; a context of
        # its own would be collected with it, and its term() wait for that socket for ever (a
        # whole run hung so, in a browser test long after).
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.XPUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.XPUB_VERBOSE, 1)  # see every subscriber, not just the first
        self.socket.bind(self.endpoint)
        self.subscriptions = 0

    def wait_for_subscriber(self, timeout=15.0):
        """Block until a SUB socket has subscribed (avoids ZMQ's slow-joiner loss)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.socket.poll(100):
                if self.socket.recv()[:1] == b"\x01":
                    self.subscriptions += 1
                    return
        raise AssertionError("no subscriber connected to the test publisher")

    def send(self, frames):
        """Publish one multipart message (a list of bytes)."""
        self.socket.send_multipart(frames)

    def close(self):
        """Close the socket (idempotent)."""
        if not self.socket.closed:
            self.socket.close(0)


class RecordingSocketIO:
    """Stands in for Flask-SocketIO's emit/on_event only; records what would be sent."""

    def __init__(self):
        self.sent = []

    def on_event(self, name, handler):
        pass

    def emit(self, event, data=None, to=None, ignore_queue=False):
        assert ignore_queue  # a relay only ever talks to its own process's clients
        self.sent.append((event, data, to))


def start_app(*args, env=None):
    """`python app.py --port <free> *args` run to its end (a start meant to fail): (exit code,
    stdout + stderr)."""
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--port", str(free_port()), *args],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, **(env or {})})
    return result.returncode, result.stdout + result.stderr


# Set by tests/conftest.py: the suite's apps come from a fork server (tests/forkserver.py), which
# has imported the app once for each hub; benchmarks (which measure an app's start, memory and CPU)
# start theirs as new processes.
FORKED_STARTS = False


class _ForkServer:
    """tests/forkserver.py for one hub, started at this process's first app of that hub: it forks
    each app from a process that has already imported it. Its replies are read by a thread of its
    own: the pid of each app it forked, and each app's exit code when it ends."""

    def __init__(self, async_mode):
        self.env = dict(os.environ)  # what its modules saw as they were imported
        self.proc = subprocess.Popen(
            [sys.executable, "-W", "ignore::DeprecationWarning", "-m", "tests.forkserver", async_mode],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env)
        self.lock = threading.Lock()  # one request at a time
        self.changed = threading.Condition()
        self.requests = 0  # each request's id, told back with its reply
        self.replies = {}  # request id → reply, until fork() takes it
        self.exits = {}  # pid → exit code, until its ForkedApp asks
        self.gone = False
        threading.Thread(target=self._read, name=f"fork server {async_mode}", daemon=True).start()

    def _read(self):
        try:
            for line in self.proc.stdout:
                reply = json.loads(line)
                with self.changed:
                    if "exit" in reply:
                        self.exits[reply["exit"]] = reply["code"]
                    else:
                        if "pid" in reply:  # a pid the kernel gave again: an old exit is not its
                            self.exits.pop(reply["pid"], None)
                        self.replies[reply["id"]] = reply
                    self.changed.notify_all()
        finally:  # (its end, or a line that is not its protocol: either way, no more replies)
            with self.changed:
                self.gone = True
                self.changed.notify_all()

    def fork(self, args, log_path):
        """A new app process (its pid) running app.main(args), writing to log_path."""
        with self.lock:
            self.requests += 1
            number = self.requests
            request = {"id": number, "args": [str(a) for a in args], "log": str(log_path),
                       "cwd": str(ROOT), "env": dict(os.environ)}
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        with self.changed:
            if not self.changed.wait_for(lambda: number in self.replies or self.gone, timeout=30):
                self.gone = True  # (its late reply would be taken for another's: not used again)
                raise AssertionError("the fork server did not answer in 30 s")
            if number not in self.replies:
                raise AssertionError(f"the fork server ended ({self.proc.poll()})")
            reply = self.replies.pop(number)
        if "error" in reply:
            raise AssertionError("the fork server: " + reply["error"])
        return reply["pid"]

    def close(self):
        """Ends it (stdin's end); the apps it made go on until stopped."""
        self.proc.stdin.close()
        self.proc.wait(10)

    def exit_code(self, pid, timeout=0.0):
        """The app's exit code once the fork server told it (waiting up to `timeout` seconds), else
        None."""
        with self.changed:
            self.changed.wait_for(lambda: pid in self.exits or self.gone, timeout=timeout)
            return self.exits.pop(pid, None)  # (told once: ForkedApp keeps it)


_fork_servers = {}


def _import_env(environ):
    """The environment as the app's imports may read it: all of it but pytest's name of the test
    running (set anew for each test; the app never reads it)."""
    return {k: v for k, v in environ.items() if k != "PYTEST_CURRENT_TEST"}


class ForkedApp:
    """What AppProcess uses of subprocess.Popen, for an app a fork server made. Its parent is the
    fork server, which tells its exit code; a pidfd (Linux) tells at once that it ended, and signals
    it without the risk of a pid the kernel has given another process since."""

    def __init__(self, server, pid, args):
        self.server, self.pid, self.args = server, pid, args
        self.returncode = None
        try:
            self.pidfd = os.pidfd_open(pid)
        except ProcessLookupError:  # ended, and reaped, already (a start refused at once)
            self.pidfd = None

    def _ended(self):
        if self.pidfd is None:
            return True
        readable, _, _ = select.select([self.pidfd], [], [], 0)
        return bool(readable)

    def poll(self, timeout=0.0):
        if self.returncode is not None:
            return self.returncode
        if not self._ended():
            if not timeout:
                return None
            readable, _, _ = select.select([self.pidfd], [], [], timeout)
            if not readable:
                return None
        # Ended: its code comes from the fork server a moment later (it reaps every 50 ms).
        code = self.server.exit_code(self.pid, timeout=10)
        if code is None:
            raise AssertionError(f"app {self.pid} ended, and the fork server did not tell its exit"
                                 f" code ({'it has ended' if self.server.gone else 'in 10 s'})")
        self.returncode = code
        if self.pidfd is not None:
            os.close(self.pidfd)
        return code

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.poll(min(left, 1.0))
        return self.returncode

    def send_signal(self, signum):
        if self.returncode is None and self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signum)
            except ProcessLookupError:  # ended and reaped: poll() tells how
                pass

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)


def _start(cmd, launch_args, *, async_mode, root, constants, env, log):
    """The app's process: forked by the hub's fork server where that starts the same app, else a
    new one."""
    same = root == ROOT and not constants and not env
    if FORKED_STARTS and same and async_mode in ("eventlet", "gevent"):
        server = _fork_servers.get(async_mode)
        if server is None or server.gone:
            server = _fork_servers[async_mode] = _ForkServer(async_mode)
        if _import_env(server.env) == _import_env(os.environ):  # (else a test changed it: a new process)
            return ForkedApp(server, server.fork(launch_args, log.name), cmd)
    return subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


class AppProcess:
    """The app (app.main, as `python app.py ...` runs it, without the tests' aiohttp) as a process
    of its own on a free port: in the suite forked by tests/forkserver.py (FORKED_STARTS), else a
    new one (tests/patched_app.py); stopped by stop(). `root`: another checkout's app (a
    benchmark's baseline); `constants`: module constants of dashboard.core set before it starts."""

    def __init__(self, *args, async_mode="eventlet", env=None, port=None, root=ROOT, constants=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / "test-artifacts" / f"app-{self.port}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self.log = open(self.log_path, "w+")
        self.data_dir = None
        if "--data-dir" not in args:  # never the repository's ./data: each app its own store
            self.data_dir = tempfile.mkdtemp(prefix="dashboard-test-")
            args = (*args, "--data-dir", self.data_dir)
        # This checkout's app as deployed (without the tests' aiohttp), `constants` ({"module.NAME":
        # value}) set before it starts: tests/patched_app.py
        assert root == ROOT or not constants, "another checkout's app takes no constants"
        # (Another checkout's, a benchmark's baseline, without it too: both arms alike.)
        launch = (["-m", "tests.patched_app",
                   *(f"{k}={v!r}" for k, v in (constants or {}).items()), "--"]
                  if root == ROOT else
                  ["-c", "import runpy, sys; sys.modules['aiohttp'] = None; sys.argv[0] = 'app.py'; "
                   "runpy.run_path('app.py', run_name='__main__')"])
        app_args = ["--port", str(self.port), "--async-mode", async_mode, *args]
        cmd = [sys.executable, "-W", "ignore::DeprecationWarning", *launch, *app_args]
        self.proc = _start(cmd, app_args, async_mode=async_mode, root=root, constants=constants,
                           env=env, log=self.log)
        try:
            wait_until(self._answers, timeout=30, what=f"the app on port {self.port}")
        except AssertionError:
            self.stop()
            raise AssertionError("app did not start; its log:\n" + self.log_text())

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("app exited with %s; log:\n%s" % (self.proc.returncode, self.log_text()))
        try:
            self.get("/healthz")
        except OSError:
            return False
        # Answered: by this app, not by another process that holds its port (this one then fails
        # to bind and exits; the test would talk to the wrong app).
        return self._listening()

    def _listening(self):
        try:
            return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port
                       for c in psutil.Process(self.proc.pid).net_connections(kind="tcp"))
        except psutil.Error:
            return False

    def get(self, path, timeout=15):
        """GET path → (status, headers, parsed JSON or text). (15 s: on two shared cores under
        the whole suite, an answer has once taken over 5.)"""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
                body = resp.read().decode()
                status, headers = resp.status, dict(resp.headers)
        except urllib.error.HTTPError as err:
            body, status, headers = err.read().decode(), err.code, dict(err.headers)
        if headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(body)
        return status, headers, body

    def json(self, path):
        return self.get(path)[2]

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text()

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """A crash: SIGKILL, nothing flushed (the store's data dir is kept for a restart)."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        finally:  # (a failure to tell how it ended leaves neither its log nor its data behind)
            self.log.close()
            if self.data_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)


def in_order(client):
    """Make a python-socketio Client handle messages one by one, in the order they came.

    python-engineio hands each message to a new thread, so two messages may be handled out of
    order (a big one is still being decoded when a small one after it is recorded); a client of
    this protocol must handle them in order, as a browser does. Its handlers must then not wait
    for another message (a `call` from inside a handler would wait for ever)."""
    trigger = client.eio._trigger_event
    client.eio._trigger_event = lambda event, *args, run_async=False, **kw: trigger(
        event, *args, run_async=False, **kw)
    return client


# Every LiveView connected and not yet closed: tests/conftest.py closes those a test left open, so
# that no client goes on reconnecting (and drawing on the `random` module for its jitter) in later
# tests.
OPEN_VIEWS = set()


class LiveView:
    """A real python-socketio client that follows the protocol in docs/protocol.md and records it all."""

    def __init__(self, url, flt=None, catchup=True, max_rate=None):
        self.url = url
        self.filter = flt or {}
        self.max_rate = max_rate  # subscribe's max_rate (messages a second), when given
        self.catchup = catchup  # after a reconnect, offer seq and epoch (as the browser does)
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.2,
                                      reconnection_delay_max=1)
        in_order(self.client)
        self.lock = threading.RLock()
        self.seq = None
        self.epoch = None
        self.view = None  # whom the last snapshot was made for (a catch-up offers it back)
        self.meta = None  # the meta of the last snapshot
        self.epochs = []  # every epoch a snapshot gave, in order
        self.catchups = 0
        self.statuses = []  # every `status` message, in order
        self.objects = {"device": {}, "job": {}, "worker": {}}
        self.received = []  # every change item applied, in order
        self.snapshot_seq = None  # the seq of the last snapshot, and the changes applied after it:
        self.since_snapshot = []  # an unfiltered client must get each seq after it exactly once
        self.batches = 0
        self.snapshots = 0
        self.gaps = 0
        self.acks = []
        self.client.on("connect", self._subscribe)
        self.client.on("snapshot", self._on_snapshot)
        self.client.on("changes", self._on_changes)
        self.client.on("resync", self._resync)
        self.client.on("status", self.statuses.append)

    def connect(self, url=None, headers=None):
        """Connect (to `url` instead, say another web process; with `headers`, such as a session
        cookie or an Authorization token) and wait for the server's answer to this connection's
        subscribe: a snapshot, or a catch-up."""
        acks = len(self.acks)
        OPEN_VIEWS.add(self)
        self.client.connect(url or self.url, transports=["websocket"], wait_timeout=10,
                            headers=headers or {})
        wait_until(lambda: any(a.get("ok") for a in self.acks[acks:]) and self.snapshots > 0,
                   what="subscribed")
        return self

    def _subscribe(self):
        request = {"filter": self.filter}
        if self.max_rate is not None:
            request["max_rate"] = self.max_rate
        with self.lock:
            if self.catchup and self.seq is not None and self.epoch:
                request.update(since=self.seq, epoch=self.epoch, view=self.view)
        self.client.emit("subscribe", request, callback=self._on_ack)

    def _on_ack(self, ack):
        self.acks.append(ack)
        if ack.get("catchup"):
            self.catchups += 1
        elif not ack.get("ok") and ack.get("retry"):  # not ready yet, or rate limited
            threading.Timer(max(0.3, ack.get("retry_after") or 0),
                            self._subscribe_if_connected).start()

    def _subscribe_if_connected(self):
        if self.client.connected:
            try:
                self._subscribe()
            except socketio.exceptions.SocketIOError:  # it went away meanwhile: `connect` will
                pass

    def _resync(self, *args):
        with self.lock:
            self.seq = None  # like the browser: ignore changes until the fresh snapshot
            self._subscribe()

    def _on_snapshot(self, snap):
        with self.lock:
            self.seq = snap["seq"]
            self.epoch = snap.get("epoch")
            self.view = snap.get("view")
            self.epochs.append(self.epoch)
            self.snapshot_seq, self.since_snapshot = snap["seq"], []
            self.meta = snap.get("meta")
            self.objects = {
                "device": {_key(d, d["hostname"]): d for d in snap["devices"]},
                "job": {_key(j, j["id"]): j for j in snap["jobs"]},
                "worker": {_key(w, w["hostname"]): w for w in snap["workers"]},
            }
            self.snapshots += 1

    def _on_changes(self, msg):
        with self.lock:
            if self.seq is None:
                return
            if msg["prev"] > self.seq or msg.get("epoch") != self.epoch:
                self.gaps += 1
                self.seq = None
                self._subscribe()
                return
            self.batches += 1
            for change in msg["changes"]:
                if change["seq"] <= self.seq:
                    continue
                self.received.append(change)
                self.since_snapshot.append(change["seq"])
                if change["kind"] in self.objects:
                    table = self.objects[change["kind"]]
                    key = _key(change, change["id"])
                    if change["data"] is None:
                        table.pop(key, None)
                    else:
                        table[key] = change["data"]
            self.seq = msg["seq"]

    def state(self):
        """The client's view in /api/v1/state's shape (lists sorted by key)."""
        with self.lock:
            return {"devices": sorted(self.objects["device"].values(), key=_by("hostname")),
                    "jobs": sorted(self.objects["job"].values(), key=_by("id")),
                    "workers": sorted(self.objects["worker"].values(), key=_by("hostname"))}

    def close(self):
        """Disconnect, and stop reconnecting: `disconnect` alone leaves a client whose server went
        away retrying for as long as the process lives. Final: a closed view reconnects no more by
        itself (python-socketio keeps its aborted reconnect task)."""
        OPEN_VIEWS.discard(self)
        # No new reconnect loop, and a running one ends after its attempt even if the abort is
        # missed (its first line clears the abort event).
        self.client.reconnection = False
        self.client.reconnection_attempts = 1
        self.client.shutdown()
        if self.client.connected:  # a reconnect attempt in flight succeeded after the abort
            self.client.disconnect()


def _key(item, ident):
    """An object's key in a client's copy: its id, or (lab, id) when it says its lab (docs/labs.md)."""
    return (item["lab"], ident) if item.get("lab") else ident


def _by(field):
    return lambda obj: (obj.get("lab", ""), obj[field])


def model_view(state_json, flt=None):
    """/api/v1/state (or a snapshot) in LiveView.state()'s shape, optionally filtered. REST adds
    each worker's `devices`, which Socket.IO leaves to the devices' `worker`: left out here."""
    from dashboard.core.filters import parse_filter
    matches = parse_filter(flt or {}).matches
    return {"devices": sorted((d for d in state_json["devices"] if matches("device", d)),
                              key=_by("hostname")),
            "jobs": sorted((j for j in state_json["jobs"] if matches("job", j)), key=_by("id")),
            "workers": sorted(({k: v for k, v in w.items() if k != "devices"}
                               for w in state_json["workers"] if matches("worker", w)),
                              key=_by("hostname"))}
