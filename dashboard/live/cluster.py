"""Several processes, one live model: the ingest process publishes it through Redis
(live/cluster_ingest.py, ModelPublisher), web processes follow it (live/cluster_web.py, Replica).
This module holds what both share: the connection, the key names, the protocol's timings and bounds,
and the retry helpers. Protocol and fault handling: docs/deployment.md.

Redis holds, under `<prefix>:`:
- `changes`: a stream of numbered change batches (`epoch`, `first`, `last`, `changes` as JSON in
  wire form), at most about `change_log` entries and `stream_bytes` bytes (a batch is written as
  entries of at most MAX_ENTRY_BYTES; a new epoch starts it afresh);
- `snapshot`: a hash: the whole model (`body`, `state.dump()` and the meta clients are given), its
  `epoch` and `seq`, and `entry`, a stream id after which every change newer than `seq` is found;
  rewritten every few seconds, and always before the first batch of an epoch;
- `ingest`: a heartbeat that expires when the ingest process stops (its epoch, seq, meta, health);
- `acks`: a stream of acknowledgements web processes forward (they have no alert engine), at most
  ACK_LOG entries; the ingest process answers each in the list `acks:<request>`, which expires.

The epoch is new at every start of the ingest process: sequence numbers only compare within one. A
web process applies a batch's changes that follow on from its own seq in the same epoch (skipping
those it has). Anything else (a gap, a new epoch, changes that cannot be applied) makes it load the
snapshot and have its clients resubscribe, or wait for a newer snapshot when the current one cannot
help: it never applies a change it cannot place.

What is read from Redis is checked for the shape this module writes: another version, or a person's
XADD or SET, may put anything there. A stream entry of another shape is skipped alone (counted; the
entries after it are applied, and a gap it leaves is handled as any gap), a heartbeat of another
shape is no heartbeat (and no claim: the ingest process overwrites it), a snapshot of another shape
is no snapshot (the next one is waited for). A `changes` or `snapshot` key of another Redis type
(WRONGTYPE) is replaced by the ingest process, as its heartbeat is, and read as absent by web
processes until it is. None of them is taken for Redis failing. The checks are pure, in
dashboard/core/clusterwire.py.
"""
import collections
import contextlib
import logging
import sys
import threading

from dashboard.core.backoff import Backoff
from dashboard.core.clusterwire import Malformed

log = logging.getLogger("dashboard.live.cluster")

HEARTBEAT_EVERY = 1.0
HEARTBEAT_TTL = 5  # seconds without a heartbeat before web processes say the ingest process is gone
# Seconds from the start that an ingest process stands by while Redis has not yet said whether
# another one publishes (ModelPublisher.standing_by): a Redis that is down must not keep it from
# storing its events for longer.
CLAIM_WAIT = 5.0
SNAPSHOT_EVERY = 5.0
# Seconds between two writes of the jobs the screen keeps out beside the snapshot (between
# snapshots; ModelPublisher._kept_fields): a lab whose hidden boards start a job a second writes
# their list (at most 5,000 ids a lab) at most this often.
KEPT_EVERY = 1.0
RETRY_CEILING = 5.0
STALLED_AFTER = 10.0  # seconds a web process may stay behind the heartbeat's seq without reading
# What a web process keeps of its own when it copies the ingest process's meta.
OWN_META = ("epoch", "access")
# Who sees less, higher (core.visibility's modes): a web process may be as strict as the ingest
# process or stricter, never less.
ACCESS_RANK = {"open": 0, "lava": 1, "login": 2}
UNKNOWN_ACCESS = ("the ingest process's access is not known yet (no heartbeat or snapshot read): "
                  "this web process serves nothing until it is")
MALFORMED_LOG_EVERY = 30.0  # seconds between two warnings about Redis data of the wrong shape
# The change stream's bound in bytes (besides `change_log` entries): each entry holds at most
# MAX_ENTRY_BYTES of changes (a single larger change goes alone), and the oldest entries go once the
# newest hold more than STREAM_BYTES.
MAX_ENTRY_BYTES = 1 << 20
STREAM_BYTES = 64 << 20
# Statuses (the meta's changes) waiting to go through the message queue: a Redis that hangs must not
# hold up whoever changed the meta (the sources' loops). Beyond STATUS_QUEUE the oldest is dropped
# (counted): web processes copy the whole meta from the next heartbeat anyway.
STATUS_QUEUE = 64
STATUS_TIMEOUT = 2.0  # seconds one status may take to publish before it is given up (counted)
# Acknowledgements forwarded by web processes (docs/deployment.md): a web process waits ACK_WAIT
# seconds for the answer (less than connect()'s socket_timeout); the request stream keeps ACK_LOG.
ACK_WAIT = 4.0
ACK_LOG = 1000
ACK_READ = 100  # requests the ingest process reads at a time


def connect(url):
    """A Redis client that fails fast: a dead Redis must show in /healthz, not hang a loop."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3,
                                health_check_interval=10)


def _deadline(seconds):
    """(a context manager that interrupts the green call inside it after `seconds`, the exception it
    raises): the message queue's Redis client has no timeout of its own. Without a green hub
    (unit tests), none."""
    if "eventlet" in sys.modules:
        from eventlet import Timeout, patcher
        if patcher.is_monkey_patched("socket"):
            return Timeout(seconds), Timeout
    if "gevent" in sys.modules:
        from gevent import Timeout, monkey
        if monkey.is_module_patched("socket"):
            return Timeout(seconds), Timeout
    return contextlib.nullcontext(), ()


def _start_thread(target, name):
    """A daemon thread (a green one under eventlet or gevent: the standard library is patched)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


def _retry_forever(once, on_error, sleep, first_delay, rounds=None):
    """Call once() for ever (or `rounds` times); after an error, on_error(exc) and a pause that
    backs off up to RETRY_CEILING. once() returns the pause before the next call."""
    backoff = Backoff(first_delay, RETRY_CEILING)
    for _ in iter(int, 1) if rounds is None else range(rounds):
        try:
            pause = once()
            backoff.reset()
        except Exception as exc:  # whatever it is, the loop goes on: /healthz says what
            on_error(exc)
            pause = backoff.next()
        sleep(pause)


def _typed(command, what):
    """command(); a key of another type (another tool's, or a person's: WRONGTYPE) raises
    Malformed("the key is not <what>"), so that it is counted as data of another shape, not as
    Redis failing."""
    import redis

    try:
        return command()
    except redis.ResponseError as exc:
        if str(exc).startswith("WRONGTYPE"):
            raise Malformed(f"the key is not {what}") from None
        raise


def _get(redis_client, key):
    """GET `key`; a key of another type reads as Malformed."""
    return _typed(lambda: redis_client.get(key), "a string")


class Problem(collections.namedtuple("Problem", "code detail")):
    """Why a web process cannot follow the stream until it loads a snapshot. `code` decides what
    to do (other_epoch, gap, unplaceable, restarted, stalled, start); `detail` is for people."""

    def __str__(self):
        return self.detail


class RivalIngest(Exception):
    """Another ingest process is publishing under the same prefix (its heartbeat is fresh)."""


class Keys:
    """The Redis key names of one dashboard."""

    def __init__(self, prefix):
        self.changes = f"{prefix}:changes"
        self.snapshot = f"{prefix}:snapshot"
        self.ingest = f"{prefix}:ingest"
        self.acks = f"{prefix}:acks"

    def ack_reply(self, request_id):
        """The list the answer to one forwarded acknowledgement is pushed to."""
        return f"{self.acks}:{request_id}"
