"""The SQLite store's batches and retention, written by a process of its own (--store-writer process).

Storing a batch is mostly SQLite's work, which runs without the GIL, but around it are the roll-ups'
Python and the binding of every row's values, which need it. In a thread of the app they took the
GIL from the hub (and the hub from them, the writer waiting up to the interpreter's switch interval
each time it came back from SQLite), and storing halved the ingest rate (bench/store.py). In a child
process they have an interpreter of their own: the app only marshals each batch (pickles what
marshal cannot write) and writes it to a pipe, from the same pool thread as before.

The child holds the only in-memory state of the writes, the roll-ups' open spans (rollups.Tracker),
so retention (which trims them) runs there too. The app keeps the reads and its other writes (the
saved model, alerts): SQLite's WAL serialises two writers, and readers never wait.

The child ends when the app does: it reads its requests from a pipe, and the app's end closes it.
Ctrl+C and SIGTERM to the process group leave it alone, so that the app's last flush still has it.
One request at a time, each answered before the next: a dead child is started again and the request
sent once more. Each insert carries a number (this app run's token, and a count), committed with its
rows, with how many of them are done (store.insert_once): what the dead child had committed but not
answered for is not stored twice, even from a batch that fell back to one row a transaction
because one of its rows was refused.
"""
import itertools
import logging
import marshal
import os
import pickle
import struct
import sys
import time

from dashboard.storage.store import EventStore
from dashboard.storage.threads import os_thread_rlock, sqlite_memory_mb, unpatched

HEADER = struct.Struct("!Q")
MAX_FRAME = 1 << 30  # a request or answer beyond this is a broken pipe, not a batch
NICE = 10  # the writer process's niceness above the app's
SPLIT_AT = 32 << 20  # a batch whose request is larger than this goes to the child in halves
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


log = logging.getLogger("dashboard.storage.store")
# What the app's end calls from pool threads and from a hub that may block, never patched: gevent's
# own os.close (25.8) only schedules the close on the hub, and called from a blocked hub the child's
# pipe stayed open, so the child never saw its end.
OS_CALLS = ("read", "write", "close", "pipe", "waitpid", "posix_spawn", "kill")


class WriterGone(Exception):
    """The child could not be reached (it died, or could not start), even after a restart."""


class WriterFailed(Exception):
    """The child ran the request and it raised: the message names the exception."""


def _read_exact(read, fd, n):
    parts, left = [], n
    while left:
        chunk = read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the pipe closed")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


# A request's first byte says how the rest is written. An insert's rows (text, numbers, None) are
# marshalled: less CPU than pickle on the app's side, whose interpreter lock the loop needs;
# anything else, or rows marshal cannot write, is pickled.
MARSHALLED, PICKLED = b"m", b"p"


def insert_request(rows):
    """The request that inserts `rows`."""
    try:
        return MARSHALLED + marshal.dumps(rows)
    except ValueError:  # an object marshal cannot write (the store then says what it cannot bind)
        return PICKLED + pickle.dumps(("insert", (rows,)), protocol=pickle.HIGHEST_PROTOCOL)


def read_request(data):
    """(op, args) of a request."""
    if data[:1] == MARSHALLED:
        return "insert", (marshal.loads(data[1:]),)
    if data[:1] == PICKLED:
        return pickle.loads(data[1:])
    raise ValueError(f"a request that starts with {data[:1]!r}")


def send_frame(write, fd, payload):
    view = memoryview(HEADER.pack(len(payload)) + payload)
    while view:
        view = view[write(fd, view):]


def read_frame(read, fd):
    (size,) = HEADER.unpack(_read_exact(read, fd, HEADER.size))
    if size > MAX_FRAME:
        raise EOFError(f"a frame of {size} bytes")
    return _read_exact(read, fd, size)


class WriterProcess:
    """The app's end: starts the child on first use, sends it one request at a time."""

    def __init__(self, path, cache_kib, executable=sys.executable):
        self.path = path
        self.cache_kib = cache_kib
        self.executable = executable
        self.pid = None
        self.restarts = 0  # children started again after one was lost
        self.split_at = SPLIT_AT
        self.state = {}  # the running child's last report: its drops, last error, open spans
        self.dropped = 0  # rows the children said they could not store, all children together
        self.last_dropped = None
        self.closed = False
        self.token = os.urandom(8).hex()  # this app run's: its inserts are numbered by _seq
        self._seq = itertools.count(1)
        self._ready = False  # the child opened the store and answers
        self._os = unpatched("os", *OS_CALLS)
        self._sleep = unpatched("time", "sleep").sleep
        self._lock = os_thread_rlock()
        self._to = self._from = None

    def inserts_for(self, rows):
        """[(rows, request)]: the insert of rows as requests of at most split_at bytes (or of one
        row each), in order: a batch of large events goes in parts, each its own transaction, and
        what the pipe carries (and the copies made of it) stays bounded."""
        payload = insert_request(rows)
        if len(payload) <= self.split_at or len(rows) <= 1:
            return [(rows, payload)]
        half = len(rows) // 2
        return self.inserts_for(rows[:half]) + self.inserts_for(rows[half:])

    def call(self, op, *args, payload=None):
        """Run store.<op>(*args) in the child (or the request `payload` made by inserts_for) and
        return its value. A child that is gone is started again once; WriterGone if that fails
        too (or after close()), WriterFailed if the call raised."""
        if payload is None:
            payload = PICKLED + pickle.dumps((op, args), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            # An insert is numbered here, under the lock, in the order the child commits them; the
            # same number goes with it again to a new child (store.insert_once).
            header = pickle.dumps((self.token, next(self._seq)) if op == "insert" else None)
            for attempt in (1, 2):
                if self.closed:  # the app is ending: no new child to outlive it
                    raise WriterGone("the store is closed")
                try:
                    if self.pid is None:
                        self._start()
                    send_frame(self._os.write, self._to, header)
                    send_frame(self._os.write, self._to, payload)
                    ok, value, state = pickle.loads(read_frame(self._os.read, self._from))
                except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
                    lost = self._ready  # a child that was running, not one that never started
                    self._end(kill=True)
                    if attempt == 2:
                        raise WriterGone(f"{type(exc).__name__}: {exc}") from None
                    if lost:
                        self.restarts += 1
                        log.error("the store's writer process ended unexpectedly (%s): starting "
                                  "a new one", type(exc).__name__)
                    continue
                except BaseException:  # a request without its answer: the pipe is out of step
                    self._end(kill=True)
                    raise
                self._note(state)
                if not ok:
                    raise WriterFailed(value)
                return value

    def _note(self, state):
        """The child's report: what it dropped since its last one counts once, whoever asked."""
        before = self.state.get("dropped", 0)
        if state.get("dropped", 0) > before:
            self.dropped += state["dropped"] - before
            self.last_dropped = state.get("last_dropped")
        self.state = state

    def _start(self):
        os_ = self._os
        fds = []
        try:
            down_r, down_w = os_.pipe()  # app → child
            fds += [down_r, down_w]
            up_r, up_w = os_.pipe()  # child → app
            fds += [up_r, up_w]
            env = dict(os.environ)
            env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                        else "")
            self.pid = os_.posix_spawn(
                self.executable,
                [self.executable, "-m", "dashboard.storage.writer", self.path, str(self.cache_kib)],
                env, file_actions=[(os.POSIX_SPAWN_DUP2, down_r, 0), (os.POSIX_SPAWN_DUP2, up_w, 1)])
        except BaseException:
            for fd in fds:
                os_.close(fd)
            raise
        os_.close(down_r)
        os_.close(up_w)
        self._to, self._from = down_w, up_r
        ok, value, state = pickle.loads(read_frame(os_.read, self._from))  # it opened the store
        if not ok:
            raise OSError(f"the writer process could not open the store: {value}")
        self._note(state)  # a new child's first report (0 dropped) is what the next are counted from
        self._ready = True

    def _end(self, kill=False, wait=5.0):
        """Close the pipes (which ends the child once it is done) and reap it: killed, or after
        `wait` seconds at most."""
        for fd in (self._to, self._from):
            if fd is not None:
                try:
                    self._os.close(fd)
                except OSError:
                    pass
        self._to = self._from = None
        self._ready = False
        pid, self.pid = self.pid, None
        if pid is None:
            return
        for _ in range(2):
            if kill:
                try:
                    self._os.kill(pid, 9)
                except OSError:
                    pass
            deadline = time.monotonic() + wait
            while True:  # bounded: the deadline, then once more after the kill
                try:
                    if self._os.waitpid(pid, os.WNOHANG)[0] == pid:
                        return
                except OSError:  # reaped by someone else, or gone
                    return
                if time.monotonic() >= deadline:
                    break
                self._sleep(0.01)
            kill = True

    def close(self):
        """Let the child finish what it is doing and end (its pipe closes); no new one starts."""
        with self._lock:
            self.closed = True
            self._end()

    def stats(self):
        return {"pid": self.pid, "restarts": self.restarts,
                "sqlite_memory_mb": self.state.get("sqlite_memory_mb")}


# -- the child ------------------------------------------------------------------------------------
OPS = ("insert", "prune", "insert_missing")


def _report(store):
    return {"dropped": store.dropped, "last_dropped": store.last_dropped,
            "last_error": store.last_error, "out_of_order": store._tracker.out_of_order,
            "sqlite_memory_mb": sqlite_memory_mb()}


def serve(store, read, write, rfd, wfd):
    """Answer requests until the pipe closes: (op, args) → (ok, value or error, report)."""
    while True:
        try:
            marker = pickle.loads(read_frame(read, rfd))
            op, args = read_request(read_frame(read, rfd))
        except EOFError:
            return
        try:
            if op not in OPS:
                raise ValueError(f"unknown request {op!r}")
            value = (store.insert_once(*args, *marker) if op == "insert"
                     else getattr(store, op)(*args))
            answer = (True, value, _report(store))
        except Exception as exc:  # noqa: BLE001 - said to the app, which logs and counts it
            answer = (False, f"{type(exc).__name__}: {exc}"[:500], _report(store))
        send_frame(write, wfd, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


def _end_with(parent, every=1.0):
    """End this process once `parent` (the app) is gone, even in the middle of a request: the pipe's
    end is read between requests only, and SIGTERM is ignored (main). An audit's app that had to
    be killed left its writer running on, an orphan. (A thread of this child's own interpreter;
    what the request had not committed is lost, as with the app's own end.)"""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        log.warning("the app (pid %d) is gone: ending", parent)
        os._exit(3)
    threading.Thread(target=watch, name="end-with-the-app", daemon=True).start()


def main(argv):
    import signal

    # The pipe ends the child: the app's Ctrl+C or SIGTERM must not end it before the app's last
    # flush, which would then have to start it again.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _end_with(os.getppid())
    # History can wait; the live view cannot. When the cores are all busy, the app comes first.
    os.nice(NICE)
    rfd, wfd = 0, os.dup(1)
    os.dup2(2, 1)  # nothing printed may reach the pipe
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s (writer process): %(message)s")
    path, cache_kib = argv[0], int(argv[1])
    try:
        store = EventStore(path, writer_cache_kib=cache_kib)
    except Exception as exc:  # noqa: BLE001 - the app says it and counts the batch
        send_frame(os.write, wfd, pickle.dumps((False, f"{type(exc).__name__}: {exc}"[:500], {})))
        return 1
    send_frame(os.write, wfd, pickle.dumps((True, None, _report(store))))
    serve(store, os.read, os.write, rfd, wfd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
