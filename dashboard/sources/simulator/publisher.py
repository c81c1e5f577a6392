"""Publish a simulated LAVA lab on a real ZMQ socket, in lava-publisher's exact format.

The simulation itself is pure and lives in `dashboard.sources.simulator.lab`; this module turns its messages into
the five frames LAVA sends and paces them onto an XPUB socket. It is also a load generator::

    python -m dashboard.sources.simulator --bind tcp://127.0.0.1:5599 --rate 1000 --duration 0
"""
import argparse
import collections
import datetime as dt
import json
import logging
import random
import signal
import time
import uuid

from dashboard.sources.simulator.lab import DEFAULT_START, Message, SimLab  # noqa: F401  (re-exported)

DEFAULT_PREFIX = "org.lavasoftware"
log = logging.getLogger("dashboard.sources.simulator")


def to_frames(msg, prefix=DEFAULT_PREFIX):
    """The 5 UTF-8 frames lava-publisher sends for `msg`: topic, uuid, datetime, username, data."""
    when = msg.time.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    return [f"{prefix}.{msg.suffix}".encode(), str(uuid.uuid1()).encode(), when.encode(),
            msg.username.encode(), json.dumps(msg.data).encode()]


class LabPublisher:
    """Paces a SimLab's messages onto an XPUB socket; each new subscription gets a roll call."""

    TICK = 0.01  # seconds between two sends: small chunks keep a green-threaded app responsive
    FIRST_SUBSCRIBER_WAIT = 10.0
    SEND_HWM = 20000  # beyond this a slow subscriber loses messages, as with a real lava-publisher
    YIELD_EVERY = 50
    # Real-time mode: bound each advance() and the advances per tick, so that after a stall (a
    # busy machine) a fast-paced lab catches up 20 s a tick, each tick yielding to the app.
    CLOCK_STEP = dt.timedelta(seconds=1)
    CLOCK_STEPS = 20
    RATE_STEP = dt.timedelta(seconds=5)  # rate mode: virtual time added per advance() ...
    RATE_STEPS = 1000  # ... at most this often per tick
    MAX_SUBSCRIPTION_READS = 1000

    def __init__(self, lab, bind, zmq_module, sleep, rate=None,
                 prefix=DEFAULT_PREFIX, clock=time.monotonic):
        self._lab = lab
        self._zmq = zmq_module
        self._sleep = sleep
        self._clock = clock  # with `sleep`, what pacing is measured against (a test passes its own)
        self._rate = rate
        self._prefix = prefix
        self._pending = collections.deque()  # rate mode: produced but not yet due
        self._paced = 0  # rate mode: messages sent in this run, roll calls excluded
        self.sent = 0  # messages sent so far, roll calls included
        self.roll_calls = 0
        self._context = zmq_module.Context()
        self._socket = self._context.socket(zmq_module.XPUB)
        self._socket.setsockopt(zmq_module.XPUB_VERBOSE, 1)  # see every subscription, even repeats
        self._socket.setsockopt(zmq_module.SNDHWM, self.SEND_HWM)
        self._socket.setsockopt(zmq_module.LINGER, 1000)
        self._socket.bind(bind)
        self.endpoint = self._socket.getsockopt(zmq_module.LAST_ENDPOINT).decode().rstrip("\0")

    def run(self, duration=None, stop=None):
        """Publish until `duration` s of traffic have passed or stop() is true; return the count.

        Traffic starts with the first subscriber (or after 10 s without one); `duration` counts from
        then. None runs until stop() says so.
        """
        stop = stop or (lambda: False)
        sent_before = self.sent
        if not self.roll_calls and not self._wait_for_subscriber(stop):
            return self.sent - sent_before
        t0, v0, self._paced = self._clock(), self._lab.now, 0
        while not stop():
            elapsed = self._clock() - t0
            if duration is not None and elapsed >= duration:
                break
            self._answer_subscriptions()
            if self._rate is None:
                self._send(self._due_by_clock(v0 + dt.timedelta(seconds=elapsed)))
            else:
                self._send_paced(self._due_by_rate(int(elapsed * self._rate) - self._paced))
            self._sleep(self.TICK)
        return self.sent - sent_before

    def close(self):
        """Close the socket (letting queued messages out for up to a second) and the context."""
        self._socket.close()
        self._context.term()

    def _wait_for_subscriber(self, stop):
        deadline = self._clock() + self.FIRST_SUBSCRIBER_WAIT
        while self._clock() < deadline:
            if stop():
                return False
            if self._answer_subscriptions():
                return True
            self._sleep(self.TICK)
        return not stop()

    def _answer_subscriptions(self):
        """Send one roll call if any subscription arrived; a real server offers REST instead."""
        subscribed = False
        for _ in range(self.MAX_SUBSCRIPTION_READS):
            try:
                frame = self._socket.recv(self._zmq.NOBLOCK)
            except self._zmq.Again:
                break
            subscribed = subscribed or frame[:1] == b"\x01"  # b"\x00..." is an unsubscription
        if subscribed:
            # The roll call tells the state at lab.now: older messages still pending would
            # replay the past on top of it, so they go first.
            self._send_paced(list(self._pending))
            self._pending.clear()
            self.roll_calls += 1
            self._send(self._lab.roll_call())
        return subscribed

    def _due_by_clock(self, target):
        batch = []
        for _ in range(self.CLOCK_STEPS):
            if self._lab.now >= target:
                break
            batch.extend(self._lab.advance(min(target, self._lab.now + self.CLOCK_STEP)))
        return batch

    def _due_by_rate(self, due):
        # Cap one tick's catch-up after a stall so that a burst stays a small chunk.
        due = min(due, int(self._rate * 0.25) + 1)
        for _ in range(self.RATE_STEPS):
            if len(self._pending) >= due:
                break
            self._pending.extend(self._lab.advance(self._lab.now + self.RATE_STEP))
        return [self._pending.popleft() for _ in range(min(max(due, 0), len(self._pending)))]

    def _send_paced(self, messages):
        self._paced += len(messages)
        self._send(messages)

    def _send(self, messages):
        for index, msg in enumerate(messages, 1):
            self._socket.send_multipart(to_frames(msg, self._prefix))
            self.sent += 1
            if index % self.YIELD_EVERY == 0:
                self._sleep(0)


class _StopAndReport:
    """The CLI's stop() callback: logs the send rate every `interval` s and honours SIGTERM."""

    def __init__(self, publisher, interval=10.0):
        self._publisher = publisher
        self._interval = interval
        self._last_time = time.monotonic()
        self._last_sent = 0
        self.stopping = False

    def request_stop(self, *_):
        """Signal handler: finish the current tick, then stop."""
        self.stopping = True

    def __call__(self):
        now = time.monotonic()
        if now - self._last_time >= self._interval:
            sent = self._publisher.sent - self._last_sent
            log.info("sent %d messages in the last %.0f s (%.0f/s), %d in total", sent,
                     now - self._last_time, sent / (now - self._last_time), self._publisher.sent)
            self._last_time, self._last_sent = now, self._publisher.sent
        return self.stopping


def parse_args(argv=None):
    """The load generator's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m dashboard.sources.simulator",
        description="Publish a simulated LAVA lab on a ZMQ socket, in lava-publisher's exact "
                    "5-frame format. Subscribers connect with SUB; each new subscription gets a "
                    "roll call of every worker and device.")
    parser.add_argument("--bind", default="tcp://127.0.0.1:5599",
                        help="ZMQ endpoint to bind (a port of * picks a free one). "
                             "Default: %(default)s")
    parser.add_argument("--rate", type=float, default=0,
                        help="Messages per second; the virtual clock runs as fast as needed "
                             "(ahead of real time: for load, not for looking at). 0 (default) "
                             "follows the clock instead: see --speed.")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="Without --rate: the lab lives this many times faster (jobs, "
                             "outages, admin actions), its events still stamped with the real "
                             "time. At most 1000. Default: %(default)s")
    parser.add_argument("--devices", type=int, default=50,
                        help="Devices in the lab. Default: %(default)s")
    parser.add_argument("--workers", type=int, default=4,
                        help="Workers the devices are spread over. Default: %(default)s")
    parser.add_argument("--seed", type=int, default=None,
                        help="Random seed; the same seed gives the same lab and traffic. "
                             "Default: a random one")
    parser.add_argument("--duration", type=float, default=0,
                        help="Seconds of traffic, counted from the first subscriber (or 10 s "
                             "without one); 0 (default) runs until Ctrl-C or SIGTERM.")
    parser.add_argument("--topic-prefix", default=DEFAULT_PREFIX,
                        help="Topic prefix, LAVA's EVENT_TOPIC. Default: %(default)s")
    args = parser.parse_args(argv)
    if (args.devices < 1 or args.workers < 1 or not 0 <= args.rate < float("inf")
            or not 0 < args.speed <= SimLab.MAX_PACE):
        parser.error(f"--devices and --workers must be >= 1, --rate a finite number >= 0 and "
                     f"--speed above 0 and at most {SimLab.MAX_PACE:g}")
    return args


def main(argv=None):
    """Run the load generator; returns the exit status."""
    import zmq  # plain zmq: the CLI is not green-threaded

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    lab = SimLab(random.Random(seed), args.devices, args.workers,
                 start=dt.datetime.now(dt.timezone.utc), pace=1.0 if args.rate else args.speed)
    publisher = LabPublisher(lab, args.bind, zmq, time.sleep, rate=args.rate or None,
                             prefix=args.topic_prefix)
    stopper = _StopAndReport(publisher)
    signal.signal(signal.SIGTERM, stopper.request_stop)
    log.info("publishing a lab of %d devices (seed %d) on %s; waiting for a subscriber",
             args.devices, seed, publisher.endpoint)
    try:
        publisher.run(duration=args.duration or None, stop=stopper)
    except KeyboardInterrupt:
        log.info("interrupted")
    finally:
        publisher.close()
    log.info("sent %d messages, %d roll call(s) included", publisher.sent, publisher.roll_calls)
    return 0


